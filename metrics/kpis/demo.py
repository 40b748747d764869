"""Demo KPIs: the KPIs of the two seed documents on every demo project, with a believable,
deterministic history, written by `portfolio.demo.demo_plan_write` in the seed's transaction.

Per project (its team lead, `lead-<key>`, owns and entered the manual ones):

| KPI | source | cadence | direction | target / amber / red |
| --- | --- | --- | --- | --- |
| Velocity | computed from the closed sprints | per sprint | higher | from the first sprints' mean |
| Cycle time | entered: the week's p85 cycle time | weekly | lower | from the project's own weeks |
| Customer satisfaction | entered (survey score 1-5) | monthly | higher | 4.5 / 4.0 / 3.5 |
| Forecast accuracy | entered (%) | monthly | higher | 90 / 80 / 70 |
| Release predictability | entered (%) | quarterly | higher | 85 / 75 / 60 |

Values follow the project's schedule in the plan (on track, at risk, late), so the portfolio
shows green, amber and red KPIs; the cycle-time values are the plan's own weekly p85 (linear
interpolation, as PostgreSQL's percentile_cont), so they match the dashboard's history. Only
periods complete by the data's "now" (the plan's cutoff) have a value. One PAY satisfaction
value was corrected after a late batch of survey answers, so the history view has a story.

Fast at every scale: one query for the velocity of every closed sprint (the engine's batched
sprint figures), then bulk inserts; no per-project query. Randomness comes from
`random.Random(f"{seed}/kpis/{key}")`, so the same seed gives the same KPIs.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AbstractBaseUser

from governance.models import DecisionKind
from governance.services import decision_record
from metrics.kpis import computed, periods
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from portfolio.models import Portfolio, Project

if TYPE_CHECKING:
    from portfolio.demo import DemoPlan

CYCLE_WEEKS = 26
SATISFACTION_MONTHS = 6
ACCURACY_MONTHS = 6
PREDICTABILITY_QUARTERS = 3
HALF = Decimal("0.5")
ONE_PLACE = Decimal("0.1")

# schedule -> (satisfaction mean, forecast accuracy mean, release predictability mean, drift)
PROFILES = {
    "on_track": (Decimal("4.5"), 92, 88, Decimal(0)),
    "at_risk": (Decimal("4.1"), 82, 78, Decimal("-0.05")),
    "late": (Decimal("3.7"), 72, 64, Decimal("-0.1")),
}


@dataclass(frozen=True, slots=True)
class KpiDemoSummary:
    kpis: int
    measurements: int


def _round(value: Decimal | float, step: Decimal = ONE_PLACE) -> Decimal:
    return (Decimal(str(value)) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def _p85(values: Sequence[float]) -> float | None:
    """percentile_cont(0.85): linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = 0.85 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _weekly_cycle_p85(
    items: Sequence[Any], time_zone: str, weeks: Sequence[dt.date]
) -> dict[dt.date, Decimal]:
    zone = zoneinfo.ZoneInfo(time_zone)
    wanted = set(weeks)
    per_week: dict[dt.date, list[float]] = {}
    for item in items:
        if item.done_at is None:
            continue
        local = item.done_at.astimezone(zone).date()
        monday = local - dt.timedelta(days=local.weekday())
        if monday in wanted:
            start = item.started_at or item.done_at
            per_week.setdefault(monday, []).append((item.done_at - start).total_seconds() / 86400)
    return {
        week: _round(p85, Decimal("0.01"))
        for week, values in per_week.items()
        if (p85 := _p85(values)) is not None
    }


def _definition(project: Project, owner: AbstractBaseUser | None, **fields: Any) -> KPI:
    return KPI(
        portfolio_id=project.portfolio_id,
        project=project,
        owner=owner,
        created_at=project.created_at,
        updated_at=project.created_at,
        **fields,
    )


def _entered_at(period_end: dt.date, cutoff: dt.datetime, rng: random.Random) -> dt.datetime:
    """A moment of the working hours of the day after the period (never after the data's
    now)."""
    moment = dt.datetime.combine(period_end, dt.time(9), tzinfo=dt.UTC) + dt.timedelta(
        minutes=rng.randint(0, 8 * 60)
    )
    return min(moment, cutoff - dt.timedelta(minutes=1))


def kpi_demo_seed(
    *,
    plan: DemoPlan,
    portfolios: Sequence[Portfolio],
    projects: Sequence[Project],
    users: Mapping[str, AbstractBaseUser],
) -> KpiDemoSummary:
    """Write the demo KPIs of every project with their values and revisions, and one
    decision-log entry per portfolio. Call it inside the seed's transaction."""
    cutoff = plan.cutoff
    items_of: dict[int, list[Any]] = {index: [] for index in range(len(projects))}
    for item in plan.items:
        items_of[item.project].append(item)
    velocities = computed.sprint_values_unsafe(
        project_ids=[project.pk for project in projects],
        time_zones={project.pk: project.time_zone for project in projects},
    )
    definitions: list[KPI] = []
    pending: list[tuple[int, list[tuple[dt.date, Decimal, str, dt.datetime]]]] = []
    for index, (project, project_plan) in enumerate(zip(projects, plan.projects, strict=True)):
        rng = random.Random(f"{plan.seed}/kpis/{project.key}")
        lead = users.get(f"lead-{project.key.lower()}")
        today = cutoff.astimezone(zoneinfo.ZoneInfo(project.time_zone)).date()
        satisfaction_mean, accuracy_mean, predictability_mean, drift = PROFILES[
            project_plan.schedule
        ]

        # Velocity: computed from the closed sprints (the values of the engine's query).
        sprint_velocity = velocities[project.pk][KPI.FlowMetric.VELOCITY.value]
        early = list(sprint_velocity.values())[:6]
        target = _round(sum(early) / len(early), Decimal(1)) if early else Decimal(20)
        target = max(target, Decimal(1))
        velocity = _definition(
            project,
            lead,
            name="Velocity",
            unit="points",
            direction=KPI.Direction.HIGHER_IS_BETTER,
            target=target,
            amber_threshold=_round(target * Decimal("0.85"), Decimal(1)),
            red_threshold=_round(target * Decimal("0.7"), Decimal(1)),
            min_value=Decimal(0),
            cadence=KPI.Cadence.PER_SPRINT,
            computed_from=KPI.FlowMetric.VELOCITY,
            description="Completed story points of each closed sprint (METRICS.md), computed "
            "from the work-item history.",
        )
        definitions.append(velocity)
        pending.append(
            (
                len(definitions) - 1,
                [
                    (day, value, "computed", _entered_at(day + dt.timedelta(days=12), cutoff, rng))
                    for day, value in sorted(sprint_velocity.items())
                ],
            )
        )

        # Cycle time: the team enters the week's p85 each Monday.
        weeks = periods.previous_period_starts("weekly", today, CYCLE_WEEKS)
        cycle = _weekly_cycle_p85(items_of[index], project.time_zone, weeks)
        typical = sorted(cycle.values())[len(cycle) // 2] if cycle else Decimal(5)
        cycle_target = max(_round(typical, HALF), HALF)
        definitions.append(
            _definition(
                project,
                lead,
                name="Cycle time",
                unit="days",
                direction=KPI.Direction.LOWER_IS_BETTER,
                target=cycle_target,
                amber_threshold=_round(cycle_target * Decimal("1.3"), HALF),
                red_threshold=_round(cycle_target * Decimal("1.7"), HALF),
                min_value=Decimal(0),
                cadence=KPI.Cadence.WEEKLY,
                description="85th percentile cycle time of the items done in the week, in days.",
            )
        )
        pending.append(
            (
                len(definitions) - 1,
                [
                    (week, value, "", _entered_at(week + dt.timedelta(days=7), cutoff, rng))
                    for week, value in sorted(cycle.items())
                ],
            )
        )

        # Customer satisfaction, forecast accuracy, release predictability: entered by hand.
        manual = [
            (
                "Customer satisfaction",
                "score",
                "monthly",
                SATISFACTION_MONTHS,
                (Decimal("4.5"), Decimal(4), Decimal("3.5")),
                (Decimal(1), Decimal(5)),
                "Mean answer of the monthly customer survey (1 to 5).",
                satisfaction_mean,
                Decimal("0.15"),
                drift,
            ),
            (
                "Forecast accuracy",
                "%",
                "monthly",
                ACCURACY_MONTHS,
                (Decimal(90), Decimal(80), Decimal(70)),
                (Decimal(0), Decimal(100)),
                "Share of the month's committed dates that were met.",
                Decimal(accuracy_mean),
                Decimal(4),
                drift * 40,
            ),
            (
                "Release predictability",
                "%",
                "quarterly",
                PREDICTABILITY_QUARTERS,
                (Decimal(85), Decimal(75), Decimal(60)),
                (Decimal(0), Decimal(100)),
                "Planned release scope delivered in the quarter.",
                Decimal(predictability_mean),
                Decimal(5),
                drift * 50,
            ),
        ]
        for name, unit, cadence, count, thresholds, bounds, text, mean, spread, trend in manual:
            target_value, amber, red = thresholds
            definitions.append(
                _definition(
                    project,
                    lead,
                    name=name,
                    unit=unit,
                    direction=KPI.Direction.HIGHER_IS_BETTER,
                    target=target_value,
                    amber_threshold=amber,
                    red_threshold=red,
                    min_value=bounds[0],
                    max_value=bounds[1],
                    cadence=cadence,
                    description=text,
                )
            )
            values = []
            starts = periods.previous_period_starts(cadence, today, count)
            for step, start in enumerate(starts):
                noise = Decimal(str(rng.uniform(-1, 1))) * spread
                value = mean + trend * step + noise
                value = min(max(value, bounds[0]), bounds[1])
                step_size = Decimal("0.1") if unit == "score" else Decimal(1)
                ended = periods.next_period_start(cadence, start)
                values.append(
                    (start, _round(value, step_size), "", _entered_at(ended, cutoff, rng))
                )
            pending.append((len(definitions) - 1, values))

    created = KPI.objects.bulk_create(definitions, batch_size=1_000)
    rows: list[KPIMeasurement] = []
    for position, values in pending:
        kpi = created[position]
        for day, value, source, entered_at in values:
            rows.append(
                KPIMeasurement(
                    kpi=kpi,
                    period_start=day,
                    value=value,
                    source=KPIMeasurement.Source.COMPUTED
                    if source
                    else KPIMeasurement.Source.MANUAL,
                    entered_by=None if source else kpi.owner,
                    entered_at=entered_at,
                )
            )
    measurements = KPIMeasurement.objects.bulk_create(rows, batch_size=2_000)
    corrected_pk, story = _corrected_survey(created, measurements, cutoff)
    revisions = story + [
        KPIMeasurementRevision(
            measurement=m,
            kpi_id=m.kpi_id,
            period_start=m.period_start,
            version=1,
            change=(
                KPIMeasurementRevision.Change.COMPUTED
                if m.source == KPIMeasurement.Source.COMPUTED
                else KPIMeasurementRevision.Change.RECORDED
            ),
            new_value=m.value,
            source=m.source,
            changed_by=m.entered_by,
            changed_at=m.entered_at,
        )
        for m in measurements
        if m.pk != corrected_pk
    ]
    KPIMeasurementRevision.objects.bulk_create(revisions, batch_size=2_000)
    values_per_kpi = Counter(m.kpi_id for m in measurements)
    for portfolio in portfolios:
        own = [kpi for kpi in created if kpi.portfolio_id == portfolio.pk]
        decision_record(
            kind=DecisionKind.KPI_CHANGE,
            actor=users.get("admin"),
            portfolio=portfolio,
            subject=f"portfolio:{portfolio.slug}",
            summary=(
                f"Seeded demo KPIs: {len(own)} definitions, "
                f"{sum(values_per_kpi[kpi.pk] for kpi in own)} values"
            ),
            inputs={"seed": plan.seed, "anchor": plan.anchor.isoformat()},
        )
    return KpiDemoSummary(kpis=len(created), measurements=len(measurements))


def _corrected_survey(
    kpis: Sequence[KPI], measurements: Sequence[KPIMeasurement], cutoff: dt.datetime
) -> tuple[int | None, list[KPIMeasurementRevision]]:
    """The first project's latest satisfaction value was first entered 0.3 higher, then
    corrected by its team lead once the late survey answers came in: that measurement's id
    and its two revisions."""
    survey = next((kpi for kpi in kpis if kpi.name == "Customer satisfaction"), None)
    own = [m for m in measurements if survey is not None and m.kpi_id == survey.pk]
    if survey is None or not own:
        return None, []
    latest = own[-1]
    first_value = min(latest.value + Decimal("0.3"), Decimal(5))
    corrected_at = min(latest.entered_at + dt.timedelta(days=2), cutoff - dt.timedelta(minutes=1))
    note = "Late survey answers from the enterprise accounts lowered the mean."
    KPIMeasurement.objects.filter(pk=latest.pk).update(
        version=2, note=note, entered_at=corrected_at
    )
    return latest.pk, [
        KPIMeasurementRevision(
            measurement=latest,
            kpi_id=survey.pk,
            period_start=latest.period_start,
            version=1,
            change=KPIMeasurementRevision.Change.RECORDED,
            new_value=first_value,
            source=KPIMeasurement.Source.MANUAL,
            changed_by=latest.entered_by,
            changed_at=latest.entered_at,
        ),
        KPIMeasurementRevision(
            measurement=latest,
            kpi_id=survey.pk,
            period_start=latest.period_start,
            version=2,
            change=KPIMeasurementRevision.Change.CORRECTED,
            old_value=first_value,
            new_value=latest.value,
            note=note,
            source=KPIMeasurement.Source.MANUAL,
            changed_by=latest.entered_by,
            changed_at=corrected_at,
        ),
    ]
