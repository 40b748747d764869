"""KPI pages, added to the `metrics` URL namespace by metrics/urls.py.

URL names: `metrics:kpi-detail`, `kpi-history`, `kpi-csv`, `kpi-row`, `kpi-edit`,
`kpi-refresh` (KPI id); `measurement-add` (KPI id), `measurement-edit` (measurement id);
`kpi-create`, `project-kpi-trend`, `kpi-import` (project key); `portfolio-kpis`,
`portfolio-kpi-create` (portfolio slug).
"""

from __future__ import annotations

from django.urls import path

from metrics.kpis import views

urlpatterns = [
    path("kpis/<int:kpi_id>/", views.kpi_detail, name="kpi-detail"),
    path("kpis/<int:kpi_id>/history/", views.kpi_history, name="kpi-history"),
    path("kpis/<int:kpi_id>/values.csv", views.kpi_csv, name="kpi-csv"),
    path("kpis/<int:kpi_id>/row/", views.kpi_row, name="kpi-row"),
    path("kpis/<int:kpi_id>/edit/", views.kpi_edit, name="kpi-edit"),
    path("kpis/<int:kpi_id>/refresh/", views.kpi_refresh, name="kpi-refresh"),
    path("kpis/<int:kpi_id>/values/new/", views.measurement_add, name="measurement-add"),
    path("kpi-values/<int:measurement_id>/edit/", views.measurement_edit, name="measurement-edit"),
    path("projects/<str:key>/kpis/new/", views.kpi_create, name="kpi-create"),
    path("projects/<str:key>/kpis/trend/", views.project_kpi_trend, name="project-kpi-trend"),
    path("projects/<str:key>/kpis/import/", views.kpi_import, name="kpi-import"),
    path("portfolios/<slug:slug>/kpis/", views.portfolio_kpis, name="portfolio-kpis"),
    path(
        "portfolios/<slug:slug>/kpis/new/",
        views.portfolio_kpi_create,
        name="portfolio-kpi-create",
    ),
]
