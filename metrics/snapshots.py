"""Frozen per-project snapshots, assembled from the batched queries of metrics.flow.

Two levels, so each page pays only for what it shows:

- `ProjectFlowSummary`, the portfolio summary row: the sprint figures of the last closed
  sprints and of the active one (with the point of its burndown's latest ended day), and the
  present-time flow figures. Two queries for any number of projects.
- `ProjectSnapshot`: a summary plus the Monte Carlo forecast of the open scope and the
  project's KPIs with their latest values. Two more queries for any number of projects,
  then one simulation per project in memory (NumPy). Health
  (`metrics.health`) and risk signals (`metrics.risks`) are pure functions of a snapshot, so
  the portfolio dashboard, a project's page, the API and, later, the agents (STYLE.md
  "Agents": analysts read frozen snapshots) see the same figures.

Every project is measured at `project.metrics_now(now)`: the real now, or the instant an
imported snapshot describes (Project.data_as_of). The functions here check no permission
(hence `_unsafe`): `metrics.selectors` resolves the projects among the visible ones first.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache

from metrics import flow, forecasting
from metrics.flow import (
    Burndown,
    BurndownPoint,
    DailyThroughput,
    ProjectFlow,
    SprintFigures,
    WeekThroughput,
)
from metrics.forecasting import WhenForecast
from metrics.kpis.figures import KpiFigure, kpi_figures_unsafe
from portfolio.models import Project, Sprint

SUMMARY_VELOCITY_SPRINTS = 6
SUMMARY_CYCLE_DAYS = 90
SUMMARY_THROUGHPUT_WEEKS = 8
CYCLE_TREND_DAYS = 30
SUMMARY_SPRINT_STATES = (Sprint.State.ACTIVE.value, Sprint.State.CLOSED.value)


@dataclass(frozen=True, slots=True)
class ProjectFlowSummary:
    """One project's row of the portfolio summary, at the project's own `now`."""

    project_id: int
    key: str
    name: str
    now: dt.datetime
    today: dt.date
    time_zone: str
    target_date: dt.date | None
    last_closed_sprint: str | None
    last_say_do: float | None
    velocities: tuple[Decimal, ...]
    say_do_history: tuple[float | None, ...]
    closed_sprints: tuple[SprintFigures, ...]
    active_sprint: SprintFigures | None
    cycle_time_p85: float | None
    cycle_time_items: int
    throughput_weeks: tuple[WeekThroughput, ...]
    wip: int
    flow: ProjectFlow


@dataclass(frozen=True, slots=True)
class ProjectSnapshot:
    """Everything the health and risk rules read about one project, frozen at its `now`.

    `forecast` is the "when" forecast of the open items with the default seed (so the same
    data always gives the same health); `active_sprint_day` is the point of the active
    sprint's burndown on its latest day ended by `now` (None before the end of its first
    day, or when the sprint's membership is unknown), as the sprint's burndown has it.
    `kpis` are the project's active KPIs (by name) with their latest measurement, which the
    KPI health rules read; `history` the throughput samples the forecast drew from."""

    summary: ProjectFlowSummary
    open_items: int
    open_points: Decimal
    forecast: WhenForecast
    active_sprint_day: BurndownPoint | None
    history: DailyThroughput
    kpis: tuple[KpiFigure, ...] = ()

    @property
    def key(self) -> str:
        return self.summary.key

    @property
    def now(self) -> dt.datetime:
        return self.summary.now

    @property
    def target_date(self) -> dt.date | None:
        return self.summary.target_date

    @property
    def flow(self) -> ProjectFlow:
        return self.summary.flow


def local_today(project: Project, now: dt.datetime) -> dt.date:
    """The project's local calendar day at `now` (day boundaries use its time zone)."""
    return now.astimezone(zoneinfo.ZoneInfo(project.time_zone)).date()


def summary_of(
    project: Project,
    *,
    now: dt.datetime,
    sprints: Sequence[SprintFigures],
    flow: ProjectFlow,
    velocity_sprints: int = SUMMARY_VELOCITY_SPRINTS,
) -> ProjectFlowSummary:
    """A project's summary row from its active and closed sprints' figures (oldest first;
    any number of the latest, so the project page passes all it has) and its flow figures."""
    closed = tuple(s for s in sprints if s.state == Sprint.State.CLOSED)[-velocity_sprints:]
    active = [s for s in sprints if s.state == Sprint.State.ACTIVE]
    last = closed[-1] if closed else None
    return ProjectFlowSummary(
        project_id=project.pk,
        key=project.key,
        name=project.name,
        now=now,
        today=local_today(project, now),
        time_zone=project.time_zone,
        target_date=project.target_date,
        last_closed_sprint=last.name if last else None,
        last_say_do=last.say_do if last else None,
        velocities=tuple(sprint.completed_points for sprint in closed),
        say_do_history=tuple(sprint.say_do for sprint in closed),
        closed_sprints=closed,
        active_sprint=active[-1] if active else None,
        cycle_time_p85=flow.cycle_time_p85,
        cycle_time_items=flow.cycle_time_items,
        throughput_weeks=flow.throughput_weeks,
        wip=flow.wip,
        flow=flow,
    )


def flow_summaries_unsafe(
    *,
    projects: Sequence[Project],
    now: dt.datetime,
    velocity_sprints: int = SUMMARY_VELOCITY_SPRINTS,
    cycle_days: int = SUMMARY_CYCLE_DAYS,
    throughput_weeks: int = SUMMARY_THROUGHPUT_WEEKS,
    trend_days: int = CYCLE_TREND_DAYS,
) -> list[ProjectFlowSummary]:
    """Summary rows of `projects`, in their order, in two queries whatever their number.

    The sprint query keeps each project's latest `velocity_sprints + 1` active or closed
    sprints, so the last `velocity_sprints` closed ones are there beside an active sprint (a
    project running two sprints at once shows one closed sprint fewer)."""
    nows = {project.pk: project.metrics_now(now) for project in projects}
    sprints: dict[int, list[SprintFigures]] = {pk: [] for pk in nows}
    for figures in flow.sprint_figures_unsafe(
        project_ids=list(nows),
        states=SUMMARY_SPRINT_STATES,
        per_project=velocity_sprints + 1,
        point_nows=nows,
    ):
        sprints[figures.project_id].append(figures)
    flows = project_flows_unsafe(
        nows=nows, cycle_days=cycle_days, throughput_weeks=throughput_weeks, trend_days=trend_days
    )
    return [
        summary_of(
            project,
            now=nows[project.pk],
            sprints=sprints[project.pk],
            flow=flows[project.pk],
            velocity_sprints=velocity_sprints,
        )
        for project in projects
    ]


def project_flows_unsafe(
    *,
    nows: Mapping[int, dt.datetime],
    cycle_days: int = SUMMARY_CYCLE_DAYS,
    throughput_weeks: int = SUMMARY_THROUGHPUT_WEEKS,
    trend_days: int = CYCLE_TREND_DAYS,
) -> dict[int, ProjectFlow]:
    """The present-time flow figures of the summary, by project id (one query)."""
    return flow.portfolio_flow_unsafe(
        nows=nows, cycle_days=cycle_days, weeks=throughput_weeks, trend_days=trend_days
    )


def latest_ended_day(burndown: Burndown | None, now: dt.datetime) -> BurndownPoint | None:
    """The point of the burndown's latest day that has ended by `now` (measured before
    it), if any: what SPRINT_FIGURES_SQL gives an active sprint with `point_nows`."""
    if burndown is None:
        return None
    ended = [day for day in burndown.days if day.measured_before < now]
    if not ended:
        return None
    last = ended[-1]
    return BurndownPoint(
        day=last.day,
        measured_before=last.measured_before,
        remaining=last.remaining,
        ideal=last.ideal,
    )


def snapshot_of(
    summary: ProjectFlowSummary,
    *,
    history: DailyThroughput,
    forecast: WhenForecast,
    active_sprint_day: BurndownPoint | None,
    kpis: Sequence[KpiFigure],
) -> ProjectSnapshot:
    """A project's snapshot from its summary and the rest of what health reads: the
    throughput samples with the open scope, the "when" forecast of the open items, the
    point of the active sprint's burndown on its latest ended day, and the KPIs."""
    return ProjectSnapshot(
        summary=summary,
        open_items=history.open_items,
        open_points=history.open_points,
        forecast=forecast,
        active_sprint_day=active_sprint_day,
        kpis=tuple(kpis),
        history=history,
    )


def open_scope_forecasts(
    histories: Mapping[int, DailyThroughput],
    *,
    seed: int = forecasting.DEFAULT_SEED,
    trials: int = forecasting.DEFAULT_TRIALS,
) -> dict[int, WhenForecast]:
    """The "when" forecast of each project's open items, by project id, memoized in the
    cache by its inputs (metrics.forecasting, decision 7) with one cache round trip for all."""
    return forecasting.forecasts_when(
        {pk: (history, history.open_items) for pk, history in histories.items()},
        seed=seed,
        trials=trials,
        cache=cache,
    )


def project_snapshots_unsafe(
    *,
    summaries: Sequence[ProjectFlowSummary],
    seed: int = forecasting.DEFAULT_SEED,
    history_days: int = forecasting.DEFAULT_HISTORY_DAYS,
    trials: int = forecasting.DEFAULT_TRIALS,
) -> list[ProjectSnapshot]:
    """Snapshots of the summarized projects, in their order: two queries whatever their
    number (forecast samples with the open scope; the KPIs with their latest values), then
    one "when" simulation of the open items per project, memoized. The active sprints'
    burndown points came with the summaries' sprint figures."""
    nows = {summary.project_id: summary.now for summary in summaries}
    samples = flow.daily_throughputs_unsafe(nows=nows, history_days=history_days)
    kpis = kpi_figures_unsafe(project_ids=list(nows))
    forecasts = open_scope_forecasts(samples, seed=seed, trials=trials)
    return [
        snapshot_of(
            summary,
            history=samples[summary.project_id],
            forecast=forecasts[summary.project_id],
            active_sprint_day=summary.active_sprint.point if summary.active_sprint else None,
            kpis=kpis.get(summary.project_id, ()),
        )
        for summary in summaries
    ]
