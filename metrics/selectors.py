"""Reads of the flow-metrics engine: the only public API of metrics.flow and
metrics.forecasting.

Every function is keyword-only, takes the requesting user, resolves the project, sprint or
portfolio among what that user may see (Http404 for missing and forbidden alike, as
`portfolio.selectors` does) and returns frozen dataclasses, never ORM rows. Each one runs a
fixed number of queries: one permission query (two for a portfolio), then one SQL query per
figure, whatever the amount of history or the number of projects.

Instants are aware datetimes; `now` defaults to the present here, at the edge, and is passed
down explicitly so every figure is reproducible at a fixed `now`. Periods are local calendar
dates of the project, [start, end) (see metrics.flow, decision 10).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import Http404
from django.utils import timezone

from metrics import flow, forecasting
from metrics.flow import (
    Burndown,
    CycleTimeReport,
    EpicRank,
    FlowDay,
    SprintFigures,
    WeekThroughput,
    WipAging,
)
from metrics.forecasting import HowManyForecast, WhenForecast
from portfolio.models import Portfolio, Project, Sprint
from portfolio.permissions import visible_portfolios, visible_projects

AnyUser = AbstractBaseUser | AnonymousUser

__all__ = [
    "Burndown",
    "CycleTimeReport",
    "EpicRank",
    "FlowDay",
    "HowManyForecast",
    "ProjectFlowSummary",
    "SprintFigures",
    "WeekThroughput",
    "WhenForecast",
    "WipAging",
    "cumulative_flow",
    "cycle_times",
    "epic_ranking",
    "forecast_how_many",
    "forecast_when",
    "portfolio_flow_summary",
    "sprint_burndown",
    "sprint_summaries",
    "throughput",
    "wip_aging",
]

ROLLING_VELOCITY_SPRINTS = 3
SUMMARY_VELOCITY_SPRINTS = 6
SUMMARY_CYCLE_DAYS = 90
SUMMARY_THROUGHPUT_WEEKS = 8
REPORTED_SPRINT_STATES = (Sprint.State.ACTIVE.value, Sprint.State.CLOSED.value)


@dataclass(frozen=True, slots=True)
class ProjectFlowSummary:
    """One project's row of the portfolio dashboard."""

    project_id: int
    key: str
    name: str
    last_closed_sprint: str | None
    last_say_do: float | None
    velocities: tuple[Decimal, ...]
    say_do_history: tuple[float | None, ...]
    cycle_time_p85: float | None
    cycle_time_items: int
    throughput_weeks: tuple[WeekThroughput, ...]
    wip: int


def _visible_project_id(user: AnyUser, project: Project) -> int:
    return _visible_project_pk(user, project.pk)


def _visible_project_pk(user: AnyUser, project_id: int) -> int:
    if not visible_projects(user).filter(pk=project_id).exists():
        raise Http404("No such project.")
    return project_id


def _visible_portfolio_id(user: AnyUser, portfolio: Portfolio) -> int:
    if not visible_portfolios(user).filter(pk=portfolio.pk).exists():
        raise Http404("No such portfolio.")
    return portfolio.pk


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
        project_id=project_id, now=_aware_now(now), history_days=history_days
    )


def cumulative_flow(
    *, user: AnyUser, project: Project, start: dt.date, end: dt.date
) -> list[FlowDay]:
    """Items per category at the end of each local day of [start, end)."""
    _check_period(start, end)
    project_id = _visible_project_id(user, project)
    return flow.cumulative_flow_unsafe(project_id=project_id, start=start, end=end)


def forecast_when(
    *,
    user: AnyUser,
    project: Project,
    remaining: int,
    seed: int = forecasting.DEFAULT_SEED,
    now: dt.datetime | None = None,
    history_days: int = forecasting.DEFAULT_HISTORY_DAYS,
    trials: int = forecasting.DEFAULT_TRIALS,
) -> WhenForecast:
    project_id = _visible_project_id(user, project)
    history = flow.daily_throughput_unsafe(
        project_id=project_id, now=_aware_now(now), history_days=history_days
    )
    return forecasting.forecast_when(history, remaining=remaining, seed=seed, trials=trials)


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
    project_id = _visible_project_id(user, project)
    history = flow.daily_throughput_unsafe(
        project_id=project_id, now=_aware_now(now), history_days=history_days
    )
    return forecasting.forecast_how_many(history, until=until, seed=seed, trials=trials)


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
    """One row per project of the portfolio the user may see, by key, in four queries
    whatever the number of projects: portfolio access, visible projects, the sprint figures
    of every project's last closed sprints, and the flow figures of every project."""
    now = _aware_now(now)
    portfolio_id = _visible_portfolio_id(user, portfolio)
    projects = list(
        visible_projects(user)
        .filter(portfolio_id=portfolio_id)
        .order_by("key")
        .values_list("pk", "key", "name")
    )
    project_ids = [pk for pk, _key, _name in projects]
    sprints_by_project: dict[int, list[SprintFigures]] = {pk: [] for pk in project_ids}
    for figures in flow.sprint_figures_unsafe(
        project_ids=project_ids,
        states=[Sprint.State.CLOSED.value],
        per_project=velocity_sprints,
    ):
        sprints_by_project[figures.project_id].append(figures)
    flows = flow.portfolio_flow_unsafe(
        project_ids=project_ids, now=now, cycle_days=cycle_days, weeks=throughput_weeks
    )
    rows = []
    for pk, key, name in projects:
        sprints = sprints_by_project[pk]
        last = sprints[-1] if sprints else None
        project_flow = flows[pk]
        rows.append(
            ProjectFlowSummary(
                project_id=pk,
                key=key,
                name=name,
                last_closed_sprint=last.name if last else None,
                last_say_do=last.say_do if last else None,
                velocities=tuple(sprint.completed_points for sprint in sprints),
                say_do_history=tuple(sprint.say_do for sprint in sprints),
                cycle_time_p85=project_flow.cycle_time_p85,
                cycle_time_items=project_flow.cycle_time_items,
                throughput_weeks=project_flow.throughput_weeks,
                wip=project_flow.wip,
            )
        )
    return rows
