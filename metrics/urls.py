"""CSV downloads of the dashboards' charts: `metrics:<chart>-csv`, one per chart; the KPI
pages (metrics/kpis/urls.py)."""

from django.urls import path

from metrics import views
from metrics.dashboards import CSV_CHARTS
from metrics.kpis import urls as kpi_urls

app_name = "metrics"
urlpatterns = [
    path(
        "portfolios/<slug:slug>/projects.csv",
        views.portfolio_projects_csv,
        name="portfolio-csv",
    ),
    *(
        path(
            f"projects/<str:key>/charts/{chart}.csv",
            views.project_chart_csv,
            {"chart": chart},
            name=f"{chart}-csv",
        )
        for chart in CSV_CHARTS
    ),
    *kpi_urls.urlpatterns,
]
