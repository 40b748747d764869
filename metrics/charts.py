"""Plotly figures of the flow metrics, built server-side from selector results.

Every builder is a pure function: a selector's frozen dataclasses in, a plain JSON-ready
figure dict out (`{"data": [...], "layout": {...}, "config": {...}}`), with no database,
no clock and no network. The template embeds the figure's JSON (`figure_json`) and
static/js/charts.js hands it to the locally served plotly.js, so the numbers on screen are
the selector's numbers, with nothing recomputed in the browser.

Values are converted here, once: dates become ISO strings, Decimals become floats, so the
dicts survive `json.dumps` unchanged and tests can compare them directly. The look is shared
(BASE_LAYOUT, PALETTE, CONFIG) so every chart of the product reads the same way.

`sparkline_svg` is the exception that proves the rule: the portfolio table shows one tiny
trend per project per column, where an inline SVG is faster than a Plotly graph and needs no
JavaScript at all.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from metrics.selectors import (
    Burndown,
    CycleTimeReport,
    EpicRank,
    FlowDay,
    HowManyForecast,
    SprintFigures,
    WeekThroughput,
    WhenForecast,
    WipAging,
)

Figure = dict[str, Any]

PALETTE = {
    "accent": "#1d4ed8",
    "accent_light": "#93c5fd",
    "ideal": "#9aa5b1",
    "todo": "#cbd2d9",
    "in_progress": "#f0b429",
    "done": "#2f8132",
    "added": "#3ebd93",
    "removed": "#e66a6a",
    "reestimated": "#a368fc",
    "p50": "#2f8132",
    "p85": "#de911d",
    "p95": "#ba2525",
    "target": "#102a43",
    "text": "#1f2933",
    "grid": "#e4e7eb",
}

PERCENTILE_COLORS = {50: PALETTE["p50"], 85: PALETTE["p85"], 95: PALETTE["p95"]}

CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
}

FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'

BASE_LAYOUT: dict[str, Any] = {
    "autosize": True,
    "height": 320,
    "margin": {"l": 56, "r": 16, "t": 40, "b": 48},
    "font": {"family": FONT_FAMILY, "size": 12, "color": PALETTE["text"]},
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "legend": {"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
    "xaxis": {"gridcolor": PALETTE["grid"], "zeroline": False, "automargin": True},
    "yaxis": {
        "gridcolor": PALETTE["grid"],
        "zeroline": True,
        "rangemode": "tozero",
        "automargin": True,
    },
    "hoverlabel": {"font": {"family": FONT_FAMILY}},
}


# --- Helpers ----------------------------------------------------------------------------------


def _number(value: Decimal | float | int | None) -> float | None:
    """JSON-safe number: Decimals become floats (Plotly draws floats), None stays a gap."""
    if value is None:
        return None
    return float(value)


def _date(value: dt.date) -> str:
    return value.isoformat()


def _layout(title: str, **overrides: Any) -> dict[str, Any]:
    """The shared layout; nested dicts in `overrides` are merged one level. The page shows
    the title as the chart's heading, so the plot carries it only as `meta` (read by tests
    and tools) instead of drawing it twice."""
    layout = copy.deepcopy(BASE_LAYOUT)
    layout["meta"] = {"title": title}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> Figure:
    config = copy.deepcopy(CONFIG)
    # "Download plot as PNG" names the file after the chart.
    config["toImageButtonOptions"] = {"filename": _slug(layout["meta"]["title"])}
    return {"data": data, "layout": layout, "config": config}


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _horizontal_line(
    *, x: Sequence[str], value: float, name: str, color: str, dash: str = "dash"
) -> dict[str, Any]:
    """A constant line drawn as a trace over `x` (first and last), so it has a legend entry
    and a hover label, which a layout shape has not."""
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": [x[0], x[-1]],
        "y": [value, value],
        "line": {"color": color, "dash": dash, "width": 1.5},
        "hovertemplate": f"{name}<extra></extra>",
    }


def _days(value: float) -> str:
    return f"{value:.1f} d"


def figure_json(figure: Figure) -> str:
    """The figure as compact JSON for the template's data-plotly attribute (the template's
    autoescaping makes it safe inside the attribute)."""
    return json.dumps(figure, separators=(",", ":"), allow_nan=False)


# --- Project dashboard ------------------------------------------------------------------------


def burndown_figure(burndown: Burndown, *, today: dt.date | None = None) -> Figure:
    """Remaining points per day against the ideal line, with the day's scope changes as bars
    (added up, removed down, re-estimates up or down), so scope change is visible instead of
    hidden in the line. Days after `today` (an active sprint) have no remaining point yet."""
    days = [_date(day.day) for day in burndown.days]
    remaining = [
        None if today is not None and day.day > today else _number(day.remaining)
        for day in burndown.days
    ]
    data = [
        {
            "type": "bar",
            "name": "Scope added",
            "x": days,
            "y": [_number(day.added) for day in burndown.days],
            "marker": {"color": PALETTE["added"]},
            "opacity": 0.75,
            "hovertemplate": "%{x}: +%{y} points added<extra></extra>",
        },
        {
            "type": "bar",
            "name": "Scope removed",
            "x": days,
            "y": [-float(day.removed) for day in burndown.days],
            "marker": {"color": PALETTE["removed"]},
            "opacity": 0.75,
            "hovertemplate": "%{x}: %{y} points removed<extra></extra>",
        },
        {
            "type": "bar",
            "name": "Re-estimated",
            "x": days,
            "y": [_number(day.reestimated) for day in burndown.days],
            "marker": {"color": PALETTE["reestimated"]},
            "opacity": 0.75,
            "hovertemplate": "%{x}: %{y} points re-estimated<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Ideal",
            "x": days,
            "y": [round(day.ideal, 2) for day in burndown.days],
            "line": {"color": PALETTE["ideal"], "dash": "dash"},
            "hovertemplate": "%{x}: ideal %{y}<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Remaining",
            "x": days,
            "y": remaining,
            "line": {"color": PALETTE["accent"], "width": 3},
            "hovertemplate": "%{x}: %{y} points remaining<extra></extra>",
        },
    ]
    layout = _layout(
        f"Burndown: {burndown.name}",
        barmode="relative",
        xaxis={"type": "date", "title": {"text": f"Day ({burndown.time_zone})"}},
        yaxis={"title": {"text": "Story points"}, "rangemode": "normal"},
    )
    return _figure(data, layout)


def velocity_figure(sprints: Sequence[SprintFigures]) -> Figure:
    """Committed against completed points per sprint, with the rolling velocity line."""
    names = [sprint.name for sprint in sprints]
    say_do = ["—" if sprint.say_do is None else f"{sprint.say_do:.0%}" for sprint in sprints]
    data = [
        {
            "type": "bar",
            "name": "Committed",
            "x": names,
            "y": [_number(sprint.committed_points) for sprint in sprints],
            "marker": {"color": PALETTE["accent_light"]},
            "hovertemplate": "%{x}: %{y} points committed<extra></extra>",
        },
        {
            "type": "bar",
            "name": "Completed",
            "x": names,
            "y": [_number(sprint.completed_points) for sprint in sprints],
            "customdata": say_do,
            "marker": {"color": PALETTE["accent"]},
            "hovertemplate": "%{x}: %{y} points completed (say/do %{customdata})<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Rolling velocity",
            "x": names,
            "y": [_number(sprint.rolling_velocity) for sprint in sprints],
            "line": {"color": PALETTE["p85"], "width": 2},
            "hovertemplate": "%{x}: rolling velocity %{y:.1f}<extra></extra>",
        },
    ]
    layout = _layout(
        "Velocity: committed and completed points",
        barmode="group",
        xaxis={"type": "category"},
        yaxis={"title": {"text": "Story points"}},
    )
    return _figure(data, layout)


def cycle_time_figure(report: CycleTimeReport) -> Figure:
    """Each item done in the period at its done time and cycle time, with the p50/p85/p95
    lines over the period, as in ActionableAgile's cycle-time scatterplot."""
    period = [_date(report.start), _date(report.end)]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "Items",
            "x": [item.done_at.isoformat() for item in report.items],
            "y": [round(item.cycle_days, 2) for item in report.items],
            "text": [item.key for item in report.items],
            "marker": {"color": PALETTE["accent"], "size": 7, "opacity": 0.7},
            "hovertemplate": "%{text}: %{y:.1f} days (done %{x|%Y-%m-%d})<extra></extra>",
        }
    ]
    for percent, value in ((50, report.p50), (85, report.p85), (95, report.p95)):
        if value is not None:
            data.append(
                _horizontal_line(
                    x=period,
                    value=round(value, 2),
                    name=f"{percent}%: {_days(value)}",
                    color=PERCENTILE_COLORS[percent],
                )
            )
    layout = _layout(
        f"Cycle time of {report.count} items done {report.start} to {report.end}",
        xaxis={"type": "date", "title": {"text": "Done"}, "range": period},
        yaxis={"title": {"text": "Cycle time (days)"}},
    )
    return _figure(data, layout)


def throughput_figure(weeks: Sequence[WeekThroughput]) -> Figure:
    """Items done per ISO week as a run chart (zero weeks included), with its median line."""
    labels = [_date(week.week_start) for week in weeks]
    counts = [week.count for week in weeks]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Items done",
            "x": labels,
            "y": counts,
            "line": {"color": PALETTE["accent"], "width": 2},
            "hovertemplate": "Week of %{x}: %{y} items<extra></extra>",
        }
    ]
    if counts:
        ordered = sorted(counts)
        middle = len(ordered) // 2
        median = (
            ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        )
        data.append(
            _horizontal_line(
                x=labels, value=median, name=f"Median: {median:g}", color=PALETTE["ideal"]
            )
        )
    yaxis: dict[str, Any] = {"title": {"text": "Items"}}
    if max(counts, default=0) < 10:
        yaxis["dtick"] = 1  # whole items: no 0.5 ticks on a quiet team's chart
    layout = _layout(
        "Throughput: items done per week",
        xaxis={"type": "date", "title": {"text": "Week (Monday)"}},
        yaxis=yaxis,
    )
    return _figure(data, layout)


def cumulative_flow_figure(days: Sequence[FlowDay]) -> Figure:
    """Items per category at the end of each day, stacked with done at the bottom (the
    conventional cumulative flow diagram: bands widening upwards are growing queues)."""
    labels = [_date(day.day) for day in days]
    bands = (
        ("Done", "done", PALETTE["done"]),
        ("In progress", "in_progress", PALETTE["in_progress"]),
        ("To do", "todo", PALETTE["todo"]),
    )
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": name,
            "x": labels,
            "y": [getattr(day, field) for day in days],
            "stackgroup": "flow",
            "line": {"color": color, "width": 1},
            "fillcolor": color,
            "hovertemplate": f"%{{x}}: %{{y}} {name.lower()}<extra></extra>",
        }
        for name, field, color in bands
    ]
    layout = _layout(
        "Cumulative flow",
        hovermode="x unified",
        xaxis={"type": "date", "title": {"text": "Day"}},
        yaxis={"title": {"text": "Items"}},
    )
    return _figure(data, layout)


def wip_aging_figure(aging: WipAging) -> Figure:
    """Each item in progress by status and age, against the cycle-time percentiles of recent
    done items: a dot above the 85% line is older than 85% of finished work ever got."""
    thresholds = [
        (percent, value)
        for percent, value in ((50, aging.cycle_p50), (85, aging.cycle_p85), (95, aging.cycle_p95))
        if value is not None
    ]

    def color(age: float) -> str:
        if aging.cycle_p85 is not None and age > aging.cycle_p85:
            return PALETTE["p95"]
        if aging.cycle_p50 is not None and age > aging.cycle_p50:
            return PALETTE["p85"]
        return PALETTE["p50"]

    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "Items in progress",
            "x": [item.status for item in aging.items],
            "y": [round(item.age_days, 2) for item in aging.items],
            "text": [item.key for item in aging.items],
            "marker": {"color": [color(item.age_days) for item in aging.items], "size": 10},
            "hovertemplate": "%{text} (%{x}): %{y:.1f} days old<extra></extra>",
        }
    ]
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": round(value, 2),
            "y1": round(value, 2),
            "line": {"color": PERCENTILE_COLORS[percent], "dash": "dash", "width": 1.5},
        }
        for percent, value in thresholds
    ]
    annotations = [
        {
            "xref": "paper",
            "x": 1,
            "xanchor": "right",
            "yref": "y",
            "y": round(value, 2),
            "yanchor": "bottom",
            "text": f"{percent}%: {_days(value)}",
            "showarrow": False,
            "font": {"color": PERCENTILE_COLORS[percent], "size": 11},
        }
        for percent, value in thresholds
    ]
    layout = _layout(
        f"Aging work in progress: {aging.count} items",
        shapes=shapes,
        annotations=annotations,
        showlegend=False,
        xaxis={"type": "category", "title": {"text": "Status"}},
        yaxis={"title": {"text": "Age (days)"}},
    )
    return _figure(data, layout)


def _vertical_line(when: str, label: str, color: str, *, row: int, dash: str) -> tuple[dict, dict]:
    """A dated vertical line with its label; `row` staggers labels of close dates."""
    shape = {
        "type": "line",
        "xref": "x",
        "x0": when,
        "x1": when,
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "line": {"color": color, "dash": dash, "width": 1.5},
    }
    annotation = {
        "xref": "x",
        "x": when,
        "yref": "paper",
        "y": 1 - 0.09 * row,
        "yanchor": "top",
        "xanchor": "left",
        "bgcolor": "rgba(255,255,255,0.85)",
        "text": f"{label}: {when}",
        "showarrow": False,
        "font": {"color": color, "size": 11},
    }
    return shape, annotation


def forecast_when_figure(
    forecast: WhenForecast,
    *,
    distribution: Sequence[tuple[int, int]] | None = None,
    target_date: dt.date | None = None,
) -> Figure:
    """When the open items will be done, with the target date (if any) as a dotted line: a
    mark right of it is late.

    With the simulation's `distribution` ((days from today, trials) pairs) it is the
    histogram of finishing dates with the 50/85/95% marks as lines. Without it (the "when"
    selector reports the three percentiles only), each confidence level is a bar from today
    to its date: the chart shows exactly the numbers the forecast has, and no invented
    curve between them."""
    marks = [
        (percent, date)
        for percent, date in (
            (50, forecast.p50_date),
            (85, forecast.p85_date),
            (95, forecast.p95_date),
        )
        if date is not None
    ]
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    lines: list[tuple[str, str, str, str]] = []
    if distribution:
        lines = [
            (f"{percent}%", _date(date), PERCENTILE_COLORS[percent], "dash")
            for percent, date in marks
        ]
    if target_date is not None:
        lines.append(("Target", _date(target_date), PALETTE["target"], "dot"))
    for row, (label, when, color, dash) in enumerate(lines):
        shape, annotation = _vertical_line(when, label, color, row=row, dash=dash)
        shapes.append(shape)
        annotations.append(annotation)
    today = _date(forecast.today)
    if distribution:
        total = sum(trials for _days, trials in distribution) or 1
        data: list[dict[str, Any]] = [
            {
                "type": "bar",
                "name": "Trials finishing that day",
                "x": [_date(forecast.today + dt.timedelta(days=days)) for days, _ in distribution],
                "y": [round(100 * trials / total, 3) for _, trials in distribution],
                "marker": {"color": PALETTE["accent_light"]},
                "hovertemplate": "%{x}: %{y:.2f}% of trials<extra></extra>",
            }
        ]
        yaxis: dict[str, Any] = {"title": {"text": "Share of trials (%)"}}
    else:
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers+text",
                "name": f"{percent}% sure",
                "x": [today, _date(date)],
                "y": [f"{percent}% sure", f"{percent}% sure"],
                "text": ["", f"{date:%-d %b %Y}"],
                "textposition": "middle right",
                "line": {"color": PERCENTILE_COLORS[percent], "width": 10},
                "marker": {"color": PERCENTILE_COLORS[percent], "size": [0, 14]},
                "cliponaxis": False,
                "hovertemplate": f"{percent}% of trials done by %{{x|%Y-%m-%d}}<extra></extra>",
            }
            for percent, date in marks
        ]
        yaxis = {"type": "category", "rangemode": "normal", "autorange": "reversed"}
    layout = _layout(
        f"When will the {forecast.remaining} open items be done?",
        shapes=shapes,
        annotations=annotations,
        showlegend=False,
        margin={"r": 96},
        xaxis={"type": "date", "title": {"text": f"Done by (from today, {today})"}},
        yaxis=yaxis,
    )
    return _figure(data, layout)


def forecast_how_many_figure(forecast: HowManyForecast) -> Figure:
    """How many items at least 50/85/95% of trials completed by the date, as three bars."""
    percents = [50, 85, 95]
    counts = [forecast.p50, forecast.p85, forecast.p95]
    data = [
        {
            "type": "bar",
            "name": "Items",
            "x": [f"{percent}% sure" for percent in percents],
            "y": counts,
            "text": counts,
            "textposition": "auto",
            "marker": {"color": [PERCENTILE_COLORS[percent] for percent in percents]},
            "hovertemplate": "%{x}: at least %{y} items<extra></extra>",
        }
    ]
    layout = _layout(
        f"How many items by {forecast.until}?",
        showlegend=False,
        height=260,
        xaxis={"type": "category"},
        yaxis={"title": {"text": "Items"}},
    )
    return _figure(data, layout)


def epic_wsjf_figure(epics: Sequence[EpicRank], *, project_key: str | None = None) -> Figure:
    """WSJF of the portfolio's open epics, highest first; the project's own epics stand out."""
    labels = [epic.key for epic in epics]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": "WSJF",
            "y": labels,
            "x": [_number(epic.wsjf) for epic in epics],
            "text": [epic.title for epic in epics],
            "marker": {
                "color": [
                    PALETTE["accent"] if epic.project_key == project_key else PALETTE["ideal"]
                    for epic in epics
                ]
            },
            "hovertemplate": "%{y} %{text}: WSJF %{x}<extra></extra>",
        }
    ]
    layout = _layout(
        "Epics by WSJF",
        showlegend=False,
        height=max(200, 28 * len(epics) + 96),
        yaxis={"type": "category", "autorange": "reversed", "rangemode": "normal"},
        xaxis={"title": {"text": "WSJF"}},
    )
    return _figure(data, layout)


# --- Portfolio dashboard ----------------------------------------------------------------------


def sparkline_svg(
    values: Sequence[Decimal | float | int | None],
    *,
    label: str,
    width: int = 96,
    height: int = 24,
    color: str = PALETTE["accent"],
) -> SafeString:
    """A tiny inline SVG line of `values` (None is a gap) with the last point marked, for a
    table cell. `label` is its accessible name (role="img"); the numbers themselves stay in
    the cell's text for screen readers and copy-paste. Empty input gives an empty string."""
    points = [None if value is None else float(value) for value in values]
    known = [value for value in points if value is not None]
    if not known:
        return mark_safe("")
    low, high = min(known), max(known)
    span = high - low or 1.0
    pad = 2.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)

    def y(value: float) -> float:
        return height - pad - (value - low) / span * (height - 2 * pad)

    segments: list[list[str]] = [[]]
    last: tuple[float, float] | None = None
    for index, value in enumerate(points):
        if value is None:
            segments.append([])
            continue
        x = pad + index * step if len(points) > 1 else width / 2
        segments[-1].append(f"{x:.1f},{y(value):.1f}")
        last = (x, y(value))
    polylines = "".join(
        f'<polyline points="{" ".join(segment)}" fill="none" stroke="{escape(color)}" '
        'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>'
        for segment in segments
        if segment
    )
    dot = ""
    if last is not None:
        dot = f'<circle cx="{last[0]:.1f}" cy="{last[1]:.1f}" r="2" fill="{escape(color)}"/>'
    return mark_safe(  # every interpolated text is escaped above
        f'<svg class="sparkline" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{polylines}{dot}</svg>"
    )
