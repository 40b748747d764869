"""API routes of KPIs, included by pmo/api_urls.py under /api/ (no namespace).

URL names: `kpi-list`, `kpi-detail`, `kpi-measurements`, `kpi-history` (KPI id);
`kpi-measurement-detail`, `kpi-measurement-history` (measurement id). A SimpleRouter: the API
root is pmo's router.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from metrics.kpis.api import KpiMeasurementViewSet, KpiViewSet

router = SimpleRouter()
router.register("kpis", KpiViewSet, basename="kpi")
router.register("kpi-measurements", KpiMeasurementViewSet, basename="kpi-measurement")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
