"""The REST API, mounted at /api/ by pmo/urls.py, with no URL namespace.

URL names (reverse them without a namespace):
- `portfolio-list`, `portfolio-detail` (slug): router basename "portfolio";
- `project-list`, `project-detail` (key): router basename "project";
- `api-token`: POST username + password, get a token for `Authorization: Token <key>`;
- `api-schema`: the OpenAPI 3 document; `api-docs`: Swagger UI over it.

Apps add their viewsets to `router` here; the router's root view lists them at /api/.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from portfolio.api import PortfolioViewSet, ProjectViewSet

router = DefaultRouter()
router.register("portfolios", PortfolioViewSet, basename="portfolio")
router.register("projects", ProjectViewSet, basename="project")

urlpatterns: list[URLPattern | URLResolver] = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
]
