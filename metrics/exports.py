"""Rows of every chart: the data-table twin on the page and the CSV download, from one source.

Each `*_table` function turns a selector result into a `Table` of already formatted strings.
The template renders `Table.rows` as the chart's <table>, and `table_csv` writes the very same
cells, so what a user reads under a chart and what they download can never disagree. Numbers
are formatted once, here: points without trailing zeros, days and ratios with two decimals,
dates in ISO 8601 (sortable in a spreadsheet), instants in UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

from metrics.selectors import (
    Burndown,
    CycleTimeReport,
    EpicRank,
    FlowDay,
    HowManyForecast,
    ProjectDashboardRow,
    SprintFigures,
    WeekThroughput,
    WhenForecast,
    WipAging,
)

NUMBER = re.compile(r"^-?\d+(\.\d+)?%?$")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    cells: tuple[str, ...]
    highlighted: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    """A chart's data: what the page shows under it and what its CSV link downloads."""

    name: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(column.label for column in self.columns)

    @property
    def body_html(self) -> SafeString:
        """The <tbody> rows, every cell escaped. Built in Python, with the standard library's
        escaping and one join, because a table of a few hundred rows costs thousands of
        template nodes (or format_html calls), the largest share of a dashboard's server time
        on large projects."""
        opening = tuple(
            '<td class="numeric">' if column.numeric else "<td>" for column in self.columns
        )
        lines = []
        for row in self.rows:
            cells = "".join(
                f"{start}{escape(cell)}</td>"
                for start, cell in zip(opening, row.cells, strict=True)
            )
            lines.append(
                f'<tr class="highlighted">{cells}</tr>' if row.highlighted else f"<tr>{cells}</tr>"
            )
        return mark_safe("\n".join(lines))  # noqa: S308 - every cell escaped above

    @property
    def filename(self) -> str:
        return f"{slugify(self.name) or 'export'}.csv"

    def __bool__(self) -> bool:
        return bool(self.rows)


# --- Formatting -------------------------------------------------------------------------------


def points(value: Decimal | float | int | None) -> str:
    """Story points as typed: 5, 2.5, 0; empty for no value."""
    if value is None:
        return ""
    normalized = Decimal(value).normalize()
    return format(normalized, "f")


def decimal2(value: float | Decimal | None) -> str:
    return "" if value is None else f"{float(value):.2f}"


def iso_date(value: dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def utc_instant(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _table(
    name: str,
    caption: str,
    columns: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[str]] | Sequence[Row],
) -> Table:
    built = tuple(row if isinstance(row, Row) else Row(cells=tuple(row)) for row in rows)
    return Table(
        name=name,
        caption=caption,
        columns=tuple(Column(label, numeric) for label, numeric in columns),
        rows=built,
    )


# --- Project dashboard ------------------------------------------------------------------------


def burndown_table(burndown: Burndown, *, project_key: str, today: dt.date | None = None) -> Table:
    """One row per day of the sprint; future days of an active sprint have no remaining yet
    (as in the chart)."""
    return _table(
        f"{project_key} burndown {burndown.name}",
        f"Burndown of {burndown.name}: story points remaining per day, ideal line and scope "
        f"changes (days in {burndown.time_zone})",
        [
            ("Day", False),
            ("Remaining", True),
            ("Ideal", True),
            ("Added", True),
            ("Removed", True),
            ("Re-estimated", True),
        ],
        [
            (
                iso_date(day.day),
                "" if today is not None and day.day > today else points(day.remaining),
                decimal2(day.ideal),
                points(day.added),
                points(day.removed),
                points(day.reestimated),
            )
            for day in burndown.days
        ],
    )


def velocity_table(sprints: Sequence[SprintFigures], *, project_key: str) -> Table:
    return _table(
        f"{project_key} velocity",
        "Committed and completed story points per sprint, say/do ratio and rolling velocity",
        [
            ("Sprint", False),
            ("State", False),
            ("Start", False),
            ("Close", False),
            ("Committed", True),
            ("Completed", True),
            ("Say/do", True),
            ("Rolling velocity", True),
            ("Added", True),
            ("Removed", True),
        ],
        [
            (
                sprint.name,
                sprint.state,
                utc_instant(sprint.start),
                utc_instant(sprint.close),
                points(sprint.committed_points),
                points(sprint.completed_points),
                decimal2(sprint.say_do),
                decimal2(sprint.rolling_velocity),
                points(sprint.added_points),
                points(sprint.removed_points),
            )
            for sprint in sprints
        ],
    )


def cycle_time_table(report: CycleTimeReport, *, project_key: str) -> Table:
    return _table(
        f"{project_key} cycle time {report.start} {report.end}",
        f"Cycle and lead time of the items done from {report.start} to {report.end} "
        "(end excluded), in days",
        [
            ("Item", False),
            ("Started", False),
            ("Done", False),
            ("Cycle time (days)", True),
            ("Lead time (days)", True),
        ],
        [
            (
                item.key,
                utc_instant(item.started_at),
                utc_instant(item.done_at),
                decimal2(item.cycle_days),
                decimal2(item.lead_days),
            )
            for item in report.items
        ],
    )


def throughput_table(weeks: Sequence[WeekThroughput], *, project_key: str, period: str) -> Table:
    return _table(
        f"{project_key} throughput {period}",
        "Items done per ISO week (labelled by its Monday), weeks with none included",
        [("Week (Monday)", False), ("Items done", True)],
        [(iso_date(week.week_start), str(week.count)) for week in weeks],
    )


def cumulative_flow_table(days: Sequence[FlowDay], *, project_key: str, period: str) -> Table:
    return _table(
        f"{project_key} cumulative flow {period}",
        "Items in each status category at the end of each day",
        [("Day", False), ("To do", True), ("In progress", True), ("Done", True)],
        [(iso_date(day.day), str(day.todo), str(day.in_progress), str(day.done)) for day in days],
    )


def wip_aging_table(aging: WipAging, *, project_key: str) -> Table:
    return _table(
        f"{project_key} aging wip",
        f"Items in progress at {utc_instant(aging.now)}, oldest first, with their age in days",
        [
            ("Item", False),
            ("Title", False),
            ("Status", False),
            ("Started", False),
            ("Age (days)", True),
            ("Points", True),
        ],
        [
            (
                item.key,
                item.title,
                item.status,
                utc_instant(item.started_at),
                decimal2(item.age_days),
                points(item.story_points),
            )
            for item in sorted(aging.items, key=lambda item: -item.age_days)
        ],
    )


def forecast_table(
    when: WhenForecast, how_many: HowManyForecast | None, *, project_key: str
) -> Table:
    """Both Monte Carlo answers with their confidence; an unavailable answer has no rows (its
    reason is shown instead)."""
    rows: list[tuple[str, ...]] = []
    if when.available:
        for percent, date, days in (
            (50, when.p50_date, when.p50_days),
            (85, when.p85_date, when.p85_days),
            (95, when.p95_date, when.p95_days),
        ):
            rows.append(
                (
                    f"When will {when.remaining} open items be done?",
                    f"{percent}%",
                    iso_date(date),
                    str(days),
                    str(when.remaining),
                )
            )
    if how_many is not None and how_many.available:
        for percent, count in ((50, how_many.p50), (85, how_many.p85), (95, how_many.p95)):
            rows.append(
                (
                    f"How many items by {how_many.until}?",
                    f"{percent}%",
                    iso_date(how_many.until),
                    str(how_many.days),
                    str(count),
                )
            )
    return _table(
        f"{project_key} forecast",
        f"Monte Carlo forecasts ({when.trials} trials, seed {when.seed}) from the daily "
        f"throughput of {when.history_start} to {when.history_end} (today excluded)",
        [
            ("Question", False),
            ("Confidence", True),
            ("Date", False),
            ("Days from today", True),
            ("Items", True),
        ],
        rows,
    )


def epic_table(
    epics: Sequence[EpicRank], *, portfolio_name: str, project_key: str | None = None
) -> Table:
    """The portfolio's open epics by WSJF; rows of `project_key`'s epics are highlighted."""
    return _table(
        f"{portfolio_name} epics by wsjf",
        f"Open epics of {portfolio_name} ranked by WSJF = cost of delay / job size",
        [
            ("Position", True),
            ("Epic", False),
            ("Title", False),
            ("Status", False),
            ("Project", False),
            ("Business value", True),
            ("Time criticality", True),
            ("Risk reduction", True),
            ("Cost of delay", True),
            ("Job size", True),
            ("WSJF", True),
        ],
        [
            Row(
                cells=(
                    str(epic.position),
                    epic.key,
                    epic.title,
                    epic.status,
                    epic.project_key or "",
                    str(epic.business_value),
                    str(epic.time_criticality),
                    str(epic.risk_reduction),
                    str(epic.cost_of_delay),
                    str(epic.job_size),
                    decimal2(epic.wsjf),
                ),
                highlighted=project_key is not None and epic.project_key == project_key,
            )
            for epic in epics
        ],
    )


# --- Portfolio dashboard ------------------------------------------------------------------------


def health_reasons(row: ProjectDashboardRow) -> tuple[str, ...]:
    """The sentences that explain a project's health: the rules that set its status, or,
    for a green project (no rule fired), every rule's passing sentence."""
    return tuple(reason.sentence for reason in (row.health.fired or row.health.reasons))


def portfolio_table(rows: Sequence[ProjectDashboardRow], *, portfolio_name: str) -> Table:
    """The portfolio dashboard's rows, in the order and with the filters the page shows,
    with every figure behind its badges and sparklines spelled out."""
    return _table(
        f"{portfolio_name} projects",
        f"Projects of {portfolio_name}: health, velocity, say/do, cycle time, throughput, "
        "forecast and open risks",
        [
            ("Project", False),
            ("Name", False),
            ("Health", False),
            ("Health reasons", False),
            ("Velocities (oldest first)", False),
            ("Last say/do", True),
            ("Cycle time p85 (days)", True),
            ("Throughput per week (oldest first)", False),
            ("Items done", True),
            ("Forecast 50%", False),
            ("Forecast 85%", False),
            ("Target date", False),
            ("Open items", True),
            ("Open risks", True),
        ],
        [
            (
                row.key,
                row.name,
                row.health.label,
                " ".join(health_reasons(row)),
                " ".join(points(value) for value in row.velocities),
                decimal2(row.last_say_do),
                decimal2(row.cycle_time_p85),
                " ".join(str(week.count) for week in row.throughput_weeks),
                str(row.throughput_total),
                iso_date(row.forecast.p50_date),
                iso_date(row.forecast.p85_date),
                iso_date(row.target_date),
                str(row.open_items),
                str(row.risk_count),
            )
            for row in rows
        ],
    )


# --- CSV --------------------------------------------------------------------------------------


def _csv_cell(value: str) -> str:
    """Text that a spreadsheet would run as a formula (=, +, -, @ first) gets a leading
    apostrophe; numbers such as -3 are left alone. Only free text (titles) can trigger it."""
    if value.startswith(FORMULA_PREFIXES) and not NUMBER.match(value):
        return f"'{value}"
    return value


def table_csv(table: Table) -> str:
    """The table as CSV: the header, then exactly the rows the page shows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([_csv_cell(cell) for cell in row.cells])
    return buffer.getvalue()
