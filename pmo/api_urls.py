"""The REST API, mounted at /api/ by pmo/urls.py, with no URL namespace.

URL names (reverse them without a namespace):
- `portfolio-list`, `portfolio-detail` (slug): router basename "portfolio";
- `project-list`, `project-detail` (key): router basename "project";
- `api-token`: POST username + password, get a token for `Authorization: Token <key>`;
- `api-schema`: the OpenAPI 3 document; `api-docs`: Swagger UI over it;
- flow metrics (metrics.api), read-only: `project-sprints`, `project-cycle-time`,
  `project-throughput`, `project-cfd`, `project-aging-wip`, `project-forecast` (key),
  `sprint-burndown` (sprint id), `portfolio-summary`, `portfolio-epics` (slug);
- governance (governance.api_urls): recommendations, decisions, policies;
- KPIs (metrics.kpis.api_urls): `kpi-list`, `kpi-detail`, `kpi-measurements`, `kpi-history`,
  `kpi-measurement-detail`, `kpi-measurement-history`;
- agent runs (agents.api_urls): `agent-run-list` (GET; POST answers 202), `agent-run-detail`
  (id), `agent-run-usage`.

Apps add their viewsets to `router` here; the router's root view lists them at /api/.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from metrics.api import (
    PortfolioEpicRankingApi,
    PortfolioSummaryApi,
    ProjectAgingWipApi,
    ProjectCumulativeFlowApi,
    ProjectCycleTimeApi,
    ProjectForecastApi,
    ProjectSprintListApi,
    ProjectThroughputApi,
    SprintBurndownApi,
)
from portfolio.api import PortfolioViewSet, ProjectViewSet

router = DefaultRouter()
router.register("portfolios", PortfolioViewSet, basename="portfolio")
router.register("projects", ProjectViewSet, basename="project")

urlpatterns: list[URLPattern | URLResolver] = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
    # Flow metrics: nested under the router's resources; `str` converters, so a malformed key
    # or id gets the views' JSON 404 like the router's lenient lookups.
    path("projects/<str:key>/sprints/", ProjectSprintListApi.as_view(), name="project-sprints"),
    path(
        "projects/<str:key>/cycle-time/", ProjectCycleTimeApi.as_view(), name="project-cycle-time"
    ),
    path(
        "projects/<str:key>/throughput/",
        ProjectThroughputApi.as_view(),
        name="project-throughput",
    ),
    path("projects/<str:key>/cfd/", ProjectCumulativeFlowApi.as_view(), name="project-cfd"),
    path("projects/<str:key>/aging-wip/", ProjectAgingWipApi.as_view(), name="project-aging-wip"),
    path("projects/<str:key>/forecast/", ProjectForecastApi.as_view(), name="project-forecast"),
    path("sprints/<str:sprint_id>/burndown/", SprintBurndownApi.as_view(), name="sprint-burndown"),
    path("portfolios/<str:slug>/summary/", PortfolioSummaryApi.as_view(), name="portfolio-summary"),
    path("portfolios/<str:slug>/epics/", PortfolioEpicRankingApi.as_view(), name="portfolio-epics"),
    # Governance: recommendations, decisions, policies (see governance/api_urls.py).
    path("", include("governance.api_urls")),
    # Agent runs (see agents/api_urls.py).
    path("", include("agents.api_urls")),
    # KPIs: definitions, values, history (see metrics/kpis/api_urls.py).
    path("", include("metrics.kpis.api_urls")),
]
