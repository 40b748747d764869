"""The KPI figures project health reads: each active KPI of many projects with its latest
measurement, in one query whatever the number of projects or measurements.

`*_unsafe` like metrics.flow: it takes project ids and checks nothing. metrics.snapshots
calls it for projects a selector has already resolved among the visible ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import OuterRef, Subquery

from metrics.kpis.rag import Status, kpi_status
from metrics.models import KPI, KPIMeasurement


@dataclass(frozen=True, slots=True)
class KpiFigure:
    """One KPI of a project with its latest value (None when never measured) and the
    status of that value against the KPI's thresholds (metrics.kpis.rag)."""

    kpi_id: int
    project_id: int
    name: str
    unit: str
    direction: str
    target: Decimal
    amber_threshold: Decimal
    red_threshold: Decimal
    period_start: dt.date | None
    value: Decimal | None
    status: Status

    @property
    def measured(self) -> bool:
        return self.value is not None


def kpi_figures_unsafe(*, project_ids: Sequence[int]) -> dict[int, tuple[KpiFigure, ...]]:
    """Active KPIs of the projects (by name) with their latest measurement, by project id
    (every id present, empty when a project has no KPI): one query. The latest measurement
    is the one with the latest period start (index measurement_kpi_latest)."""
    figures: dict[int, list[KpiFigure]] = {project_id: [] for project_id in project_ids}
    if not figures:
        return {}
    latest = KPIMeasurement.objects.filter(kpi=OuterRef("pk")).order_by("-period_start")
    rows = (
        KPI.objects.filter(project_id__in=list(figures), active=True)
        .annotate(
            latest_period=Subquery(latest.values("period_start")[:1]),
            latest_value=Subquery(latest.values("value")[:1]),
        )
        .order_by("project_id", "name", "pk")
        .values(
            "pk",
            "project_id",
            "name",
            "unit",
            "direction",
            "target",
            "amber_threshold",
            "red_threshold",
            "latest_period",
            "latest_value",
        )
    )
    for row in rows:
        figures[row["project_id"]].append(
            KpiFigure(
                kpi_id=row["pk"],
                project_id=row["project_id"],
                name=row["name"],
                unit=row["unit"],
                direction=row["direction"],
                target=row["target"],
                amber_threshold=row["amber_threshold"],
                red_threshold=row["red_threshold"],
                period_start=row["latest_period"],
                value=row["latest_value"],
                status=kpi_status(
                    direction=row["direction"],
                    value=row["latest_value"],
                    amber_threshold=row["amber_threshold"],
                    red_threshold=row["red_threshold"],
                ),
            )
        )
    return {project_id: tuple(items) for project_id, items in figures.items()}
