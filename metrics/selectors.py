"""Reads of the flow-metrics engine: the only public API of metrics.flow and
metrics.forecasting.

Every function is keyword-only, takes the requesting user, resolves the project, sprint or
portfolio among what that user may see (Http404 for missing and forbidden alike, as
`portfolio.selectors` does) and returns frozen dataclasses, never ORM rows. Each one runs a
fixed number of queries: one permission query (two for a portfolio), then one SQL query per
figure, whatever the amount of history or the number of projects.

Instants are aware datetimes; `now` defaults to the present here, at the edge, and is passed
down explicitly so every figure is reproducible at a fixed `now`. A project's figures that
depend on "now" are measured at `project.metrics_now(now)`: the snapshot instant of an
imported snapshot, else `now` itself (so passing a project's metrics now again changes
nothing). Periods are local calendar dates of the project, [start, end) (see metrics.flow,
decision 10).

Health and risk signals (`metrics.health`, `metrics.risks`) are pure rules over a
`ProjectSnapshot` (`metrics.snapshots`); the selectors here only resolve what the user may
see and build the snapshots in batched queries, so the portfolio dashboard costs the same
number of queries for 2 projects as for 200.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.http import Http404
from django.utils import timezone

from metrics import flow, forecasting, snapshots
from metrics.flow import (
    Burndown,
    CycleTimeReport,
    DailyThroughput,
    EpicRank,
    FlowDay,
    SprintFigures,
    WeekThroughput,
    WipAging,
)
from metrics.forecasting import HowManyForecast, WhenForecast
from metrics.health import ProjectHealth, evaluate_health
from metrics.kpis.figures import kpi_figures_unsafe
from metrics.risks import RiskSignal, evaluate_risks
from metrics.snapshots import (
    SUMMARY_CYCLE_DAYS,
    SUMMARY_THROUGHPUT_WEEKS,
    SUMMARY_VELOCITY_SPRINTS,
    ProjectFlowSummary,
    ProjectSnapshot,
)
from portfolio.models import Portfolio, Project, Sprint
from portfolio.permissions import (
    ProjectPermission,
    project_ids_with,
    visible_portfolio_ids,
)

AnyUser = AbstractBaseUser | AnonymousUser

__all__ = [
    "Burndown",
    "CycleTimeReport",
    "DailyThroughput",
    "EpicRank",
    "FlowDay",
    "HealthCounts",
    "HowManyForecast",
    "PortfolioDashboard",
    "PortfolioTotals",
    "ProjectDashboardRow",
    "ProjectFlowSummary",
    "ProjectHealth",
    "ProjectSnapshot",
    "RiskSignal",
    "SprintFigures",
    "WeekThroughput",
    "WhenForecast",
    "WipAging",
    "cumulative_flow",
    "cycle_times",
    "epic_ranking",
    "forecast_how_many",
    "forecasts_how_many",
    "how_many_forecast",
    "open_scope_forecast",
    "forecast_when",
    "portfolio_dashboard",
    "portfolio_flow_summary",
    "project_health",
    "project_risks",
    "project_snapshot",
    "project_snapshot_from",
    "sprint_burndown",
    "sprint_get",
    "sprint_summaries",
    "throughput",
    "throughput_history",
    "wip_aging",
]

ROLLING_VELOCITY_SPRINTS = 3
REPORTED_SPRINT_STATES = (Sprint.State.ACTIVE.value, Sprint.State.CLOSED.value)
# What the summary queries need of a project row: metrics_now, the local day, the target.
PROJECT_ROW_FIELDS = ("pk", "key", "name", "target_date", "time_zone", "data_as_of")


@dataclass(frozen=True, slots=True)
class ProjectDashboardRow:
    """One project's row of the portfolio dashboard, at the project's metrics now (`as_of`).

    `closed_sprints` are the last closed sprints, oldest first (their completed points are
    `velocities`, for a sparkline); `forecast` is the "when" of the open items with the
    default seed, the one health compares with `target_date`."""

    project_id: int
    key: str
    name: str
    as_of: dt.datetime
    health: ProjectHealth
    closed_sprints: tuple[SprintFigures, ...]
    last_say_do: float | None
    cycle_time_p85: float | None
    throughput_weeks: tuple[WeekThroughput, ...]
    forecast: WhenForecast
    target_date: dt.date | None
    open_items: int
    open_points: Decimal
    wip: int
    risks: tuple[RiskSignal, ...]

    @property
    def velocities(self) -> tuple[Decimal, ...]:
        return tuple(sprint.completed_points for sprint in self.closed_sprints)

    @property
    def velocity_sprints(self) -> tuple[str, ...]:
        return tuple(sprint.name for sprint in self.closed_sprints)

    @property
    def risk_count(self) -> int:
        return len(self.risks)

    @property
    def throughput_total(self) -> int:
        return sum(week.count for week in self.throughput_weeks)


@dataclass(frozen=True, slots=True)
class HealthCounts:
    green: int
    amber: int
    red: int
    grey: int


@dataclass(frozen=True, slots=True)
class PortfolioTotals:
    """Sums over the rows: `throughput` adds up each project's last complete weeks."""

    projects: int
    open_items: int
    open_points: Decimal
    throughput: int
    throughput_weeks: int
    risks: int
    health: HealthCounts


@dataclass(frozen=True, slots=True)
class PortfolioDashboard:
    portfolio_id: int
    slug: str
    name: str
    now: dt.datetime
    rows: tuple[ProjectDashboardRow, ...]
    totals: PortfolioTotals


def _visible_project_id(user: AnyUser, project: Project) -> int:
    return _visible_project_pk(user, project.pk)


def _visible_project_pk(user: AnyUser, project_id: int) -> int:
    if not user.is_superuser and project_id not in project_ids_with(user, ProjectPermission.VIEW):
        raise Http404("No such project.")
    return project_id


def _visible_portfolio_id(user: AnyUser, portfolio: Portfolio) -> int:
    if not user.is_superuser and portfolio.pk not in visible_portfolio_ids(user):
        raise Http404("No such portfolio.")
    return portfolio.pk


def _visible_portfolio_projects(user: AnyUser, portfolio: Portfolio) -> list[Project]:
    """The portfolio's projects the user may see, by key: Http404 for an invisible
    portfolio (one query), then the projects (one query)."""
    portfolio_id = _visible_portfolio_id(user, portfolio)
    projects = Project.objects.filter(portfolio_id=portfolio_id)
    if not user.is_superuser:
        projects = projects.filter(pk__in=project_ids_with(user, ProjectPermission.VIEW))
    return list(projects.order_by("key").only(*PROJECT_ROW_FIELDS))


def _aware_now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("`now` must be an aware datetime (times are stored in UTC).")
    return now


def _check_period(start: dt.date, end: dt.date) -> None:
    """Periods are local calendar days: a datetime here would silently lose its time zone."""
    for value in (start, end):
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise TypeError("Period bounds are dates (local days of the project), not datetimes.")
    if end < start:
        raise ValueError(f"The period ends ({end}) before it starts ({start}).")


def sprint_summaries(
    *,
    user: AnyUser,
    project: Project,
    last: int | None = None,
    rolling_window: int = ROLLING_VELOCITY_SPRINTS,
) -> list[SprintFigures]:
    """The sprint report of the project's active and closed sprints, oldest first; `last`
    keeps the latest ones (the rolling velocity still looks at the sprints before them)."""
    project_id = _visible_project_id(user, project)
    figures = flow.sprint_figures_unsafe(
        project_ids=[project_id], states=REPORTED_SPRINT_STATES, rolling_window=rolling_window
    )
    if last is None:
        return figures
    return figures[-last:] if last > 0 else []


def sprint_burndown(*, user: AnyUser, sprint: Sprint) -> Burndown:
    """The sprint's burndown; Http404 unless its project is visible and it belongs to it (the
    query re-checks the sprint's project, so a stale or forged instance answers 404 too)."""
    project_id = _visible_project_pk(user, sprint.project_id)
    burndown = flow.burndown_unsafe(sprint_id=sprint.pk, project_id=project_id)
    if burndown is None:
        raise Http404("No such sprint.")
    return burndown


def cycle_times(
    *, user: AnyUser, project: Project, start: dt.date, end: dt.date
) -> CycleTimeReport:
    """Cycle and lead time of the items done in the local period [start, end)."""
    _check_period(start, end)
    project_id = _visible_project_id(user, project)
    return flow.cycle_times_unsafe(project_id=project_id, start=start, end=end)


def throughput(
    *, user: AnyUser, project: Project, start: dt.date, end: dt.date
) -> list[WeekThroughput]:
    """Items done per ISO week (Monday) over the local period [start, end), zero weeks too."""
    _check_period(start, end)
    project_id = _visible_project_id(user, project)
    return flow.throughput_unsafe(project_id=project_id, start=start, end=end)


def wip_aging(
    *,
    user: AnyUser,
    project: Project,
    now: dt.datetime | None = None,
    history_days: int = forecasting.DEFAULT_HISTORY_DAYS,
) -> WipAging:
    """Items in progress with their age, against the cycle-time percentiles of the items
    done in the `history_days` days before now."""
    project_id = _visible_project_id(user, project)
    return flow.wip_aging_unsafe(
        project_id=project_id, now=project.metrics_now(_aware_now(now)), history_days=history_days
    )


def cumulative_flow(
    *, user: AnyUser, project: Project, start: dt.date, end: dt.date
) -> list[FlowDay]:
    """Items per category at the end of each local day of [start, end)."""
    _check_period(start, end)
    project_id = _visible_project_id(user, project)
    return flow.cumulative_flow_unsafe(project_id=project_id, start=start, end=end)


def throughput_history(
    *,
    user: AnyUser,
    project: Project,
    now: dt.datetime | None = None,
    history_days: int = forecasting.DEFAULT_HISTORY_DAYS,
) -> DailyThroughput:
    """The forecasts' throughput samples (items done per local day before today) with the
    project's open scope, in one query."""
    project_id = _visible_project_id(user, project)
    return flow.daily_throughput_unsafe(
        project_id=project_id, now=project.metrics_now(_aware_now(now)), history_days=history_days
    )


def forecast_when(
    *,
    user: AnyUser,
    project: Project,
    remaining: int | None = None,
    seed: int = forecasting.DEFAULT_SEED,
    now: dt.datetime | None = None,
    history_days: int = forecasting.DEFAULT_HISTORY_DAYS,
    trials: int = forecasting.DEFAULT_TRIALS,
) -> WhenForecast:
    """When `remaining` items will be done; without `remaining`, the project's open items
    (counted in the same query as the samples, so it is the forecast health uses)."""
    history = throughput_history(user=user, project=project, now=now, history_days=history_days)
    if remaining is None:
        remaining = history.open_items
    return forecasting.forecast_when(
        history, remaining=remaining, seed=seed, trials=trials, cache=cache
    )


def open_scope_forecast(history: DailyThroughput) -> WhenForecast:
    """When the open items counted with `history` will be done, with the default seed and
    trials: the forecast health compares with the target date (memoized by its inputs)."""
    return snapshots.open_scope_forecasts({0: history})[0]


def how_many_forecast(history: DailyThroughput, *, until: dt.date) -> HowManyForecast:
    """How many items will be done by `until`, from samples already read (default seed)."""
    return forecasting.forecast_how_many(
        history, until=until, seed=forecasting.DEFAULT_SEED, cache=cache
    )


def forecast_how_many(
    *,
    user: AnyUser,
    project: Project,
    until: dt.date,
    seed: int = forecasting.DEFAULT_SEED,
    now: dt.datetime | None = None,
    history_days: int = forecasting.DEFAULT_HISTORY_DAYS,
    trials: int = forecasting.DEFAULT_TRIALS,
) -> HowManyForecast:
    return forecasts_how_many(
        user=user,
        until={project: until},
        seed=seed,
        now=now,
        history_days=history_days,
        trials=trials,
    )[project.pk]


def forecasts_how_many(
    *,
    user: AnyUser,
    until: Mapping[Project, dt.date],
    seed: int = forecasting.DEFAULT_SEED,
    now: dt.datetime | None = None,
    history_days: int = forecasting.DEFAULT_HISTORY_DAYS,
    trials: int = forecasting.DEFAULT_TRIALS,
) -> dict[int, HowManyForecast]:
    """ "How many by date" of several projects (each with its own date), by project id: one
    query for all the throughput samples, then one simulation per project in memory.
    Http404 if any of them is not visible."""
    nows = {
        _visible_project_id(user, project): project.metrics_now(_aware_now(now))
        for project in until
    }
    histories = flow.daily_throughputs_unsafe(nows=nows, history_days=history_days)
    return {
        project.pk: forecasting.forecast_how_many(
            histories[project.pk], until=date, seed=seed, trials=trials, cache=cache
        )
        for project, date in until.items()
    }


def epic_ranking(*, user: AnyUser, portfolio: Portfolio) -> list[EpicRank]:
    """The portfolio's open epics by WSJF, highest first."""
    return flow.epic_ranking_unsafe(portfolio_id=_visible_portfolio_id(user, portfolio))


def portfolio_flow_summary(
    *,
    user: AnyUser,
    portfolio: Portfolio,
    now: dt.datetime | None = None,
    velocity_sprints: int = SUMMARY_VELOCITY_SPRINTS,
    cycle_days: int = SUMMARY_CYCLE_DAYS,
    throughput_weeks: int = SUMMARY_THROUGHPUT_WEEKS,
) -> list[ProjectFlowSummary]:
    """One row per project of the portfolio the user may see, by key, each at its metrics
    now, in four queries whatever the number of projects: the user's grants, visible
    projects, the sprint figures of every project's latest sprints (with the point of each
    active sprint's burndown), and the flow figures of every project."""
    projects = _visible_portfolio_projects(user, portfolio)
    return snapshots.flow_summaries_unsafe(
        projects=projects,
        now=_aware_now(now),
        velocity_sprints=velocity_sprints,
        cycle_days=cycle_days,
        throughput_weeks=throughput_weeks,
    )


def _dashboard_row(snapshot: ProjectSnapshot) -> ProjectDashboardRow:
    summary = snapshot.summary
    return ProjectDashboardRow(
        project_id=summary.project_id,
        key=summary.key,
        name=summary.name,
        as_of=summary.now,
        health=evaluate_health(snapshot),
        closed_sprints=summary.closed_sprints,
        last_say_do=summary.last_say_do,
        cycle_time_p85=summary.cycle_time_p85,
        throughput_weeks=summary.throughput_weeks,
        forecast=snapshot.forecast,
        target_date=summary.target_date,
        open_items=snapshot.open_items,
        open_points=snapshot.open_points,
        wip=summary.wip,
        risks=evaluate_risks(snapshot),
    )


def portfolio_dashboard(
    *, user: AnyUser, portfolio: Portfolio, now: dt.datetime | None = None
) -> PortfolioDashboard:
    """The portfolio dashboard: `portfolio_flow_summary` plus, per project, the forecast of
    its open items, its health and its risk signals, and the portfolio totals. Six queries
    whatever the number of projects (the summary's four, the forecast samples with the open
    scope, the KPIs with their latest values), then NumPy (memoized by its inputs) and the
    rules in memory."""
    now = _aware_now(now)
    summaries = portfolio_flow_summary(user=user, portfolio=portfolio, now=now)
    rows = tuple(
        _dashboard_row(snapshot)
        for snapshot in snapshots.project_snapshots_unsafe(summaries=summaries)
    )
    statuses = [row.health.status for row in rows]
    totals = PortfolioTotals(
        projects=len(rows),
        open_items=sum(row.open_items for row in rows),
        open_points=sum((row.open_points for row in rows), Decimal(0)),
        throughput=sum(row.throughput_total for row in rows),
        throughput_weeks=SUMMARY_THROUGHPUT_WEEKS,
        risks=sum(row.risk_count for row in rows),
        health=HealthCounts(
            green=statuses.count("green"),
            amber=statuses.count("amber"),
            red=statuses.count("red"),
            grey=statuses.count("grey"),
        ),
    )
    return PortfolioDashboard(
        portfolio_id=portfolio.pk,
        slug=portfolio.slug,
        name=portfolio.name,
        now=now,
        rows=rows,
        totals=totals,
    )


def project_snapshot(
    *, user: AnyUser, project: Project, now: dt.datetime | None = None
) -> ProjectSnapshot:
    """The frozen snapshot health and risks read, for one project: five queries (the
    user's grants, then the same batched queries as the portfolio dashboard, with one
    project), so its figures equal the project's row on the dashboard."""
    _visible_project_id(user, project)
    (summary,) = snapshots.flow_summaries_unsafe(projects=[project], now=_aware_now(now))
    (snapshot,) = snapshots.project_snapshots_unsafe(summaries=[summary])
    return snapshot


def project_snapshot_from(
    *,
    user: AnyUser,
    project: Project,
    now: dt.datetime,
    sprints: Sequence[SprintFigures],
    history: DailyThroughput,
    active_burndown: Burndown | None,
) -> ProjectSnapshot:
    """`project_snapshot` built from what a page has already read at the same `now`: the
    figures of the project's active and closed sprints (as `sprint_summaries` gives them,
    latest included), its throughput samples and the whole burndown of its active sprint
    (None when the sprint's membership is unknown: it has no burndown). Two more queries
    (flow figures and KPIs) instead of four, and the same figures: only the latest sprints
    count, and the burndown's latest ended day is picked here instead of in SQL."""
    project_id = _visible_project_id(user, project)
    now = project.metrics_now(_aware_now(now))
    summary = snapshots.summary_of(
        project,
        now=now,
        sprints=sprints,
        flow=snapshots.project_flows_unsafe(nows={project_id: now})[project_id],
    )
    return snapshots.snapshot_of(
        summary,
        history=history,
        forecast=open_scope_forecast(history),
        active_sprint_day=snapshots.latest_ended_day(active_burndown, now),
        kpis=kpi_figures_unsafe(project_ids=[project_id]).get(project_id, ()),
    )


def project_health(
    *, user: AnyUser, project: Project, now: dt.datetime | None = None
) -> ProjectHealth:
    """The project's RAG status with its reasons (METRICS.md "Health (RAG)")."""
    return evaluate_health(project_snapshot(user=user, project=project, now=now))


def project_risks(
    *, user: AnyUser, project: Project, now: dt.datetime | None = None
) -> list[RiskSignal]:
    """The project's flow risk signals, highest severity first."""
    return list(evaluate_risks(project_snapshot(user=user, project=project, now=now)))


def sprint_get(*, user: AnyUser, sprint_id: int) -> Sprint:
    """A sprint of a project the user may see; Http404 for missing and forbidden alike
    (portfolio.selectors lists sprints per project but looks none up by id)."""
    sprints = Sprint.objects.select_related("project")
    if not user.is_superuser:
        sprints = sprints.filter(project_id__in=project_ids_with(user, ProjectPermission.VIEW))
    try:
        return sprints.get(pk=sprint_id)
    except Sprint.DoesNotExist:
        raise Http404("No such sprint.") from None
