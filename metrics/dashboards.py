"""The dashboards' content: query-string filters in, selector results out, each chart as a
figure with the table twin that its CSV download repeats, and the portfolio table sorted and
filtered with its sparklines.

This is the facade the pages use (portfolio.views renders the project and portfolio pages,
metrics.views the CSV downloads), so a chart's page region and its CSV are built by the same
function from the same parameters and cannot drift apart. Each `*_chart` function calls the
selectors it needs (each selector checks what the user may see, so an invisible project is a
404 here too), then the pure builders of metrics.charts and metrics.exports. No query is
written here: every number comes from metrics.selectors (or portfolio.selectors' sprint list).

Filters come from the query string and are validated here, once: an unknown or malformed
value is ignored (the default applies) rather than failing the page; only the forecast date,
which the user types, reports an error message next to its field.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse
from django.utils import timezone

from metrics import charts, exports, selectors
from metrics.exports import Table
from metrics.health import ProjectHealth, evaluate_health
from portfolio.models import Portfolio, Project, Sprint
from portfolio.selectors import sprint_list

AnyUser = AbstractBaseUser | AnonymousUser

PERIODS = (30, 90, 180)
DEFAULT_PERIOD = 90
VELOCITY_SPRINTS = 8
FORECAST_HORIZON_DAYS = 3_650
DEFAULT_FORECAST_DAYS = 28
REPORTED_SPRINT_STATES = (Sprint.State.ACTIVE, Sprint.State.CLOSED)
INTEGER = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart card: its figure (None when empty: `empty_reason` says why), the data-table
    twin and the CSV link that downloads the same rows."""

    slug: str
    title: str
    table: Table
    csv_url: str
    figure_json: str | None = None
    empty_reason: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Filters:
    """The dashboard's query string, validated. `errors` holds messages for the user."""

    sprint_id: int | None = None
    period: int = DEFAULT_PERIOD
    until: dt.date | None = None
    until_text: str = ""
    errors: Mapping[str, str] = field(default_factory=dict)

    def query(self, **overrides: object) -> str:
        """The query string of these filters (with overrides), for links and CSV URLs that
        must show exactly what the page shows."""
        values: dict[str, object] = {
            "sprint": self.sprint_id,
            "period": self.period if self.period != DEFAULT_PERIOD else None,
            "until": self.until.isoformat() if self.until else None,
        }
        values.update(overrides)
        pairs = [(key, value) for key, value in values.items() if value not in (None, "")]
        return f"?{urlencode(pairs)}" if pairs else ""


@dataclass(frozen=True, slots=True)
class Clock:
    """The project's 'now' (its snapshot instant for imported data) and its local day."""

    now: dt.datetime
    today: dt.date

    @classmethod
    def of(cls, project: Project, now: dt.datetime | None = None) -> Clock:
        instant = project.metrics_now(now or timezone.now())
        local = instant.astimezone(zoneinfo.ZoneInfo(project.time_zone))
        return cls(now=instant, today=local.date())

    def period(self, days: int) -> tuple[dt.date, dt.date]:
        """The last `days` local days, today included: [today - days + 1, today + 1)."""
        end = self.today + dt.timedelta(days=1)
        return end - dt.timedelta(days=days), end


def _small_int(text: str) -> int | None:
    """A non-negative id-sized integer in ASCII digits, else None (so "²", "1e3" or a
    5,000-digit string are ignored rather than raising)."""
    return int(text) if INTEGER.fullmatch(text) else None


def parse_filters(params: Mapping[str, str], *, clock: Clock) -> Filters:
    """Validate the dashboard's query string; bad values fall back to the defaults."""
    sprint = params.get("sprint", "")
    period = params.get("period", "")
    until_text = params.get("until", "").strip()
    errors: dict[str, str] = {}
    until = None
    if until_text:
        try:
            until = dt.date.fromisoformat(until_text)
        except ValueError:
            errors["until"] = "Enter a date as YYYY-MM-DD."
        else:
            horizon = clock.today + dt.timedelta(days=FORECAST_HORIZON_DAYS)
            if until <= clock.today:
                errors["until"] = f"Choose a date after today ({clock.today.isoformat()})."
                until = None
            elif until > horizon:
                errors["until"] = f"Choose a date before {horizon.isoformat()} (ten years)."
                until = None
    period_days = _small_int(period)
    return Filters(
        sprint_id=_small_int(sprint),
        period=period_days if period_days in PERIODS else DEFAULT_PERIOD,
        until=until,
        until_text=until_text,
        errors=errors,
    )


def _csv_url(name: str, project: Project, query: str = "") -> str:
    return reverse(f"metrics:{name}-csv", args=[project.key]) + query


# --- What several charts read --------------------------------------------------------------------


class ProjectReads:
    """The reads that several parts of the project page share, each made once per request
    and only when a part asks for it: the sprints, their figures (velocity chart and
    health), the throughput samples with the open scope (forecast chart and health) and
    burndowns (burndown chart and health's latest day of the active sprint). The page's
    health is then built from them (`snapshot`) and equals the portfolio row's."""

    def __init__(self, *, user: AnyUser, project: Project, clock: Clock) -> None:
        self.user = user
        self.project = project
        self.clock = clock
        self._burndowns: dict[int, selectors.Burndown] = {}

    @cached_property
    def sprints(self) -> list[Sprint]:
        """All of the project's sprints, planned ones too, in start order."""
        return list(sprint_list(user=self.user, project=self.project))

    @cached_property
    def sprint_figures(self) -> list[selectors.SprintFigures]:
        """The figures of the active and closed sprints, oldest first."""
        return selectors.sprint_summaries(user=self.user, project=self.project)

    @cached_property
    def history(self) -> selectors.DailyThroughput:
        return selectors.throughput_history(
            user=self.user, project=self.project, now=self.clock.now
        )

    @cached_property
    def open_scope_forecast(self) -> selectors.WhenForecast:
        """When the open items will be done: the forecast health compares with the target."""
        return selectors.open_scope_forecast(self.history)

    def burndown(self, sprint: Sprint) -> selectors.Burndown:
        if sprint.pk not in self._burndowns:
            self._burndowns[sprint.pk] = selectors.sprint_burndown(user=self.user, sprint=sprint)
        return self._burndowns[sprint.pk]

    @cached_property
    def snapshot(self) -> selectors.ProjectSnapshot:
        active = next(
            (s for s in reversed(self.sprint_figures) if s.state == Sprint.State.ACTIVE), None
        )
        sprint = next((s for s in self.sprints if active and s.pk == active.sprint_id), None)
        return selectors.project_snapshot_from(
            user=self.user,
            project=self.project,
            now=self.clock.now,
            sprints=self.sprint_figures,
            history=self.history,
            active_burndown=(self.burndown(sprint) if sprint and sprint.membership_known else None),
        )

    @cached_property
    def health(self) -> ProjectHealth:
        return evaluate_health(self.snapshot)


# --- Burndown ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BurndownRegion:
    chart: Chart
    sprints: tuple[Sprint, ...]
    sprint: Sprint | None
    notice: str = ""


def _default_sprint(sprints: Sequence[Sprint]) -> Sprint | None:
    active = [sprint for sprint in sprints if sprint.state == Sprint.State.ACTIVE]
    return (active or list(sprints) or [None])[-1]


def burndown_chart(*, reads: ProjectReads, filters: Filters) -> BurndownRegion:
    """The burndown of the chosen sprint, else of the active one, else of the last closed."""
    project = reads.project
    sprints = [sprint for sprint in reads.sprints if sprint.state in REPORTED_SPRINT_STATES]
    planned_sprints = len(reads.sprints) - len(sprints)
    chosen = next((sprint for sprint in sprints if sprint.pk == filters.sprint_id), None)
    notice = ""
    if filters.sprint_id is not None and chosen is None:
        notice = "That sprint has no burndown here; showing the current sprint instead."
    sprint = chosen or _default_sprint(sprints)
    if sprint is None:
        reason = (
            f"No sprint has started yet ({planned_sprints} planned): the burndown appears "
            "once a sprint starts."
            if planned_sprints
            else "No sprints yet: the burndown appears once a sprint starts."
        )
        empty = exports.Table(name=f"{project.key} burndown", caption="", columns=(), rows=())
        return BurndownRegion(
            chart=Chart(
                slug="burndown",
                title="Burndown",
                table=empty,
                csv_url=_csv_url("burndown", project),
                empty_reason=reason,
            ),
            sprints=tuple(sprints),
            sprint=None,
            notice=notice,
        )
    if not sprint.membership_known:
        empty = exports.Table(name=f"{project.key} burndown", caption="", columns=(), rows=())
        return BurndownRegion(
            chart=Chart(
                slug="burndown",
                title=f"Burndown: {sprint.name}",
                table=empty,
                csv_url=_csv_url("burndown", project, f"?sprint={sprint.pk}"),
                empty_reason=(
                    "The tracker gave this sprint's window but not which items were in it, so "
                    "its burndown and committed points are not defined. Its velocity counts "
                    "the points resolved inside the window."
                ),
            ),
            sprints=tuple(sprints),
            sprint=sprint,
            notice=notice,
        )
    burndown = reads.burndown(sprint)
    today = reads.clock.today if sprint.state == Sprint.State.ACTIVE else None
    table = exports.burndown_table(burndown, project_key=project.key, today=today)
    notes = (
        f"Committed at start: {exports.points(burndown.committed)} points.",
        f"Window: {exports.utc_instant(burndown.start)} to {exports.utc_instant(burndown.close)}.",
    )
    return BurndownRegion(
        chart=Chart(
            slug="burndown",
            title=f"Burndown: {burndown.name}",
            table=table,
            csv_url=_csv_url("burndown", project, f"?sprint={sprint.pk}"),
            figure_json=charts.figure_json(charts.burndown_figure(burndown, today=today)),
            notes=notes,
        ),
        sprints=tuple(sprints),
        sprint=sprint,
        notice=notice,
    )


# --- Velocity ---------------------------------------------------------------------------------


def velocity_chart(*, reads: ProjectReads, last: int = VELOCITY_SPRINTS) -> Chart:
    """Committed vs completed points of the last closed sprints, with rolling velocity."""
    project = reads.project
    closed = [sprint for sprint in reads.sprint_figures if sprint.state == Sprint.State.CLOSED][
        -last:
    ]
    table = exports.velocity_table(closed, project_key=project.key)
    if not closed:
        return Chart(
            slug="velocity",
            title="Velocity",
            table=table,
            csv_url=_csv_url("velocity", project),
            empty_reason="No closed sprint yet: velocity is measured when a sprint closes.",
        )
    latest = closed[-1]
    notes = (
        f"Rolling velocity (last {min(len(closed), selectors.ROLLING_VELOCITY_SPRINTS)} "
        f"sprints): {exports.decimal2(latest.rolling_velocity)} points.",
    )
    if latest.say_do is not None:
        notes += (f"Say/do of {latest.name}: {latest.say_do:.0%}.",)
    if not all(sprint.membership_known for sprint in closed):
        notes += (
            "Sprints without item membership (the tracker gave only their windows) show no "
            "committed bar: their velocity is the points resolved inside the window.",
        )
    return Chart(
        slug="velocity",
        title=f"Velocity of the last {len(closed)} closed sprints",
        table=table,
        csv_url=_csv_url("velocity", project),
        figure_json=charts.figure_json(charts.velocity_figure(closed)),
        notes=notes,
    )


# --- Flow: cycle time, throughput, cumulative flow ----------------------------------------------


def _period_label(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()} to {(end - dt.timedelta(days=1)).isoformat()}"


def cycle_time_chart(*, reads: ProjectReads, filters: Filters) -> Chart:
    user, project = reads.user, reads.project
    start, end = reads.clock.period(filters.period)
    report = selectors.cycle_times(user=user, project=project, start=start, end=end)
    table = exports.cycle_time_table(report, project_key=project.key)
    csv_url = _csv_url("cycle-time", project, filters.query(sprint=None, until=None))
    if not report.count:
        return Chart(
            slug="cycle-time",
            title="Cycle time",
            table=table,
            csv_url=csv_url,
            empty_reason=f"No item was completed from {_period_label(start, end)}, so there "
            "is no cycle time to plot. Try a longer period.",
        )
    notes = tuple(
        f"{percent}% of items took {value:.1f} days or less."
        for percent, value in ((50, report.p50), (85, report.p85), (95, report.p95))
        if value is not None
    )
    return Chart(
        slug="cycle-time",
        title=f"Cycle time, last {filters.period} days",
        table=table,
        csv_url=csv_url,
        figure_json=charts.figure_json(charts.cycle_time_figure(report)),
        notes=notes,
    )


def throughput_chart(*, reads: ProjectReads, filters: Filters) -> Chart:
    user, project = reads.user, reads.project
    start, end = reads.clock.period(filters.period)
    weeks = selectors.throughput(user=user, project=project, start=start, end=end)
    label = _period_label(start, end)
    table = exports.throughput_table(weeks, project_key=project.key, period=label)
    csv_url = _csv_url("throughput", project, filters.query(sprint=None, until=None))
    total = sum(week.count for week in weeks)
    if not total:
        return Chart(
            slug="throughput",
            title="Throughput",
            table=table,
            csv_url=csv_url,
            empty_reason=f"No item was completed from {label}: there is no throughput yet.",
        )
    return Chart(
        slug="throughput",
        title=f"Throughput, last {filters.period} days",
        table=table,
        csv_url=csv_url,
        figure_json=charts.figure_json(charts.throughput_figure(weeks)),
        notes=(f"{total} items done from {label}.",),
    )


def cumulative_flow_chart(*, reads: ProjectReads, filters: Filters) -> Chart:
    user, project = reads.user, reads.project
    start, end = reads.clock.period(filters.period)
    days = selectors.cumulative_flow(user=user, project=project, start=start, end=end)
    label = _period_label(start, end)
    table = exports.cumulative_flow_table(days, project_key=project.key, period=label)
    csv_url = _csv_url("cumulative-flow", project, filters.query(sprint=None, until=None))
    if not any(day.todo or day.in_progress or day.done for day in days):
        return Chart(
            slug="cumulative-flow",
            title="Cumulative flow",
            table=table,
            csv_url=csv_url,
            empty_reason=f"No work item existed from {label}: nothing flowed yet.",
        )
    return Chart(
        slug="cumulative-flow",
        title=f"Cumulative flow, last {filters.period} days",
        table=table,
        csv_url=csv_url,
        figure_json=charts.figure_json(charts.cumulative_flow_figure(days)),
    )


# --- Aging work in progress ---------------------------------------------------------------------


def wip_aging_chart(*, reads: ProjectReads) -> Chart:
    project = reads.project
    aging = selectors.wip_aging(user=reads.user, project=project, now=reads.clock.now)
    table = exports.wip_aging_table(aging, project_key=project.key)
    if not aging.count:
        return Chart(
            slug="wip-aging",
            title="Aging work in progress",
            table=table,
            csv_url=_csv_url("wip-aging", project),
            empty_reason="No item is in progress right now, so nothing is aging.",
        )
    notes: tuple[str, ...]
    if aging.cycle_p85 is None:
        notes = (
            "No item was done in the reference period, so there are no cycle-time lines "
            "to compare ages with.",
        )
    else:
        older = sum(1 for item in aging.items if item.age_days > aging.cycle_p85)
        notes = (
            f"{older} of {aging.count} items are older than 85% of the "
            f"{aging.reference_items} items done since {aging.reference_start:%Y-%m-%d} took.",
        )
    return Chart(
        slug="wip-aging",
        title=f"Aging work in progress: {aging.count} items",
        table=table,
        csv_url=_csv_url("wip-aging", project),
        figure_json=charts.figure_json(charts.wip_aging_figure(aging)),
        notes=notes,
    )


# --- Forecast -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForecastRegion:
    chart: Chart
    how_many: selectors.HowManyForecast | None
    how_many_json: str | None
    until: dt.date
    remaining: int
    late: bool


def default_until(project: Project, clock: Clock) -> dt.date:
    """The target date if it is still ahead, else four weeks from today."""
    if project.target_date and project.target_date > clock.today:
        return project.target_date
    return clock.today + dt.timedelta(days=DEFAULT_FORECAST_DAYS)


def forecast_chart(*, reads: ProjectReads, filters: Filters) -> ForecastRegion:
    """'When' for the open items (counted in the samples' query, so it is the forecast that
    health compares with the target date) and 'how many by' the chosen date, both from the
    same samples with the default recorded seed."""
    project = reads.project
    until = filters.until or default_until(project, reads.clock)
    when = reads.open_scope_forecast
    remaining = when.remaining
    how_many = selectors.how_many_forecast(reads.history, until=until)
    table = exports.forecast_table(when, how_many, project_key=project.key)
    csv_url = _csv_url("forecast", project, filters.query(sprint=None, period=None))
    how_many_json = (
        charts.figure_json(charts.forecast_how_many_figure(how_many))
        if how_many.available
        else None
    )
    late = bool(
        when.available
        and project.target_date is not None
        and when.p85_date is not None
        and when.p85_date > project.target_date
    )
    if not when.available or remaining == 0:
        reason = when.reason or "No open items: everything in this project is done."
        chart = Chart(
            slug="forecast",
            title="Forecast",
            table=table,
            csv_url=csv_url,
            empty_reason=f"Cannot forecast when the open items will be done: {reason}",
        )
    else:
        notes = (
            f"Sampled from {when.history_days} days of throughput "
            f"({when.history_completed} items done), {when.trials:,} trials, seed {when.seed}.",
        )
        chart = Chart(
            slug="forecast",
            title=f"Forecast: when will the {remaining} open items be done?",
            table=table,
            csv_url=csv_url,
            figure_json=charts.figure_json(
                charts.forecast_when_figure(
                    when, distribution=when.distribution, target_date=project.target_date
                )
            ),
            notes=notes,
        )
    return ForecastRegion(
        chart=chart,
        how_many=how_many,
        how_many_json=how_many_json,
        until=until,
        remaining=remaining,
        late=late,
    )


# --- Epics --------------------------------------------------------------------------------------


def epic_chart(*, reads: ProjectReads) -> Chart:
    """The project's portfolio's open epics by WSJF, this project's own highlighted."""
    project = reads.project
    epics = selectors.epic_ranking(user=reads.user, portfolio=project.portfolio)
    table = exports.epic_table(
        epics, portfolio_name=project.portfolio.name, project_key=project.key
    )
    if not epics:
        return Chart(
            slug="epics",
            title="Epics by WSJF",
            table=table,
            csv_url=_csv_url("epic-ranking", project),
            empty_reason=f"{project.portfolio.name} has no open epics to rank.",
        )
    own = sum(1 for row in table.rows if row.highlighted)
    return Chart(
        slug="epics",
        title=f"Epics of {project.portfolio.name} by WSJF",
        table=table,
        csv_url=_csv_url("epic-ranking", project),
        figure_json=charts.figure_json(charts.epic_wsjf_figure(epics, project_key=project.key)),
        notes=(f"{own} of {len(epics)} open epics belong to {project.key} (highlighted).",),
    )


# --- CSV downloads ------------------------------------------------------------------------------


def chart_table(*, user: AnyUser, project: Project, chart: str, params: Mapping[str, str]) -> Table:
    """The table twin of one chart for the CSV download, built exactly as the page builds
    it (same filters, same clock), so the file equals the table under the chart."""
    clock = Clock.of(project)
    filters = parse_filters(params, clock=clock)
    reads = ProjectReads(user=user, project=project, clock=clock)
    if chart == "burndown":
        return burndown_chart(reads=reads, filters=filters).chart.table
    if chart == "velocity":
        return velocity_chart(reads=reads).table
    if chart == "cycle-time":
        return cycle_time_chart(reads=reads, filters=filters).table
    if chart == "throughput":
        return throughput_chart(reads=reads, filters=filters).table
    if chart == "cumulative-flow":
        return cumulative_flow_chart(reads=reads, filters=filters).table
    if chart == "wip-aging":
        return wip_aging_chart(reads=reads).table
    if chart == "forecast":
        return forecast_chart(reads=reads, filters=filters).chart.table
    if chart == "epic-ranking":
        return epic_chart(reads=reads).table
    raise ValueError(f"Unknown chart {chart!r}.")


CSV_CHARTS = (
    "burndown",
    "velocity",
    "cycle-time",
    "throughput",
    "cumulative-flow",
    "wip-aging",
    "forecast",
    "epic-ranking",
)


# --- Page regions -------------------------------------------------------------------------------

PROJECT_REGIONS = ("burndown-chart", "flow-charts", "forecast-chart")
"""The project page's regions that filters swap on their own (partial name = DOM id)."""


def project_region(region: str, *, reads: ProjectReads, filters: Filters) -> dict[str, object]:
    """The template context of one swappable region."""
    if region == "burndown-chart":
        return {"burndown": burndown_chart(reads=reads, filters=filters)}
    if region == "flow-charts":
        return {
            "periods": PERIODS,
            "cycle_time": cycle_time_chart(reads=reads, filters=filters),
            "throughput": throughput_chart(reads=reads, filters=filters),
            "cumulative_flow": cumulative_flow_chart(reads=reads, filters=filters),
        }
    if region == "forecast-chart":
        today = reads.clock.today
        return {
            "forecast": forecast_chart(reads=reads, filters=filters),
            "forecast_min": (today + dt.timedelta(days=1)).isoformat(),
            "forecast_max": (today + dt.timedelta(days=FORECAST_HORIZON_DAYS)).isoformat(),
        }
    raise ValueError(f"Unknown region {region!r}.")


def project_dashboard(*, reads: ProjectReads, filters: Filters) -> dict[str, object]:
    """Every chart of the project page (the swappable regions and the fixed charts) and the
    project's health, which the KPI section shows."""
    context: dict[str, object] = {
        "velocity": velocity_chart(reads=reads),
        "wip_aging": wip_aging_chart(reads=reads),
        "epics_chart": epic_chart(reads=reads),
        "project_health": reads.health,
    }
    for region in PROJECT_REGIONS:
        context.update(project_region(region, reads=reads, filters=filters))
    return context


# --- Portfolio dashboard ------------------------------------------------------------------------

HEALTH_STATUSES = ("red", "amber", "green", "grey")
HEALTH_RANK = {"grey": 0, "green": 1, "amber": 2, "red": 3}
NUMERIC_COLUMNS = frozenset({"velocity", "say_do", "cycle_time", "risks"})
SEARCH_MAX_LENGTH = 60


DashboardRow = selectors.ProjectDashboardRow


def _last_velocity(row: DashboardRow) -> Any:
    return row.velocities[-1] if row.velocities else None


PORTFOLIO_SORTS: dict[str, tuple[str, Callable[[DashboardRow], Any]]] = {
    # sort parameter: (column label, key of a row; None sorts last in both directions)
    "key": ("Project", lambda row: row.key),
    "health": ("Health", lambda row: HEALTH_RANK[row.health.status]),
    "velocity": ("Velocity", _last_velocity),
    "say_do": ("Say/do", lambda row: row.last_say_do),
    "cycle_time": ("Cycle time p85", lambda row: row.cycle_time_p85),
    "throughput": ("Throughput", lambda row: row.throughput_total),
    "forecast": ("Forecast 85% vs target", lambda row: row.forecast.p85_date),
    "risks": ("Open risks", lambda row: row.risk_count),
}


@dataclass(frozen=True, slots=True)
class PortfolioFilters:
    """The portfolio table's query string, validated: unknown values are ignored."""

    sort: str = "key"
    direction: str = "asc"
    health: str = ""
    search: str = ""

    def query(self, **overrides: str) -> str:
        values = {
            "sort": self.sort if self.sort != "key" else "",
            "dir": self.direction if self.direction != "asc" else "",
            "health": self.health,
            "q": self.search,
        }
        values.update(overrides)
        pairs = [(key, value) for key, value in values.items() if value]
        return f"?{urlencode(pairs)}" if pairs else ""

    def sort_query(self, column: str) -> str:
        """The link of a column header: sort by it, flipping the direction if it already is."""
        direction = "desc" if column == self.sort and self.direction == "asc" else "asc"
        return self.query(sort=column, dir=direction)


def parse_portfolio_filters(params: Mapping[str, str]) -> PortfolioFilters:
    sort = params.get("sort", "")
    direction = params.get("dir", "")
    health = params.get("health", "")
    return PortfolioFilters(
        sort=sort if sort in PORTFOLIO_SORTS else "key",
        direction=direction if direction in ("asc", "desc") else "asc",
        health=health if health in HEALTH_STATUSES else "",
        search=" ".join(params.get("q", "").split())[:SEARCH_MAX_LENGTH],
    )


@dataclass(frozen=True, slots=True)
class PortfolioLine:
    """A dashboard row with what the table draws from it: sparklines and lateness."""

    row: DashboardRow
    reasons: tuple[str, ...]
    velocity_svg: str
    throughput_svg: str
    late: bool
    late_days: int | None

    @property
    def last_velocity(self) -> Any:
        return _last_velocity(self.row)


@dataclass(frozen=True, slots=True)
class SortColumn:
    name: str
    label: str
    query: str
    current: bool
    direction: str
    numeric: bool

    @property
    def aria_sort(self) -> str:
        return "descending" if self.direction == "desc" else "ascending"


@dataclass(frozen=True, slots=True)
class PortfolioBoard:
    health_statuses: tuple[str, ...]
    dashboard: selectors.PortfolioDashboard
    filters: PortfolioFilters
    lines: tuple[PortfolioLine, ...]
    columns: dict[str, SortColumn]
    table: Table
    csv_url: str

    @property
    def filtered(self) -> bool:
        return bool(self.filters.health or self.filters.search)

    @property
    def sorted_by(self) -> SortColumn:
        return self.columns[self.filters.sort]

    @property
    def shown_totals(self) -> dict[str, int]:
        """Sums over the rows shown (the totals cards cover every visible project)."""
        return {
            "open_items": sum(line.row.open_items for line in self.lines),
            "throughput": sum(line.row.throughput_total for line in self.lines),
            "risks": sum(line.row.risk_count for line in self.lines),
            "late": sum(1 for line in self.lines if line.late),
        }


def _line(row: DashboardRow) -> PortfolioLine:
    p85 = row.forecast.p85_date if row.forecast.available else None
    late_days = (p85 - row.target_date).days if p85 and row.target_date else None
    return PortfolioLine(
        row=row,
        reasons=exports.health_reasons(row),
        velocity_svg=charts.sparkline_svg(
            row.velocities, label=f"Velocity of {row.key}, last {len(row.velocities)} sprints"
        ),
        throughput_svg=charts.sparkline_svg(
            [week.count for week in row.throughput_weeks],
            label=f"Items done per week by {row.key}, last {len(row.throughput_weeks)} weeks",
            color=charts.PALETTE["done"],
        ),
        late=late_days is not None and late_days > 0,
        late_days=late_days,
    )


def _sorted(rows: Sequence[DashboardRow], filters: PortfolioFilters) -> list[DashboardRow]:
    """Rows by the chosen column (then by key); rows without a value stay last either way."""
    _label, key = PORTFOLIO_SORTS[filters.sort]
    by_key = sorted(rows, key=lambda row: row.key)
    present = [row for row in by_key if key(row) is not None]
    missing = [row for row in by_key if key(row) is None]
    present.sort(key=key, reverse=filters.direction == "desc")
    return present + missing


def portfolio_board(
    *, user: AnyUser, portfolio: Portfolio, filters: PortfolioFilters
) -> PortfolioBoard:
    """The portfolio dashboard's rows filtered and sorted as asked, with their sparklines,
    the sortable column headers and the CSV table of exactly these rows."""
    dashboard = selectors.portfolio_dashboard(user=user, portfolio=portfolio)
    rows = [
        row
        for row in dashboard.rows
        if (not filters.health or row.health.status == filters.health)
        and (
            not filters.search
            or filters.search.casefold() in row.key.casefold()
            or filters.search.casefold() in row.name.casefold()
        )
    ]
    ordered = _sorted(rows, filters)
    columns = {
        name: SortColumn(
            name=name,
            label=label,
            query=filters.sort_query(name),
            current=name == filters.sort,
            direction=filters.direction,
            numeric=name in NUMERIC_COLUMNS,
        )
        for name, (label, _key) in PORTFOLIO_SORTS.items()
    }
    return PortfolioBoard(
        health_statuses=HEALTH_STATUSES,
        dashboard=dashboard,
        filters=filters,
        lines=tuple(_line(row) for row in ordered),
        columns=columns,
        table=exports.portfolio_table(ordered, portfolio_name=dashboard.name),
        csv_url=reverse("metrics:portfolio-csv", args=[dashboard.slug]) + filters.query(),
    )
