"""REST API of the agent runs: start one (202 Accepted, it runs on a Celery worker), follow
it, list them, and read usage and cost per portfolio.

Thin: every queryset comes from `agents.selectors` called with `request.user` (a run the
caller may not read is 404, like a missing one); starting goes through the engine's service
`agent_run_request`, which authorizes (403 unless PMO leader of the portfolio), validates the
scope (400 with field errors) and enqueues the run after commit.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents.filters import AgentRunFilter
from agents.models import AgentRun
from agents.selectors import agent_run_get, agent_run_list, agent_run_usage
from agents.serializers import (
    AgentRunAcceptedSerializer,
    AgentRunCreateInputSerializer,
    AgentRunListOutputSerializer,
    AgentRunOutputSerializer,
    PortfolioUsageSerializer,
)
from agents.services import agent_run_request
from portfolio.permissions import visible_portfolios, visible_projects
from portfolio.serializers import ErrorOutputSerializer

_NOT_FOUND = OpenApiResponse(
    ErrorOutputSerializer,
    description="Not found, or not visible to you: the API does not tell the two apart.",
)
_FORBIDDEN = OpenApiResponse(
    ErrorOutputSerializer, description="Visible, but you are not a PMO leader of the portfolio."
)
_BAD_REQUEST = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Invalid input: field name -> messages."
)
_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Run id")


@extend_schema_view(
    list=extend_schema(
        summary="List agent runs",
        description="Runs the caller may read, newest first: every run of the portfolios they "
        "view as a whole, and the risk scans of the projects they see. Filters are validated "
        "(a bad one is a 400 naming it).",
        responses={200: AgentRunListOutputSerializer(many=True), 400: _BAD_REQUEST},
    ),
    retrieve=extend_schema(
        summary="Get one agent run",
        description="Status, progress steps, providers tried, result, the evidence its risks "
        "cite, the decision-log entry id and, for a prioritization, the recommendation id.",
        parameters=[_ID],
        responses={200: AgentRunOutputSerializer, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary="Start an agent run",
        description="PMO leaders of the portfolio. Answers 202 Accepted with the run's id at "
        "once; the run works on a Celery worker (follow it with GET /api/agent-runs/{id}/). "
        "A risk scan of a project that already has one pending returns that run "
        '(`"created": false`).',
        request=AgentRunCreateInputSerializer,
        responses={202: AgentRunAcceptedSerializer, 400: _BAD_REQUEST, 403: _FORBIDDEN},
    ),
)
class AgentRunViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Agent runs (router basename "agent-run")."""

    serializer_class = AgentRunOutputSerializer
    filterset_class = AgentRunFilter

    def get_queryset(self) -> QuerySet[AgentRun]:
        return agent_run_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "list":
            return AgentRunListOutputSerializer
        return AgentRunOutputSerializer

    def get_object(self) -> AgentRun:
        return agent_run_get(user=self.request.user, run_id=self.kwargs["pk"])

    def create(self, request: Request) -> Response:
        payload = AgentRunCreateInputSerializer(
            data=request.data,
            portfolios=visible_portfolios(request.user),
            projects=visible_projects(request.user),
        )
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        run, created = agent_run_request(
            actor=request.user,
            kind=data["kind"],
            portfolio=data["portfolio"],
            project=data.get("project"),
            idempotency_key=data.get("idempotency_key"),
        )
        url = reverse("agent-run-detail", args=[run.pk])
        body = {"id": run.pk, "status": run.status, "created": created, "url": url}
        return Response(
            AgentRunAcceptedSerializer(body).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )

    @extend_schema(
        summary="Agent usage and cost per portfolio",
        description="Runs, tokens and cost of the runs the caller may read, per portfolio and "
        "provider, this month (display time zone) and in total. Takes the list's filters.",
        responses={200: PortfolioUsageSerializer(many=True), 400: _BAD_REQUEST},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def usage(self, request: Request) -> Response:
        runs = self.filter_queryset(self.get_queryset())
        usage = agent_run_usage(user=request.user, runs=runs)
        return Response(PortfolioUsageSerializer(usage, many=True).data)
