"""Values of computed KPIs, from the flow-metrics engine (metrics.flow, METRICS.md).

A computed KPI names the flow figure it follows (`KPI.computed_from`); its measurements are
written by `services.kpi_computed_refresh`, never typed by people. Decisions:

1. Velocity and say/do are per-sprint figures: the KPI's cadence must be "per sprint", and
   each *closed* sprint gives one value, at the local start date of the sprint (velocity:
   completed points; say/do: completed / committed, none when nothing was committed). An
   active sprint has no value until it closes.
2. Cycle time p85 and throughput are period figures: weekly, monthly or quarterly. Each
   *complete* period (ended by the project's metrics "today", its snapshot day for imported
   data) gives one value: the p85 cycle time (days) of the items done in it, or the number
   of items done in it. The last `HISTORY_PERIODS[cadence]` periods are computed; leading
   periods before the first completed item are left out (no throughput before the project
   started), and a period without a completed item has no cycle time.
3. Values are rounded half up to 2 decimal places (days, points, ratios), as the
   dashboards show them.

The queries are the engine's own (`*_unsafe`: the service has checked the caller's right or
runs as the system), one for the sprint figures, one per period for the period figures.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from metrics import flow
from metrics.kpis import periods
from metrics.models import KPI
from portfolio.models import Project, Sprint

TWO_PLACES = Decimal("0.01")

SPRINT_METRICS = frozenset({KPI.FlowMetric.VELOCITY.value, KPI.FlowMetric.SAY_DO.value})
PERIOD_METRICS = frozenset({KPI.FlowMetric.CYCLE_TIME_P85.value, KPI.FlowMetric.THROUGHPUT.value})
PERIOD_CADENCES = frozenset(
    {KPI.Cadence.WEEKLY.value, KPI.Cadence.MONTHLY.value, KPI.Cadence.QUARTERLY.value}
)
HISTORY_PERIODS = {"weekly": 26, "monthly": 12, "quarterly": 8}


def cadence_error(computed_from: str, cadence: str) -> str | None:
    """Why this computed KPI cannot have this cadence (decisions 1 and 2), or None."""
    if not computed_from:
        return None
    if computed_from in SPRINT_METRICS and cadence != KPI.Cadence.PER_SPRINT:
        return "Velocity and say/do are measured per sprint: choose the per-sprint cadence."
    if computed_from in PERIOD_METRICS and cadence not in PERIOD_CADENCES:
        return (
            "Cycle time and throughput are measured per calendar period: choose weekly, "
            "monthly or quarterly."
        )
    return None


def _rounded(value: Decimal | float) -> Decimal:
    return Decimal(str(value)).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def sprint_values_unsafe(
    *, project_ids: list[int], time_zones: dict[int, str]
) -> dict[int, dict[str, dict[dt.date, Decimal]]]:
    """Velocity and say/do of every closed sprint of the projects (decision 1), by project
    id, then metric, then the sprint's local start date: one query for all the projects."""
    values: dict[int, dict[str, dict[dt.date, Decimal]]] = {
        project_id: {metric: {} for metric in SPRINT_METRICS} for project_id in project_ids
    }
    if not project_ids:
        return values
    for sprint in flow.sprint_figures_unsafe(
        project_ids=project_ids, states=(Sprint.State.CLOSED.value,)
    ):
        (day,) = periods.sprint_start_dates([sprint.start], time_zones[sprint.project_id])
        own = values[sprint.project_id]
        own[KPI.FlowMetric.VELOCITY.value][day] = _rounded(sprint.completed_points)
        if sprint.say_do is not None:
            own[KPI.FlowMetric.SAY_DO.value][day] = _rounded(sprint.say_do)
    return values


def period_values_unsafe(
    *, project: Project, metric: str, cadence: str, today: dt.date
) -> dict[dt.date, Decimal]:
    """Cycle time p85 or throughput of the project's last complete periods (decision 2),
    by period start: one query per period."""
    starts = periods.previous_period_starts(cadence, today, HISTORY_PERIODS[cadence])
    values: dict[dt.date, Decimal] = {}
    started = False
    for start in starts:
        report = flow.cycle_times_unsafe(
            project_id=project.pk, start=start, end=periods.next_period_start(cadence, start)
        )
        started = started or report.count > 0
        if not started:
            continue
        if metric == KPI.FlowMetric.THROUGHPUT:
            values[start] = Decimal(report.count)
        elif report.p85 is not None:
            values[start] = _rounded(report.p85)
    return values
