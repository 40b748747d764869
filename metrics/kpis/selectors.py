"""Reads of KPIs. Every function takes the requesting user and returns only what that user
may read (metrics.kpis.access); `*_get` raises Http404 for missing and forbidden alike.

Each runs a fixed number of queries whatever the number of KPIs or measurements: the
permission id sets (cached per user object), then one query per kind of row.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, OuterRef, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.http import Http404

from metrics.kpis.access import can_view_kpi, visible_kpi_filter
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from portfolio.models import Portfolio, Project
from portfolio.permissions import (
    PortfolioPermission,
    ProjectPermission,
    has_portfolio_permission,
    has_project_permission,
)

AnyUser = AbstractBaseUser | AnonymousUser

RECENT_MEASUREMENTS = 24
"""How many of each KPI's latest measurements a KPI table loads (trend and sparkline)."""


def kpi_list(
    *,
    user: AnyUser,
    project: Project | None = None,
    portfolio: Portfolio | None = None,
    portfolio_level: bool = False,
    active: bool | None = None,
) -> QuerySet[KPI]:
    """KPIs the user may read, by scope then name. `project`: that project's; `portfolio`:
    the portfolio's own and its projects' (only its own with `portfolio_level`)."""
    queryset = KPI.objects.filter(visible_kpi_filter(user)).select_related(
        "project", "portfolio", "owner"
    )
    if project is not None:
        queryset = queryset.filter(project=project)
    if portfolio is not None:
        queryset = queryset.filter(portfolio=portfolio)
    if portfolio_level:
        queryset = queryset.filter(project__isnull=True)
    if active is not None:
        queryset = queryset.filter(active=active)
    return queryset.order_by("portfolio__name", F("project__key").asc(nulls_first=True), "name")


def with_latest(queryset: QuerySet[KPI]) -> QuerySet[KPI]:
    """Annotate each KPI with its latest measurement (`latest_id`, `latest_period`,
    `latest_value`), in the same query (index measurement_kpi_latest)."""
    latest = KPIMeasurement.objects.filter(kpi=OuterRef("pk")).order_by("-period_start")
    return queryset.annotate(
        latest_id=Subquery(latest.values("pk")[:1]),
        latest_period=Subquery(latest.values("period_start")[:1]),
        latest_value=Subquery(latest.values("value")[:1]),
    )


def kpi_get(*, user: AnyUser, kpi_id: int | str) -> KPI:
    try:
        return kpi_list(user=user).get(pk=int(kpi_id))
    except (KPI.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such KPI.") from None


def project_for_kpis(*, user: AnyUser, project: Project) -> Project:
    """The project itself if the user may see it (its KPIs are then readable), else 404."""
    if not has_project_permission(user, ProjectPermission.VIEW, project):
        raise Http404("No such project.")
    return project


def portfolio_for_kpis(*, user: AnyUser, portfolio: Portfolio) -> Portfolio:
    """The portfolio if the user holds a role on it (who reads portfolio KPIs), else 404."""
    if not has_portfolio_permission(user, PortfolioPermission.VIEW, portfolio):
        raise Http404("No such portfolio.")
    return portfolio


def measurement_list(*, user: AnyUser, kpi: KPI) -> QuerySet[KPIMeasurement]:
    """The KPI's measurements, oldest period first."""
    if not can_view_kpi(user, kpi):
        raise Http404("No such KPI.")
    return (
        KPIMeasurement.objects.filter(kpi=kpi)
        .select_related("entered_by", "kpi")
        .order_by("period_start")
    )


def measurement_get(*, user: AnyUser, measurement_id: int | str) -> KPIMeasurement:
    try:
        return (
            KPIMeasurement.objects.filter(kpi__in=KPI.objects.filter(visible_kpi_filter(user)))
            .select_related("kpi__project", "kpi__portfolio", "entered_by")
            .get(pk=int(measurement_id))
        )
    except (KPIMeasurement.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such measurement.") from None


def kpi_history(
    *, user: AnyUser, kpi: KPI, measurement: KPIMeasurement | None = None
) -> QuerySet[KPIMeasurementRevision]:
    """Every change of the KPI's measurements (or of one of them), newest first."""
    if not can_view_kpi(user, kpi):
        raise Http404("No such KPI.")
    queryset = KPIMeasurementRevision.objects.filter(kpi=kpi)
    if measurement is not None:
        queryset = queryset.filter(measurement=measurement)
    return queryset.select_related("changed_by").order_by("-changed_at", "-id")


def recent_measurements(
    *, user: AnyUser, kpis: list[KPI], per_kpi: int = RECENT_MEASUREMENTS
) -> dict[int, list[KPIMeasurement]]:
    """The latest `per_kpi` measurements of each KPI, oldest first, by KPI id: one query (a
    window function numbers each KPI's measurements from the latest period)."""
    readable = [kpi.pk for kpi in kpis if can_view_kpi(user, kpi)]
    found: dict[int, list[KPIMeasurement]] = {kpi.pk: [] for kpi in kpis}
    if not readable:
        return found
    rows = (
        KPIMeasurement.objects.filter(kpi_id__in=readable)
        .annotate(
            recency=Window(
                RowNumber(), partition_by=[F("kpi_id")], order_by=F("period_start").desc()
            )
        )
        .filter(recency__lte=per_kpi)
        .select_related("entered_by")
        .order_by("kpi_id", "period_start")
    )
    for row in rows:
        found[row.kpi_id].append(row)
    return found
