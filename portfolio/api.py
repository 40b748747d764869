"""REST API of the portfolio app: read-only, thin, scoped by the selectors.

Every queryset comes from a selector called with `request.user`, and detail lookups run on that
same scoped queryset; so a portfolio or project the caller may not see answers 404 exactly like
one that does not exist, never 403 (DESIGN.md, "Permissions"). Authentication and the
IsAuthenticated default come from REST_FRAMEWORK in settings.

Lookups keep DRF's lenient URL pattern on purpose: a malformed slug or key then reaches the
view and gets DRF's JSON 404, not Django's HTML one from an unmatched URL.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import viewsets

from portfolio.filters import ProjectFilter
from portfolio.models import Portfolio, Project
from portfolio.selectors import portfolio_list, project_list
from portfolio.serializers import (
    ErrorOutputSerializer,
    PortfolioOutputSerializer,
    ProjectOutputSerializer,
)

_NOT_FOUND = "Not found, or not visible to you: the API does not tell the two apart."
_NOT_FOUND_RESPONSE = OpenApiResponse(ErrorOutputSerializer, description=_NOT_FOUND)


@extend_schema_view(
    list=extend_schema(
        summary="List portfolios",
        description="The portfolios the caller may see, by name.",
    ),
    retrieve=extend_schema(
        summary="Get one portfolio",
        description=f"One portfolio by slug. {_NOT_FOUND}",
        parameters=[
            OpenApiParameter(
                "slug",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="Portfolio slug, e.g. payments",
            )
        ],
        responses={200: PortfolioOutputSerializer, 404: _NOT_FOUND_RESPONSE},
    ),
)
class PortfolioViewSet(viewsets.ReadOnlyModelViewSet):
    """Portfolios (router basename "portfolio": `portfolio-list`, `portfolio-detail`)."""

    serializer_class = PortfolioOutputSerializer
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Portfolio]:
        return portfolio_list(user=self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="List projects",
        description=(
            "The projects the caller may see, by key, with their work-item counts. An unknown "
            "status, or a portfolio the caller cannot see, is a 400 naming the parameter."
        ),
        responses={
            200: ProjectOutputSerializer(many=True),
            400: OpenApiResponse(
                OpenApiTypes.OBJECT, description="Invalid filter: parameter name -> messages."
            ),
        },
    ),
    retrieve=extend_schema(
        summary="Get one project",
        description=f"One project by key (case-insensitive). {_NOT_FOUND}",
        parameters=[
            OpenApiParameter(
                "key", OpenApiTypes.STR, OpenApiParameter.PATH, description="Project key, e.g. PAY"
            )
        ],
        responses={200: ProjectOutputSerializer, 404: _NOT_FOUND_RESPONSE},
    ),
)
class ProjectViewSet(viewsets.ReadOnlyModelViewSet):
    """Projects (router basename "project": `project-list`, `project-detail`)."""

    serializer_class = ProjectOutputSerializer
    filterset_class = ProjectFilter
    lookup_field = "key"

    def get_queryset(self) -> QuerySet[Project]:
        return project_list(user=self.request.user)

    def get_object(self) -> Project:
        """Keys are stored in capitals; accept `pay` for `PAY` as `project_get` does."""
        self.kwargs[self.lookup_field] = self.kwargs[self.lookup_field].upper()
        return super().get_object()
