"""REST API of the governance app: recommendations (propose, decide), the decision log
(read-only, filtered, with chain verification) and policies.

Thin: every queryset comes from a selector called with `request.user` (an object the caller
may not see is 404, like a missing one); every write goes through a service, which checks the
caller's right (403), validates (400, field errors) and writes with its decision-log entry in
one transaction. A recommendation already decided, changed since the `version` sent, stale or
blocked by a policy is 409 Conflict, with nothing changed.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from governance.models import (
    PENDING_STATES,
    Approval,
    ApprovalDecision,
    DecisionLog,
    Policy,
    Recommendation,
)
from governance.selectors import (
    DecisionFilters,
    decision_chain_status_list,
    decision_log_list,
    policy_list,
    recommendation_list,
    recommendation_portfolios,
)
from governance.serializers import (
    ChainStatusSerializer,
    DecisionInputSerializer,
    DecisionListInputSerializer,
    DecisionOutputSerializer,
    PolicyCreateInputSerializer,
    PolicyOutputSerializer,
    PolicyUpdateInputSerializer,
    RecommendationCreateInputSerializer,
    RecommendationListInputSerializer,
    RecommendationOutputSerializer,
)
from governance.services import (
    PolicyConflict,
    RecommendationConflict,
    policy_create,
    policy_update,
    recommendation_decide,
    recommendation_propose,
)
from portfolio.permissions import visible_portfolios
from portfolio.serializers import ErrorOutputSerializer


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource changed; reload it and try again."
    default_code = "conflict"


_NOT_FOUND = OpenApiResponse(
    ErrorOutputSerializer,
    description="Not found, or not visible to you: the API does not tell the two apart.",
)
_FORBIDDEN = OpenApiResponse(ErrorOutputSerializer, description="Visible, but not yours to do.")
_CONFLICT = OpenApiResponse(
    ErrorOutputSerializer,
    description="Already decided, changed since `version`, expired, stale (the epics changed "
    "since the proposal) or blocked by a policy. Nothing was changed.",
)
_BAD_REQUEST = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Invalid input: field name -> messages."
)
_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


# --- recommendations -------------------------------------------------------------------------


def _decide(view: RecommendationViewSet, request: Request, decision: str) -> Response:
    recommendation = view.get_object()
    payload = DecisionInputSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    try:
        recommendation_decide(
            actor=request.user,
            recommendation=recommendation,
            decision=decision,
            comment=payload.validated_data["comment"],
            version=payload.validated_data.get("version"),
        )
    except RecommendationConflict as conflict:
        raise Conflict(str(conflict)) from conflict
    return Response(RecommendationOutputSerializer(view.get_object()).data)


_DECIDE_SCHEMA = {
    "request": DecisionInputSerializer,
    "responses": {
        200: RecommendationOutputSerializer,
        400: _BAD_REQUEST,
        403: _FORBIDDEN,
        404: _NOT_FOUND,
        409: _CONFLICT,
    },
    "parameters": [_ID],
}


@extend_schema_view(
    list=extend_schema(
        summary="List recommendations",
        description="Recommendations of the portfolios where the caller proposes (PMO leader) "
        "or decides (executive), newest first. Viewers see none.",
        parameters=[RecommendationListInputSerializer],
        responses={200: RecommendationOutputSerializer(many=True), 400: _BAD_REQUEST},
    ),
    retrieve=extend_schema(
        summary="Get one recommendation",
        parameters=[_ID],
        responses={200: RecommendationOutputSerializer, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary="Propose a reprioritization",
        description="PMO leaders of the portfolio. The portfolio's policies are evaluated; a "
        "block is a 400 naming the field. Supersedes the portfolio's pending recommendations.",
        request=RecommendationCreateInputSerializer,
        responses={201: RecommendationOutputSerializer, 400: _BAD_REQUEST, 403: _FORBIDDEN},
    ),
)
class RecommendationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Recommendations (router basename "recommendation")."""

    serializer_class = RecommendationOutputSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Recommendation]:
        queryset = recommendation_list(user=self.request.user).prefetch_related(
            Prefetch("approvals", queryset=Approval.objects.select_related("approver"))
        )
        if self.action != "list":
            return queryset
        filters = RecommendationListInputSerializer(
            data=self.request.query_params,
            portfolios=recommendation_portfolios(user=self.request.user),
        )
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        if data.get("portfolio") is not None:
            queryset = queryset.filter(portfolio=data["portfolio"])
        if data.get("state"):
            queryset = queryset.filter(state=data["state"])
        if data.get("pending") is True:
            queryset = queryset.filter(state__in=PENDING_STATES)
        elif data.get("pending") is False:
            queryset = queryset.exclude(state__in=PENDING_STATES)
        return queryset

    def create(self, request: Request) -> Response:
        payload = RecommendationCreateInputSerializer(
            data=request.data, portfolios=visible_portfolios(request.user)
        )
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        recommendation = recommendation_propose(
            actor=request.user,
            portfolio=data["portfolio"],
            proposed_ranking=data["proposed_ranking"],
            expected_current=data.get("expected_current"),
            rationale=data["rationale"],
            evidence=data.get("evidence", []),
            expected_impact=data.get("expected_impact", ""),
            confidence=data["confidence"],
        )
        created = self.get_queryset().get(pk=recommendation.pk)
        return Response(
            RecommendationOutputSerializer(created).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Approve a recommendation",
        description="Executives of the portfolio, never the proposer. With every required "
        "approval in, the proposed ranking is applied at once.",
        **_DECIDE_SCHEMA,
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return _decide(self, request, ApprovalDecision.APPROVE)

    @extend_schema(summary="Reject a recommendation", **_DECIDE_SCHEMA)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return _decide(self, request, ApprovalDecision.REJECT)

    @extend_schema(summary="Request changes to a recommendation", **_DECIDE_SCHEMA)
    @action(detail=True, methods=["post"], url_path="request-changes", url_name="request-changes")
    def request_changes(self, request: Request, pk: str | None = None) -> Response:
        return _decide(self, request, ApprovalDecision.REQUEST_CHANGES)


# --- decision log ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List decisions",
        description="Decision-log entries the caller may read, newest first: the portfolios "
        "they view (a team lead: entries about their project), global entries for superusers.",
        parameters=[DecisionListInputSerializer],
        responses={200: DecisionOutputSerializer(many=True), 400: _BAD_REQUEST},
    ),
    retrieve=extend_schema(
        summary="Get one decision",
        parameters=[_ID],
        responses={200: DecisionOutputSerializer, 404: _NOT_FOUND},
    ),
)
class DecisionViewSet(viewsets.ReadOnlyModelViewSet):
    """The decision log, read-only (router basename "decision")."""

    serializer_class = DecisionOutputSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[DecisionLog]:
        if self.action != "list":
            return decision_log_list(user=self.request.user)
        filters = DecisionListInputSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return decision_log_list(
            user=self.request.user, filters=DecisionFilters(**filters.validated_data)
        )

    @extend_schema(
        summary="Verify the decision log",
        description="Recompute the hash chain of every portfolio whose log the caller reads.",
        responses={200: ChainStatusSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def verification(self, request: Request) -> Response:
        chains = decision_chain_status_list(user=request.user)
        return Response(ChainStatusSerializer(chains, many=True).data)


# --- policies --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List policies",
        description="Policies of the portfolios the caller may see.",
        parameters=[
            OpenApiParameter(
                "portfolio", OpenApiTypes.STR, description="Only this portfolio's (slug)."
            )
        ],
    ),
    retrieve=extend_schema(
        summary="Get one policy",
        parameters=[_ID],
        responses={200: PolicyOutputSerializer, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary="Add a policy",
        description="PMO leaders of the portfolio; one policy per kind and portfolio.",
        request=PolicyCreateInputSerializer,
        responses={201: PolicyOutputSerializer, 400: _BAD_REQUEST, 403: _FORBIDDEN},
    ),
    partial_update=extend_schema(
        summary="Change a policy",
        description="PMO leaders of the portfolio. Logged with the old and new values.",
        parameters=[_ID],
        request=PolicyUpdateInputSerializer,
        responses={
            200: PolicyOutputSerializer,
            400: _BAD_REQUEST,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: OpenApiResponse(ErrorOutputSerializer, description="Changed since `version`."),
        },
    ),
)
class PolicyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Portfolio policies (router basename "policy"); PATCH only, no PUT."""

    serializer_class = PolicyOutputSerializer
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Policy]:
        queryset = policy_list(user=self.request.user)
        slug = self.request.query_params.get("portfolio")
        if self.action == "list" and slug:
            queryset = queryset.filter(portfolio__slug=slug)
        return queryset

    def create(self, request: Request) -> Response:
        payload = PolicyCreateInputSerializer(
            data=request.data, portfolios=visible_portfolios(request.user)
        )
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        policy = policy_create(
            actor=request.user,
            portfolio=data["portfolio"],
            kind=data["kind"],
            parameters=data["parameters"],
            active=data["active"],
            description=data.get("description", ""),
        )
        return Response(PolicyOutputSerializer(policy).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        policy = self.get_object()
        payload = PolicyUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            updated = policy_update(
                actor=request.user,
                policy=policy,
                parameters=data.get("parameters"),
                active=data.get("active"),
                description=data.get("description"),
                version=data.get("version"),
            )
        except PolicyConflict as conflict:
            raise Conflict(str(conflict)) from conflict
        return Response(PolicyOutputSerializer(updated).data)
