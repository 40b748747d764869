"""The deterministic core of an agent run: a frozen snapshot of the run's scope, read through
the selectors, and the facts computed from it in code. The facts are the ground truth: the
builtin analyst writes its narrative from them, and a language model's answer is accepted
only if every id it cites and every number it states is found here (agents.guardrails).

What a run reads (as its reader: the requesting PMO leader, or the system reader of a
trigger run; see agents.services), never outside the run's portfolio:

- risk scan of a project: its `ProjectSnapshot` (metrics.selectors.project_snapshot) and
  those of the projects it depends on in the same portfolio;
- portfolio review and prioritization: the portfolio dashboard (every project's snapshot,
  health and risk signals), the epics ranked by WSJF, and for a prioritization the "how
  many by the horizon" forecast of every project owning open epics;
- every kind: the dependencies of the projects in scope, the recent decision-log entries of
  the portfolio, and the titles of the work items the facts cite.

Facts and decisions:

- Risk signals are metrics.risks' rules, unchanged (FORECAST_AFTER_TARGET, NO_THROUGHPUT,
  BURNDOWN_BEHIND_IDEAL, SCOPE_GROWTH, SAY_DO_LOW, CYCLE_TIME_RISING, AGING_WIP), each with
  its severity, sentence and evidence ids (the signal, its sprint, the items it names).
- KPI_RED (high): an active KPI whose latest value is beyond its red threshold
  (metrics.kpis.rag, the rule project health uses), with its value, thresholds and period;
  portfolio-level KPIs count in portfolio runs (their project_key is None).
- DEPENDENCY_LATE: a project depends on a *late* project of the portfolio. Late means the
  provider's 85% forecast of its open items falls after its target date, or the provider is
  stalled (NO_THROUGHPUT). A red health caused by a KPI is not lateness. Severity high when
  the provider's 85% date is also after the dependent project's own target date (it cannot
  get what it needs in time), else medium. A dependency on a project
  of another portfolio is listed as "outside the run's scope" with none of that project's
  data: a run never reads beyond its portfolio.
- Prioritization: the proposed ranking is the WSJF order (metrics.flow's exact quotient),
  except that epics past a gate (done, or a status frozen by a gate_freeze policy) keep
  their current positions. Capacity check: for each project, its epics' open items are
  summed in proposed order against the 85% "how many items by the horizon" forecast of that
  project (horizon: CAPACITY_HORIZON_DAYS from the project's today); an epic whose running
  total exceeds it is beyond capacity. Epics with no project, no open items or no forecast
  are listed as not checked.
- Confidence of the facts (the ceiling of a run's confidence): 0.5 + 0.4 x the share of the
  data that backs them: for project runs, the mean over projects of (forecast available,
  a closed sprint exists); for a prioritization, the share of open epics whose capacity
  could be checked. Rounded to 2 decimals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count
from django.urls import reverse

from governance.models import PolicyKind
from governance.selectors import DecisionFilters, decision_log_list, epic_ranking_current
from governance.selectors import policy_list as governance_policy_list
from metrics import risks as risk_rules
from metrics.health import evaluate_health
from metrics.kpis.rag import kpi_status
from metrics.kpis.selectors import kpi_list, recent_measurements, with_latest
from metrics.kpis.text import number_text
from metrics.risks import SEVERITY_ORDER, RiskSignal, evaluate_risks
from metrics.rounding import round_half_up
from metrics.selectors import (
    HowManyForecast,
    ProjectDashboardRow,
    ProjectSnapshot,
    WhenForecast,
    epic_ranking,
    forecasts_how_many,
    portfolio_dashboard,
    project_snapshot,
)
from metrics.snapshots import CYCLE_TREND_DAYS, SUMMARY_CYCLE_DAYS, local_today
from portfolio.models import Category, Epic, Portfolio, Project, ProjectDependency, WorkItem
from portfolio.permissions import visible_projects

CAPACITY_HORIZON_DAYS = 84
"""One planning interval (six two-week sprints): the horizon of the capacity check."""
RECENT_DECISIONS = 5
CITED_ITEMS = 10
"""Work items named per signal in the snapshot (the signal's figures count them all)."""

RISK_TITLES: dict[str, str] = {
    "FORECAST_AFTER_TARGET": "85% forecast after the target date",
    "NO_THROUGHPUT": "No throughput for two weeks",
    "BURNDOWN_BEHIND_IDEAL": "Burndown behind the ideal line",
    "SCOPE_GROWTH": "Scope growth in the sprint",
    "SAY_DO_LOW": "Say/do below 0.7",
    "CYCLE_TIME_RISING": "Cycle time rising",
    "AGING_WIP": "Work aging past the cycle-time p85",
    "DEPENDENCY_LATE": "Depends on a late project",
    "KPI_RED": "KPI in the red",
}
RISK_ANCHORS: dict[str, str] = {
    "FORECAST_AFTER_TARGET": "forecast-chart",
    "NO_THROUGHPUT": "flow-charts",
    "BURNDOWN_BEHIND_IDEAL": "burndown-chart",
    "SCOPE_GROWTH": "burndown-chart",
    "SAY_DO_LOW": "velocity-chart",
    "CYCLE_TIME_RISING": "flow-charts",
    "AGING_WIP": "wip-aging-chart",
}
PAST_GATE_STATUSES = frozenset({Epic.Status.DONE.value})
RULE_CONSTANTS: dict[str, Any] = {
    "forecast_percentiles": [50, 85, 95],
    "say_do_threshold": float(risk_rules.SAY_DO_LOW.threshold),
    "burndown_excess_threshold": float(risk_rules.BURNDOWN_BEHIND_IDEAL.threshold),
    "scope_growth_threshold": float(risk_rules.SCOPE_GROWTH.threshold),
    "cycle_time_increase_threshold": float(risk_rules.CYCLE_TIME_RISING.increase),
    "cycle_time_trend_days": CYCLE_TREND_DAYS,
    "aging_reference_days": SUMMARY_CYCLE_DAYS,
    "no_throughput_days": risk_rules.NO_THROUGHPUT.days,
    "capacity_horizon_days": CAPACITY_HORIZON_DAYS,
}
"""The thresholds behind the facts (metrics.risks, this module), given to the model so that
it may quote them; the numbers guardrail accepts only figures found in the snapshot."""


# --- snapshot --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    """Something a conclusion may cite: a label, a link into the product, its figures."""

    id: str
    kind: str
    label: str
    url: str
    figures: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class ProjectFigures:
    """A project's figures as the run saw them (JSON-safe: dates as ISO strings)."""

    id: int
    key: str
    name: str
    as_of: str
    target_date: str | None
    health: str
    health_reasons: tuple[str, ...]
    open_items: int
    open_points: float
    wip: int
    cycle_time_p85_days: float | None
    last_say_do: float | None
    velocities: tuple[float, ...]
    throughput_weeks: tuple[int, ...]
    forecast: dict[str, Any]
    late: bool


@dataclass(frozen=True, slots=True)
class EpicFigures:
    id: int
    key: str
    title: str
    status: str
    project_key: str | None
    wsjf: float | None
    cost_of_delay: int | None
    job_size: int | None
    wsjf_position: int | None
    backlog_rank: int
    open_items: int


@dataclass(frozen=True, slots=True)
class DependencyFigures:
    id: int
    project_key: str
    depends_on_key: str | None  # None: a project outside the run's portfolio
    description: str


@dataclass(frozen=True, slots=True)
class KpiFigures:
    """An active KPI with its latest measurement; `note` is what a person typed with it."""

    id: int
    name: str
    project_key: str | None  # None: a KPI of the portfolio as a whole
    unit: str
    direction: str
    target: float
    amber_threshold: float
    red_threshold: float
    period_start: str | None
    value: float | None
    status: str
    note: str


@dataclass(frozen=True, slots=True)
class DecisionFigures:
    id: int
    kind: str
    summary: str
    created_at: str


@dataclass(frozen=True, slots=True)
class CapacityInput:
    project_key: str
    until: str
    available: bool
    reason: str
    p85_items: int | None
    p50_items: int | None


@dataclass(frozen=True)
class RunSnapshot:
    """Everything a run knows, frozen when the run starts: no ORM object inside."""

    run_id: int
    kind: str
    as_of: str
    portfolio_id: int
    portfolio_slug: str
    portfolio_name: str
    project_key: str | None
    projects: tuple[ProjectFigures, ...]
    signals: dict[str, tuple[RiskSignal, ...]]
    item_titles: dict[str, str]
    epics: tuple[EpicFigures, ...]
    current_epic_ids: tuple[int, ...]
    frozen_statuses: tuple[str, ...]
    dependencies: tuple[DependencyFigures, ...]
    decisions: tuple[DecisionFigures, ...]
    capacity_inputs: tuple[CapacityInput, ...]
    kpis: tuple[KpiFigures, ...] = ()

    def project(self, key: str) -> ProjectFigures | None:
        return next((p for p in self.projects if p.key == key), None)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _number(value: Any) -> float | None:
    return None if value is None else round_half_up(value)


def _forecast(forecast: WhenForecast) -> dict[str, Any]:
    return {
        "available": forecast.available,
        "reason": forecast.reason,
        "open_items": forecast.remaining,
        "p50_date": _iso(forecast.p50_date),
        "p85_date": _iso(forecast.p85_date),
        "p95_date": _iso(forecast.p95_date),
        "p85_days": forecast.p85_days,
    }


def _is_late(forecast: WhenForecast, target: dt.date | None, signals: Iterable[RiskSignal]) -> bool:
    """Late: the 85% forecast of the open items after the target date, or stalled (nothing
    done for two weeks while items are open). A red KPI makes the health red but is not
    lateness: it is a fact of its own (KPI_RED)."""
    after_target = (
        forecast.available
        and target is not None
        and forecast.p85_date is not None
        and forecast.p85_date > target
    )
    return bool(after_target) or any(s.code == "NO_THROUGHPUT" for s in signals)


def _figures_of_row(row: ProjectDashboardRow) -> ProjectFigures:
    """A portfolio dashboard row (metrics.selectors) as the run keeps it."""
    return ProjectFigures(
        id=row.project_id,
        key=row.key,
        name=row.name,
        as_of=row.as_of.isoformat(),
        target_date=_iso(row.target_date),
        health=row.health.status,
        health_reasons=tuple(reason.sentence for reason in row.health.fired),
        open_items=row.open_items,
        open_points=float(_number(row.open_points) or 0),
        wip=row.wip,
        cycle_time_p85_days=_number(row.cycle_time_p85),
        last_say_do=_number(row.last_say_do),
        velocities=tuple(float(_number(v) or 0) for v in row.velocities),
        throughput_weeks=tuple(week.count for week in row.throughput_weeks),
        forecast=_forecast(row.forecast),
        late=_is_late(row.forecast, row.target_date, row.risks),
    )


def _figures_of_snapshot(snapshot: ProjectSnapshot) -> ProjectFigures:
    """A project snapshot (metrics.selectors.project_snapshot) as the run keeps it: the same
    figures as the project's row on the portfolio dashboard."""
    summary = snapshot.summary
    health = evaluate_health(snapshot)
    return ProjectFigures(
        id=summary.project_id,
        key=summary.key,
        name=summary.name,
        as_of=summary.now.isoformat(),
        target_date=_iso(summary.target_date),
        health=health.status,
        health_reasons=tuple(reason.sentence for reason in health.fired),
        open_items=snapshot.open_items,
        open_points=float(_number(snapshot.open_points) or 0),
        wip=summary.wip,
        cycle_time_p85_days=_number(summary.cycle_time_p85),
        last_say_do=_number(summary.last_say_do),
        velocities=tuple(float(_number(v) or 0) for v in summary.velocities),
        throughput_weeks=tuple(week.count for week in summary.throughput_weeks),
        forecast=_forecast(snapshot.forecast),
        late=_is_late(snapshot.forecast, summary.target_date, evaluate_risks(snapshot)),
    )


def _dependencies(
    reader: Any, portfolio: Portfolio, project_ids: Iterable[int]
) -> list[ProjectDependency]:
    """Dependencies of the projects in scope; the provider is loaded only when it belongs to
    the run's portfolio (its key is the only thing read about it)."""
    return list(
        ProjectDependency.objects.filter(
            project__in=visible_projects(reader).filter(portfolio=portfolio),
            project_id__in=list(project_ids),
        )
        .select_related("project", "depends_on")
        .order_by("project__key", "depends_on__key")
    )


def _dependency_figures(
    dependencies: Sequence[ProjectDependency], portfolio: Portfolio
) -> tuple[DependencyFigures, ...]:
    return tuple(
        DependencyFigures(
            id=dependency.pk,
            project_key=dependency.project.key,
            depends_on_key=dependency.depends_on.key
            if dependency.depends_on.portfolio_id == portfolio.pk
            else None,
            description=dependency.description,
        )
        for dependency in dependencies
    )


def _item_titles(reader: Any, portfolio: Portfolio, keys: Iterable[str]) -> dict[str, str]:
    keys = sorted(set(keys))
    if not keys:
        return {}
    rows = WorkItem.objects.filter(
        project__in=visible_projects(reader).filter(portfolio=portfolio), key__in=keys
    ).values_list("key", "title")
    return dict(rows)


def _decisions(reader: Any, portfolio: Portfolio) -> tuple[DecisionFigures, ...]:
    entries = decision_log_list(user=reader, filters=DecisionFilters(portfolio=portfolio.slug))
    return tuple(
        DecisionFigures(
            id=entry.pk,
            kind=entry.kind,
            summary=entry.summary,
            created_at=entry.created_at.isoformat(),
        )
        for entry in entries[:RECENT_DECISIONS]
    )


def _kpis(reader: Any, portfolio: Portfolio, project: Project | None) -> tuple[KpiFigures, ...]:
    """Active KPIs in scope with their latest value and its note (two queries): a project's
    own for a risk scan, the portfolio's and all its projects' otherwise."""
    queryset = kpi_list(user=reader, portfolio=portfolio, active=True)
    if project is not None:
        queryset = queryset.filter(project=project)
    kpis = list(with_latest(queryset))
    latest = recent_measurements(user=reader, kpis=kpis, per_kpi=1)
    figures = []
    for kpi in kpis:
        measured = latest.get(kpi.pk) or []
        value = kpi.latest_value
        figures.append(
            KpiFigures(
                id=kpi.pk,
                name=kpi.name,
                project_key=kpi.project.key if kpi.project_id else None,
                unit=kpi.unit,
                direction=kpi.direction,
                target=float(kpi.target),
                amber_threshold=float(kpi.amber_threshold),
                red_threshold=float(kpi.red_threshold),
                period_start=_iso(kpi.latest_period),
                value=None if value is None else float(value),
                status=kpi_status(
                    direction=kpi.direction,
                    value=value,
                    amber_threshold=kpi.amber_threshold,
                    red_threshold=kpi.red_threshold,
                ),
                note=measured[-1].note if measured else "",
            )
        )
    return tuple(figures)


def _cited_item_keys(signals: Iterable[RiskSignal]) -> list[str]:
    return [key for signal in signals for key in signal.evidence.item_keys[:CITED_ITEMS]]


def _epic_open_items(reader: Any, portfolio: Portfolio) -> dict[int, int]:
    """Open work items per epic of the portfolio, over the projects the reader may see (one
    aggregate query; portfolio.selectors has no per-epic count)."""
    rows = (
        WorkItem.objects.filter(
            project__in=visible_projects(reader).filter(portfolio=portfolio),
            epic__portfolio=portfolio,
        )
        .exclude(category=Category.DONE)
        .order_by()
        .values("epic_id")
        .annotate(count=Count("pk"))
    )
    return {row["epic_id"]: row["count"] for row in rows}


def _frozen_statuses(reader: Any, portfolio: Portfolio) -> tuple[str, ...]:
    statuses = set(PAST_GATE_STATUSES)
    for policy in governance_policy_list(user=reader, portfolio=portfolio).filter(
        active=True, kind=PolicyKind.GATE_FREEZE
    ):
        statuses.update(policy.parameters.get("statuses", []))
    return tuple(sorted(statuses))


def snapshot_build(*, reader: Any, run: Any, now: dt.datetime | None = None) -> RunSnapshot:
    """Read the run's scope through the selectors, as `reader`, into a frozen snapshot."""
    from django.utils import timezone

    now = now or timezone.now()
    portfolio: Portfolio = run.portfolio
    signals: dict[str, tuple[RiskSignal, ...]] = {}
    epics: tuple[EpicFigures, ...] = ()
    current_ids: tuple[int, ...] = ()
    frozen: tuple[str, ...] = ()
    capacity: tuple[CapacityInput, ...] = ()
    if run.kind == "risk_scan":
        project: Project = run.project
        dependencies = _dependencies(reader, portfolio, [project.pk])
        providers = [
            d.depends_on for d in dependencies if d.depends_on.portfolio_id == portfolio.pk
        ]
        snapshots = [project_snapshot(user=reader, project=project, now=now)] + [
            project_snapshot(user=reader, project=provider, now=now) for provider in providers
        ]
        projects = tuple(_figures_of_snapshot(s) for s in snapshots)
        signals[project.key] = evaluate_risks(snapshots[0])
    else:
        dashboard = portfolio_dashboard(user=reader, portfolio=portfolio, now=now)
        projects = tuple(_figures_of_row(row) for row in dashboard.rows)
        signals = {row.key: row.risks for row in dashboard.rows}
        dependencies = _dependencies(reader, portfolio, [p.id for p in projects])
        ranked = epic_ranking(user=reader, portfolio=portfolio)
        open_items = _epic_open_items(reader, portfolio)
        current = epic_ranking_current(user=reader, portfolio=portfolio)
        by_id = {epic.epic_id: epic for epic in ranked}
        epics = tuple(
            EpicFigures(
                id=epic.pk,
                key=epic.key,
                title=epic.title,
                status=epic.status,
                project_key=epic.project.key if epic.project_id else None,
                wsjf=_number(by_id[epic.pk].wsjf) if epic.pk in by_id else None,
                cost_of_delay=by_id[epic.pk].cost_of_delay if epic.pk in by_id else None,
                job_size=by_id[epic.pk].job_size if epic.pk in by_id else None,
                wsjf_position=by_id[epic.pk].position if epic.pk in by_id else None,
                backlog_rank=epic.rank,
                open_items=open_items.get(epic.pk, 0),
            )
            for epic in current
        )
        current_ids = tuple(epic.pk for epic in current)
        if run.kind == "prioritization":
            frozen = _frozen_statuses(reader, portfolio)
            capacity = _capacity_inputs(reader, portfolio, epics, projects, now)
    item_titles = _item_titles(
        reader, portfolio, _cited_item_keys(s for group in signals.values() for s in group)
    )
    return RunSnapshot(
        run_id=run.pk,
        kind=run.kind,
        as_of=now.isoformat(),
        portfolio_id=portfolio.pk,
        portfolio_slug=portfolio.slug,
        portfolio_name=portfolio.name,
        project_key=run.project.key if run.project_id else None,
        projects=projects,
        signals=signals,
        item_titles=item_titles,
        epics=epics,
        current_epic_ids=current_ids,
        frozen_statuses=frozen,
        dependencies=_dependency_figures(dependencies, portfolio),
        decisions=_decisions(reader, portfolio),
        capacity_inputs=capacity,
        kpis=_kpis(reader, portfolio, run.project if run.kind == "risk_scan" else None),
    )


def _capacity_inputs(
    reader: Any,
    portfolio: Portfolio,
    epics: Sequence[EpicFigures],
    projects: Sequence[ProjectFigures],
    now: dt.datetime,
) -> tuple[CapacityInput, ...]:
    """The 85% "how many items by the horizon" forecast of each project owning open epics
    with open items (two queries for all of them)."""
    keys = sorted(
        {
            epic.project_key
            for epic in epics
            if epic.project_key and epic.wsjf_position is not None and epic.open_items
        }
        & {project.key for project in projects}
    )
    horizons = {
        project: local_today(project, project.metrics_now(now))
        + dt.timedelta(days=CAPACITY_HORIZON_DAYS)
        for project in visible_projects(reader).filter(portfolio=portfolio, key__in=keys)
    }
    forecasts = forecasts_how_many(user=reader, until=horizons, now=now)
    inputs = []
    for project, until in horizons.items():
        forecast: HowManyForecast = forecasts[project.pk]
        inputs.append(
            CapacityInput(
                project_key=project.key,
                until=until.isoformat(),
                available=forecast.available,
                reason=forecast.reason,
                p85_items=forecast.p85,
                p50_items=forecast.p50,
            )
        )
    return tuple(sorted(inputs, key=lambda line: line.project_key))


# --- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskFact:
    """A risk computed in code: what a narrative must report, with the ids that back it."""

    id: str
    code: str
    severity: str
    project_key: str | None  # None: a fact about the portfolio as a whole
    title: str
    sentence: str
    evidence_ids: tuple[str, ...]
    figures: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class CapacityLine:
    project_key: str
    until: str
    available: bool
    reason: str
    p85_items: int | None
    demand_items: int
    within: tuple[str, ...]
    beyond: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RankedEpic:
    id: int
    key: str
    title: str
    status: str
    project_key: str | None
    wsjf: float | None
    open_items: int
    current_position: int
    proposed_position: int
    frozen: bool
    capacity: str  # within | beyond | unchecked | done
    capacity_note: str
    demand_items: int | None  # open items of its project's epics up to this one

    @property
    def moved(self) -> int:
        """Places moved, positive towards rank 1."""
        return self.current_position - self.proposed_position


@dataclass(frozen=True)
class Ranking:
    """The proposed ranking of every epic of the portfolio, in proposed order."""

    epics: tuple[RankedEpic, ...]
    current_ids: tuple[int, ...]
    proposed_ids: tuple[int, ...]
    horizon_days: int
    evidence_ids: tuple[str, ...]
    expected_impact: str

    @property
    def proposed_keys(self) -> tuple[str, ...]:
        return tuple(epic.key for epic in self.epics)

    @property
    def moved(self) -> tuple[RankedEpic, ...]:
        return tuple(epic for epic in self.epics if epic.moved)

    def with_capacity(self, capacity: str) -> tuple[RankedEpic, ...]:
        return tuple(epic for epic in self.epics if epic.capacity == capacity)


@dataclass(frozen=True)
class Facts:
    risks: tuple[RiskFact, ...]
    evidence: dict[str, Evidence]
    counts: dict[str, int]
    late_projects: tuple[str, ...]
    ranking: Ranking | None
    capacity: tuple[CapacityLine, ...]
    confidence: float


def _project_url(key: str, *, anchor: str = "", query: str = "") -> str:
    url = reverse("portfolio:project-detail", kwargs={"key": key})
    return f"{url}{'?' + query if query else ''}{'#' + anchor if anchor else ''}"


def _portfolio_url(slug: str, anchor: str = "") -> str:
    url = reverse("portfolio:portfolio-detail", kwargs={"slug": slug})
    return f"{url}{'#' + anchor if anchor else ''}"


class _EvidenceBook:
    """Collects the evidence of a run, once per id, in the order first cited."""

    def __init__(self) -> None:
        self.entries: dict[str, Evidence] = {}

    def add(self, id: str, kind: str, label: str, url: str, **figures: Any) -> str:
        if id not in self.entries:
            self.entries[id] = Evidence(id=id, kind=kind, label=label, url=url, figures=figures)
        return id


def _project_evidence(book: _EvidenceBook, project: ProjectFigures) -> None:
    book.add(
        f"project:{project.key}",
        "project",
        f"{project.key} {project.name}",
        _project_url(project.key),
        health=project.health,
        open_items=project.open_items,
        open_points=project.open_points,
        wip=project.wip,
        cycle_time_p85_days=project.cycle_time_p85_days,
        last_say_do=project.last_say_do,
        target_date=project.target_date,
    )
    forecast = project.forecast
    book.add(
        f"forecast:{project.key}",
        "forecast",
        f"{project.key} forecast of the open items",
        _project_url(project.key, anchor="forecast-chart"),
        available=forecast["available"],
        open_items=forecast["open_items"],
        p50_date=forecast["p50_date"],
        p85_date=forecast["p85_date"],
        p95_date=forecast["p95_date"],
        target_date=project.target_date,
    )


def _signal_fact(
    book: _EvidenceBook, key: str, signal: RiskSignal, titles: dict[str, str]
) -> RiskFact:
    fact_id = f"risk:{key}:{signal.code}"
    title = RISK_TITLES.get(signal.code, signal.code.replace("_", " ").capitalize())
    evidence = signal.evidence
    query = f"sprint={evidence.sprint_id}" if evidence.sprint_id else ""
    anchor = RISK_ANCHORS.get(signal.code, "")
    book.add(
        fact_id,
        "risk",
        f"{key}: {title}",
        _project_url(key, anchor=anchor, query=query if anchor == "burndown-chart" else ""),
        **dict(evidence.figures),
    )
    ids = [fact_id, f"project:{key}"]
    if signal.code == "FORECAST_AFTER_TARGET":
        ids.append(f"forecast:{key}")
    if evidence.sprint_id:
        ids.append(
            book.add(
                f"sprint:{evidence.sprint_id}",
                "sprint",
                f"{key} sprint #{evidence.sprint_id}",
                _project_url(key, anchor="burndown-chart", query=f"sprint={evidence.sprint_id}"),
            )
        )
    for item_key in evidence.item_keys[:CITED_ITEMS]:
        label = f"{item_key} {titles.get(item_key, '')}".strip()
        ids.append(
            book.add(
                f"item:{item_key}",
                "work_item",
                label,
                _project_url(key, anchor=RISK_ANCHORS.get(signal.code, "")),
            )
        )
    return RiskFact(
        id=fact_id,
        code=signal.code,
        severity=signal.severity,
        project_key=key,
        title=title,
        sentence=signal.sentence,
        evidence_ids=tuple(ids),
        figures=dict(evidence.figures),
    )


def _dependency_facts(
    book: _EvidenceBook, snapshot: RunSnapshot, scope_keys: set[str]
) -> list[RiskFact]:
    facts = []
    for dependency in snapshot.dependencies:
        if dependency.project_key not in scope_keys:
            continue
        dependency_id = book.add(
            f"dependency:{dependency.id}",
            "dependency",
            f"{dependency.project_key} depends on "
            f"{dependency.depends_on_key or 'a project of another portfolio'}",
            _project_url(dependency.project_key),
        )
        provider = snapshot.project(dependency.depends_on_key or "")
        dependent = snapshot.project(dependency.project_key)
        if provider is None or dependent is None or not provider.late:
            continue
        p85 = provider.forecast.get("p85_date")
        blocking = bool(p85 and dependent.target_date and p85 > dependent.target_date)
        if p85 and provider.target_date and p85 > provider.target_date:
            why = f"its 85% forecast is {p85}, after its target date {provider.target_date}" + (
                f" and after {dependent.key}'s own target date {dependent.target_date}"
                if blocking
                else ""
            )
        else:
            why = "it has finished nothing for two weeks while items are open"
        fact_id = f"risk:{dependent.key}:DEPENDENCY_LATE:{provider.key}"
        figures = {
            "provider": provider.key,
            "provider_p85_date": p85,
            "provider_target_date": provider.target_date,
            "provider_health": provider.health,
            "dependent_target_date": dependent.target_date,
        }
        book.add(
            fact_id,
            "risk",
            f"{dependent.key}: depends on late {provider.key}",
            _project_url(provider.key, anchor="forecast-chart"),
            **figures,
        )
        facts.append(
            RiskFact(
                id=fact_id,
                code="DEPENDENCY_LATE",
                severity="high" if blocking else "medium",
                project_key=dependent.key,
                title=RISK_TITLES["DEPENDENCY_LATE"],
                sentence=f"{dependent.key} depends on {provider.key}, which is late: {why}.",
                evidence_ids=(
                    fact_id,
                    dependency_id,
                    f"project:{provider.key}",
                    f"forecast:{provider.key}",
                ),
                figures=figures,
            )
        )
    return facts


def _number_text(value: float) -> str:
    return number_text(Decimal(str(value)))


def _kpi_facts(book: _EvidenceBook, snapshot: RunSnapshot) -> list[RiskFact]:
    """KPI_RED: each KPI in scope whose latest value is beyond its red threshold."""
    facts = []
    for kpi in snapshot.kpis:
        scope = kpi.project_key or "portfolio"
        url = reverse("metrics:kpi-detail", kwargs={"kpi_id": kpi.id})
        figures = {
            "value": kpi.value,
            "unit": kpi.unit,
            "period_start": kpi.period_start,
            "red_threshold": kpi.red_threshold,
            "amber_threshold": kpi.amber_threshold,
            "target": kpi.target,
            "direction": kpi.direction,
        }
        evidence_id = book.add(
            f"kpi:{kpi.id}", "kpi", f"KPI {kpi.name} ({scope})", url, **figures, status=kpi.status
        )
        if kpi.status != "red" or kpi.value is None:
            continue
        worse = "below" if kpi.direction == "higher_is_better" else "above"
        value = f"{_number_text(kpi.value)} {kpi.unit}".rstrip()
        fact_id = f"risk:{scope}:KPI_RED:{kpi.id}"
        book.add(fact_id, "risk", f"{scope}: KPI {kpi.name} in the red", url, **figures)
        facts.append(
            RiskFact(
                id=fact_id,
                code="KPI_RED",
                severity="high",
                project_key=kpi.project_key,
                title=RISK_TITLES["KPI_RED"],
                sentence=(
                    f"KPI {kpi.name} is {value} for the period starting {kpi.period_start}, "
                    f"{worse} its red threshold {_number_text(kpi.red_threshold)} (target "
                    f"{_number_text(kpi.target)})."
                ),
                evidence_ids=(fact_id, evidence_id)
                + ((f"project:{kpi.project_key}",) if kpi.project_key else ()),
                figures=figures,
            )
        )
    return facts


def _ranking(book: _EvidenceBook, snapshot: RunSnapshot) -> tuple[Ranking, list[CapacityLine]]:
    epics = snapshot.epics
    frozen_statuses = set(snapshot.frozen_statuses)
    frozen = {e.id for e in epics if e.status in frozen_statuses or e.wsjf_position is None}
    movable = iter(
        sorted(
            (e for e in epics if e.id not in frozen),
            key=lambda e: e.wsjf_position or 0,
        )
    )
    proposed = [e if e.id in frozen else next(movable) for e in epics]
    current_position = {e.id: index + 1 for index, e in enumerate(epics)}

    capacity_inputs = {line.project_key: line for line in snapshot.capacity_inputs}
    status: dict[int, tuple[str, str]] = {}
    demand: dict[int, int] = {}
    lines = []
    for key in sorted({e.project_key for e in proposed if e.project_key}):
        forecast = capacity_inputs.get(key)
        total, within, beyond = 0, [], []
        for epic in proposed:
            if epic.project_key != key or epic.wsjf_position is None or not epic.open_items:
                continue
            if forecast is None or not forecast.available or forecast.p85_items is None:
                continue
            total += epic.open_items
            demand[epic.id] = total
            if total <= forecast.p85_items:
                within.append(epic.key)
                status[epic.id] = (
                    "within",
                    f"{total} open items of {key}'s epics up to this one, within the "
                    f"{forecast.p85_items} items {key} finishes by {forecast.until} "
                    "(85% forecast)",
                )
            else:
                beyond.append(epic.key)
                status[epic.id] = (
                    "beyond",
                    f"{total} open items of {key}'s epics up to this one, more than the "
                    f"{forecast.p85_items} items {key} finishes by {forecast.until} "
                    "(85% forecast)",
                )
        if forecast is not None:
            book.add(
                f"capacity:{key}",
                "capacity",
                f"{key}: items done by {forecast.until} (85% forecast)",
                _project_url(key, anchor="forecast-chart", query=f"until={forecast.until}"),
                until=forecast.until,
                p85_items=forecast.p85_items,
                p50_items=forecast.p50_items,
                demand_items=total,
            )
            lines.append(
                CapacityLine(
                    project_key=key,
                    until=forecast.until,
                    available=forecast.available,
                    reason=forecast.reason,
                    p85_items=forecast.p85_items,
                    demand_items=total,
                    within=tuple(within),
                    beyond=tuple(beyond),
                )
            )

    ranked = []
    evidence_ids = []
    for index, epic in enumerate(proposed):
        if epic.wsjf_position is None:
            capacity, note = "done", "Done: past the gate, not ranked."
        elif epic.id in status:
            capacity, note = status[epic.id]
        elif not epic.project_key:
            capacity, note = "unchecked", "No project delivers it: capacity not checked."
        elif not epic.open_items:
            capacity, note = "unchecked", "No open work items yet: capacity not checked."
        else:
            forecast = capacity_inputs.get(epic.project_key)
            reason = forecast.reason if forecast else "no forecast"
            capacity, note = "unchecked", f"No forecast for {epic.project_key}: {reason}"
        url = (
            _project_url(epic.project_key, anchor="epics-chart")
            if epic.project_key
            else _portfolio_url(snapshot.portfolio_slug)
        )
        evidence_ids.append(
            book.add(
                f"epic:{epic.key}",
                "epic",
                f"{epic.key} {epic.title}",
                url,
                wsjf=epic.wsjf,
                cost_of_delay=epic.cost_of_delay,
                job_size=epic.job_size,
                wsjf_position=epic.wsjf_position,
                current_position=current_position[epic.id],
                proposed_position=index + 1,
                open_items=epic.open_items,
                demand_items=demand.get(epic.id),
            )
        )
        ranked.append(
            RankedEpic(
                id=epic.id,
                key=epic.key,
                title=epic.title,
                status=epic.status,
                project_key=epic.project_key,
                wsjf=epic.wsjf,
                open_items=epic.open_items,
                current_position=current_position[epic.id],
                proposed_position=index + 1,
                frozen=epic.id in frozen,
                capacity=capacity,
                capacity_note=note,
                demand_items=demand.get(epic.id),
            )
        )
    evidence_ids += [f"capacity:{line.project_key}" for line in lines]
    moved = sum(1 for epic in ranked if epic.moved)
    beyond_count = sum(1 for epic in ranked if epic.capacity == "beyond")
    impact = (
        f"{moved} of {len(ranked)} epics change place; {beyond_count} ranked epics exceed "
        f"their project's 85% capacity within {CAPACITY_HORIZON_DAYS} days."
    )
    return (
        Ranking(
            epics=tuple(ranked),
            current_ids=snapshot.current_epic_ids,
            proposed_ids=tuple(epic.id for epic in ranked),
            horizon_days=CAPACITY_HORIZON_DAYS,
            evidence_ids=tuple(evidence_ids),
            expected_impact=impact,
        ),
        lines,
    )


def _scope_projects(snapshot: RunSnapshot) -> list[ProjectFigures]:
    """The projects a run is about (a risk scan's providers are context, not scope)."""
    if snapshot.project_key:
        return [p for p in snapshot.projects if p.key == snapshot.project_key]
    return list(snapshot.projects)


def facts_compute(snapshot: RunSnapshot) -> Facts:
    """The facts of a snapshot: pure, so the same snapshot always gives the same facts."""
    book = _EvidenceBook()
    book.add(
        f"portfolio:{snapshot.portfolio_slug}",
        "portfolio",
        snapshot.portfolio_name,
        _portfolio_url(snapshot.portfolio_slug),
    )
    for project in snapshot.projects:
        _project_evidence(book, project)
    scope = _scope_projects(snapshot)
    scope_keys = {p.key for p in scope}
    risks: list[RiskFact] = []
    for project in scope:
        for signal in snapshot.signals.get(project.key, ()):
            risks.append(_signal_fact(book, project.key, signal, snapshot.item_titles))
    risks += _dependency_facts(book, snapshot, scope_keys)
    risks += _kpi_facts(book, snapshot)
    risks.sort(key=lambda fact: (SEVERITY_ORDER[fact.severity], fact.project_key or "", fact.code))
    for decision in snapshot.decisions:
        book.add(
            f"decision:{decision.id}",
            "decision",
            f"Decision #{decision.id}: {decision.summary}"[:200],
            reverse("governance:decision-log") + f"?portfolio={snapshot.portfolio_slug}",
            created_at=decision.created_at,
        )

    ranking, lines = (None, [])
    if snapshot.kind == "prioritization":
        ranking, lines = _ranking(book, snapshot)

    late = tuple(p.key for p in scope if p.late)
    if ranking is not None:
        open_epics = [e for e in ranking.epics if e.capacity != "done"]
        checked = sum(1 for e in open_epics if e.capacity in ("within", "beyond"))
        backing = checked / len(open_epics) if open_epics else 0.0
    else:
        backing = (
            sum(
                (p.forecast["available"] + (p.last_say_do is not None or bool(p.velocities))) / 2
                for p in scope
            )
            / len(scope)
            if scope
            else 0.0
        )
    confidence = round_half_up(0.5 + 0.4 * backing)
    in_scope_dependencies = [d for d in snapshot.dependencies if d.project_key in scope_keys]
    counts = {
        "projects": len(scope),
        "risks": len(risks),
        "risks_high": sum(1 for r in risks if r.severity == "high"),
        "risks_medium": sum(1 for r in risks if r.severity == "medium"),
        "risks_low": sum(1 for r in risks if r.severity == "low"),
        "late_projects": len(late),
        "health_red": sum(1 for p in scope if p.health == "red"),
        "health_amber": sum(1 for p in scope if p.health == "amber"),
        "health_green": sum(1 for p in scope if p.health == "green"),
        "health_grey": sum(1 for p in scope if p.health == "grey"),
        "dependencies": len(in_scope_dependencies),
        "dependencies_on_late": sum(1 for r in risks if r.code == "DEPENDENCY_LATE"),
        "dependencies_outside": sum(1 for d in in_scope_dependencies if not d.depends_on_key),
    }
    if ranking is not None:
        counts.update(
            epics=len(ranking.epics),
            epics_open=sum(1 for e in ranking.epics if e.capacity != "done"),
            epics_moved=len(ranking.moved),
            epics_frozen=sum(1 for e in ranking.epics if e.frozen and e.capacity != "done"),
            epics_within_capacity=len(ranking.with_capacity("within")),
            epics_beyond_capacity=len(ranking.with_capacity("beyond")),
            epics_unchecked=len(ranking.with_capacity("unchecked")),
            horizon_days=CAPACITY_HORIZON_DAYS,
        )
    return Facts(
        risks=tuple(risks),
        evidence=book.entries,
        counts=counts,
        late_projects=late,
        ranking=ranking,
        capacity=tuple(lines),
        confidence=float(confidence),
    )


def facts_describe(facts: Facts) -> str:
    """One line for the run's progress."""
    counts = facts.counts
    text = f"{counts['risks']} risk signal{'s' if counts['risks'] != 1 else ''} "
    text += f"({counts['risks_high']} high)"
    if counts["late_projects"]:
        late = counts["late_projects"]
        text += f", {late} late project{'s' if late != 1 else ''}"
    if facts.ranking is not None:
        text += f", {counts['epics_moved']} of {counts['epics']} epics move"
    return text


@dataclass(frozen=True)
class RunContext:
    """What the provider chain works from: the snapshot and facts (for the builtin analyst
    and the guardrails), their JSON (what a model sees), the recalled memories, and the
    reader (for the policies read on the result)."""

    snapshot: RunSnapshot
    facts: Facts
    data: dict[str, Any]
    recalled: tuple[dict[str, Any], ...]
    reader: Any


# --- JSON ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Dataclass fields as JSON: tuples as lists, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def snapshot_json(snapshot: RunSnapshot, facts: Facts) -> dict[str, Any]:
    """The frozen snapshot as stored on the run (AgentRun.snapshot) and sent to a model."""
    scope_project = snapshot.project(snapshot.project_key) if snapshot.project_key else None
    ranking = facts.ranking
    return {
        "as_of": snapshot.as_of,
        "scope": {
            "kind": snapshot.kind,
            "portfolio": {
                "id": snapshot.portfolio_id,
                "slug": snapshot.portfolio_slug,
                "name": snapshot.portfolio_name,
            },
            "project": {"key": scope_project.key, "name": scope_project.name}
            if scope_project
            else None,
        },
        "projects": [_plain(asdict(p)) for p in snapshot.projects],
        "epics": [_plain(asdict(e)) for e in snapshot.epics],
        "dependencies": [_plain(asdict(d)) for d in snapshot.dependencies],
        "decisions": [_plain(asdict(d)) for d in snapshot.decisions],
        "work_items": [{"key": k, "title": t} for k, t in sorted(snapshot.item_titles.items())],
        "kpis": [_plain(asdict(k)) for k in snapshot.kpis],
        "evidence": {
            e.id: {"label": e.label, "url": e.url, "kind": e.kind, "figures": _plain(e.figures)}
            for e in facts.evidence.values()
        },
        "facts": {
            "risks": [_plain(asdict(r)) for r in facts.risks],
            "counts": facts.counts,
            "late_projects": list(facts.late_projects),
            "capacity": [_plain(asdict(line)) for line in facts.capacity],
            "ranking": None
            if ranking is None
            else {
                "epics": [_plain(asdict(e)) for e in ranking.epics],
                "current_ids": list(ranking.current_ids),
                "proposed_ids": list(ranking.proposed_ids),
                "proposed_keys": list(ranking.proposed_keys),
                "horizon_days": ranking.horizon_days,
                "evidence_ids": list(ranking.evidence_ids),
                "expected_impact": ranking.expected_impact,
            },
            "confidence": facts.confidence,
            "rules": RULE_CONSTANTS,
        },
    }
