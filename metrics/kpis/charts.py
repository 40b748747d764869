"""The KPI trend chart (Plotly, built server-side like metrics.charts) and its data-table twin
(a metrics.exports.Table, so the page's table and the CSV download are the same rows).

The figure draws the measurements as a line over their period starts, the target as a
dashed line, and the amber and red bands as shaded areas on the worse side of each
threshold (below them when higher is better, above them when lower is better), so a point
in a band is exactly a value with that status (metrics.kpis.rag). The y axis is fixed to the
values, target and thresholds plus a margin, so the bands reach the plot's edge.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from metrics.charts import BASE_LAYOUT, CONFIG, PALETTE, figure_json, sparkline_svg
from metrics.exports import Column, Row, Table
from metrics.kpis import periods
from metrics.kpis.rag import HIGHER_IS_BETTER, kpi_status
from metrics.kpis.text import instant_text, number_text
from metrics.models import KPI, KPIMeasurement

__all__ = ["figure_json", "kpi_sparkline", "kpi_trend_figure", "kpi_trend_table"]

BAND_COLORS = {"amber": "rgba(240, 180, 41, 0.16)", "red": "rgba(186, 37, 37, 0.13)"}
STATUS_COLORS = {"green": "#2f8132", "amber": "#de911d", "red": "#ba2525", "grey": "#9aa5b1"}


def _float(value: Decimal) -> float:
    return float(value)


def _y_range(kpi: KPI, values: Sequence[Decimal]) -> tuple[float, float]:
    figures = [float(v) for v in values] + [
        float(kpi.target),
        float(kpi.amber_threshold),
        float(kpi.red_threshold),
    ]
    low, high = min(figures), max(figures)
    span = high - low or abs(high) or 1.0
    return low - 0.15 * span, high + 0.15 * span


def _band(y0: float, y1: float, color: str) -> dict[str, Any]:
    return {
        "type": "rect",
        "xref": "paper",
        "yref": "y",
        "x0": 0,
        "x1": 1,
        "y0": y0,
        "y1": y1,
        "fillcolor": color,
        "line": {"width": 0},
        "layer": "below",
    }


def kpi_trend_figure(kpi: KPI, measurements: Sequence[KPIMeasurement]) -> dict[str, Any]:
    """The trend of `measurements` (oldest first) with the target line and the bands."""
    x = [m.period_start.isoformat() for m in measurements]
    values = [m.value for m in measurements]
    low, high = _y_range(kpi, values)
    amber, red = float(kpi.amber_threshold), float(kpi.red_threshold)
    unit = f" {kpi.unit}" if kpi.unit else ""
    if kpi.direction == HIGHER_IS_BETTER:
        shapes = [_band(red, amber, BAND_COLORS["amber"]), _band(low, red, BAND_COLORS["red"])]
    else:
        shapes = [_band(amber, red, BAND_COLORS["amber"]), _band(red, high, BAND_COLORS["red"])]
    statuses = [
        kpi_status(
            direction=kpi.direction,
            value=m.value,
            amber_threshold=kpi.amber_threshold,
            red_threshold=kpi.red_threshold,
        )
        for m in measurements
    ]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": kpi.name,
            "x": x,
            "y": [_float(v) for v in values],
            "line": {"color": PALETTE["accent"], "width": 2},
            "marker": {"size": 8, "color": [STATUS_COLORS[s] for s in statuses]},
            "customdata": statuses,
            "hovertemplate": f"%{{x}}: %{{y}}{unit} (%{{customdata}})<extra></extra>",
        }
    ]
    if x:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"Target {number_text(kpi.target)}{unit}",
                "x": [x[0], x[-1]] if len(x) > 1 else [x[0], x[0]],
                "y": [float(kpi.target)] * 2,
                "line": {"color": PALETTE["target"], "dash": "dash", "width": 1.5},
                "hovertemplate": f"Target {number_text(kpi.target)}{unit}<extra></extra>",
            }
        )
    layout = copy.deepcopy(BASE_LAYOUT)
    layout["meta"] = {
        "title": f"{kpi.name} trend",
        "amber_threshold": amber,
        "red_threshold": red,
        "target": float(kpi.target),
    }
    layout["yaxis"] = {
        **layout["yaxis"],
        "range": [low, high],
        "rangemode": "normal",
        "title": {"text": kpi.unit or kpi.name},
    }
    layout["xaxis"] = {**layout["xaxis"], "type": "date", "title": {"text": "Period start"}}
    layout["shapes"] = shapes
    config = copy.deepcopy(CONFIG)
    config["toImageButtonOptions"] = {"filename": f"kpi-{kpi.pk}-trend"}
    return {"data": data, "layout": layout, "config": config}


def kpi_trend_table(kpi: KPI, measurements: Sequence[KPIMeasurement]) -> Table:
    """One row per measurement, oldest first: what the chart draws, spelled out."""
    scope = kpi.project.key if kpi.project_id else kpi.portfolio.name
    unit = f" ({kpi.unit})" if kpi.unit else ""
    rows = []
    for m in measurements:
        status = kpi_status(
            direction=kpi.direction,
            value=m.value,
            amber_threshold=kpi.amber_threshold,
            red_threshold=kpi.red_threshold,
        )
        rows.append(
            Row(
                cells=(
                    m.period_start.isoformat(),
                    periods.period_label(kpi.cadence, m.period_start),
                    number_text(m.value),
                    status,
                    number_text(kpi.target),
                    m.get_source_display(),
                    m.entered_by.get_username() if m.entered_by_id else "system",
                    instant_text(m.entered_at),
                    str(m.version),
                    m.note,
                ),
                highlighted=status == "red",
            )
        )
    return Table(
        name=f"{scope} KPI {kpi.name}",
        caption=(
            f"{kpi.name} of {scope} per period: value{unit}, status against the amber "
            f"({number_text(kpi.amber_threshold)}) and red ({number_text(kpi.red_threshold)}) "
            f"thresholds, target {number_text(kpi.target)}"
        ),
        columns=(
            Column("Period start"),
            Column("Period"),
            Column(f"Value{unit}", numeric=True),
            Column("Status"),
            Column("Target", numeric=True),
            Column("Source"),
            Column("Entered by"),
            Column("Entered at"),
            Column("Version", numeric=True),
            Column("Note"),
        ),
        rows=tuple(rows),
    )


def kpi_sparkline(kpi: KPI, measurements: Sequence[KPIMeasurement]) -> str:
    """The last values as a tiny inline SVG for the KPI table (metrics.charts)."""
    return sparkline_svg(
        [m.value for m in measurements[-12:]],
        label=f"{kpi.name}, last {min(len(measurements), 12)} values",
    )
