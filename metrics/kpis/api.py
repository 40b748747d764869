"""REST API of KPIs: definitions, measurements, history.

Thin, like the rest of the API: every queryset comes from metrics.kpis.selectors with
`request.user` (a KPI the caller may not read is 404, the same as a missing one); every write
goes through metrics.kpis.services, which checks the right (403 on a readable KPI), validates
(400 with the forms' field messages) and records the change with its history and decision-log
entry. A correction sends the `version` it read: if the value changed since, the answer is
409 with the current value and who set it, and nothing is written.

Routes (router basenames "kpi" and "kpi-measurement"):
- GET/POST /api/kpis/ (?project=KEY, ?portfolio=slug, ?active=true|false), GET/PATCH
  /api/kpis/{id}/;
- GET/POST /api/kpis/{id}/measurements/, GET /api/kpis/{id}/history/;
- GET/PATCH /api/kpi-measurements/{id}/, GET /api/kpi-measurements/{id}/history/.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
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
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from governance.selectors import user_find
from metrics.kpis import selectors, services
from metrics.kpis.serializers import (
    ConflictOutputSerializer,
    KpiCreateInputSerializer,
    KpiListInputSerializer,
    KpiOutputSerializer,
    KpiUpdateInputSerializer,
    MeasurementCreateInputSerializer,
    MeasurementOutputSerializer,
    MeasurementUpdateInputSerializer,
    RevisionOutputSerializer,
)
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from portfolio.models import Portfolio, Project
from portfolio.permissions import visible_portfolios, visible_projects
from portfolio.serializers import ErrorOutputSerializer


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource changed since you read it; reload it and try again."
    default_code = "conflict"


_NOT_FOUND = OpenApiResponse(
    ErrorOutputSerializer,
    description="Not found, or not visible to you: the API does not tell the two apart.",
)
_FORBIDDEN = OpenApiResponse(
    ErrorOutputSerializer, description="Visible to you, but not yours to change."
)
_BAD_REQUEST = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Invalid input: field name -> messages."
)
_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


def _owner(data: dict[str, Any]) -> dict[str, Any]:
    """The owner username as a user (400 naming the field when there is none)."""
    if "owner" not in data:
        return data
    username = data.pop("owner") or ""
    if not username:
        return {**data, "owner": None}
    user = user_find(username=username)
    if user is None:
        raise ApiValidationError({"owner": [f"No active user '{username}'."]})
    return {**data, "owner": user}


def _visible_project(user: AbstractBaseUser, key: str, field: str = "project") -> Project:
    project = visible_projects(user).select_related("portfolio").filter(key=key.upper()).first()
    if project is None:
        raise ApiValidationError({field: [f"No project '{key}' visible to you."]})
    return project


def _visible_portfolio(user: AbstractBaseUser, slug: str, field: str = "portfolio") -> Portfolio:
    portfolio = visible_portfolios(user).filter(slug=slug).first()
    if portfolio is None:
        raise ApiValidationError({field: [f"No portfolio '{slug}' visible to you."]})
    return portfolio


def _paginated(view: viewsets.GenericViewSet, queryset: QuerySet, serializer: type) -> Response:
    page = view.paginate_queryset(queryset)
    if page is not None:
        return view.get_paginated_response(serializer(page, many=True).data)
    return Response(serializer(queryset, many=True).data)


# --- definitions -------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List KPIs",
        description="KPIs the caller may read (a project's with the project; a portfolio's "
        "own with a role on the portfolio), each with its latest value and RAG status. "
        "An unknown or invisible project / portfolio filter is a 400 naming the parameter.",
        parameters=[KpiListInputSerializer],
        responses={200: KpiOutputSerializer(many=True), 400: _BAD_REQUEST},
    ),
    retrieve=extend_schema(
        summary="Get one KPI",
        parameters=[_ID],
        responses={200: KpiOutputSerializer, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary="Define a KPI",
        description="PMO leaders of the portfolio. Give `project` (key) for a project KPI or "
        "`portfolio` (slug) for a portfolio KPI. Thresholds run from the target towards worse "
        "values (higher is better: red <= amber <= target). A computed KPI fills itself from "
        "the work-item history at once.",
        request=KpiCreateInputSerializer,
        responses={201: KpiOutputSerializer, 400: _BAD_REQUEST, 403: _FORBIDDEN},
    ),
    partial_update=extend_schema(
        summary="Change a KPI's definition",
        description="PMO leaders of the portfolio. With `version`, a definition changed since "
        "is refused with 409. Logged with the old and new values.",
        parameters=[_ID],
        request=KpiUpdateInputSerializer,
        responses={
            200: KpiOutputSerializer,
            400: _BAD_REQUEST,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: OpenApiResponse(ErrorOutputSerializer, description="Changed since `version`."),
        },
    ),
)
class KpiViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """KPI definitions (router basename "kpi"); PATCH only, no PUT, no DELETE (retire a KPI
    with `active: false`: its history stays)."""

    serializer_class = KpiOutputSerializer
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[KPI]:
        queryset = selectors.with_latest(selectors.kpi_list(user=self.request.user))
        if self.action != "list":
            return queryset
        filters = KpiListInputSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        if data.get("project"):
            queryset = queryset.filter(project=_visible_project(self.request.user, data["project"]))
        if data.get("portfolio"):
            queryset = queryset.filter(
                portfolio=_visible_portfolio(self.request.user, data["portfolio"])
            )
        if data.get("active") is not None:
            queryset = queryset.filter(active=data["active"])
        return queryset

    def _output(self, kpi: KPI) -> dict[str, Any]:
        return KpiOutputSerializer(self.get_queryset().get(pk=kpi.pk)).data

    def create(self, request: Request) -> Response:
        payload = KpiCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = _owner(dict(payload.validated_data))
        project_key, portfolio_slug = data.pop("project", None), data.pop("portfolio", None)
        project = _visible_project(request.user, project_key) if project_key else None
        portfolio = _visible_portfolio(request.user, portfolio_slug) if portfolio_slug else None
        kpi = services.kpi_create(actor=request.user, project=project, portfolio=portfolio, **data)
        return Response(self._output(kpi), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        kpi = self.get_object()
        payload = KpiUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = _owner(dict(payload.validated_data))
        version = data.pop("version", None)
        try:
            updated = services.kpi_update(actor=request.user, kpi=kpi, version=version, **data)
        except services.KpiConflict as conflict:
            raise Conflict(str(conflict)) from conflict
        return Response(self._output(updated))

    @extend_schema(
        methods=["GET"],
        summary="List a KPI's values",
        description="Oldest period first.",
        parameters=[_ID],
        responses={200: MeasurementOutputSerializer(many=True), 404: _NOT_FOUND},
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a value for a period",
        description="Team leads of the project and PMO leaders of the portfolio. Refused with "
        "400 and field messages: not a number, outside the KPI's allowed range, a period that "
        "does not match the cadence (weekly: Monday; monthly: the 1st; quarterly: 1 Jan/Apr/"
        "Jul/Oct; per sprint: a sprint's start date), in the future, or already holding a "
        "value (correct that one instead). Computed and retired KPIs take no values.",
        parameters=[_ID],
        request=MeasurementCreateInputSerializer,
        responses={
            201: MeasurementOutputSerializer,
            400: _BAD_REQUEST,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    )
    @action(detail=True, methods=["get", "post"])
    def measurements(self, request: Request, pk: str | None = None) -> Response:
        kpi = self.get_object()
        if request.method == "GET":
            return _paginated(
                self,
                selectors.measurement_list(user=request.user, kpi=kpi),
                MeasurementOutputSerializer,
            )
        payload = MeasurementCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        measurement = services.kpi_measurement_record(
            actor=request.user, kpi=kpi, **payload.validated_data
        )
        measurement.kpi = kpi
        return Response(
            MeasurementOutputSerializer(measurement).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="A KPI's history",
        description="Every change of the KPI's values, newest first: who, when, old -> new, note.",
        parameters=[_ID],
        responses={200: RevisionOutputSerializer(many=True), 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        kpi = self.get_object()
        return _paginated(
            self, selectors.kpi_history(user=request.user, kpi=kpi), RevisionOutputSerializer
        )


# --- measurements ----------------------------------------------------------------------------


@extend_schema_view(
    retrieve=extend_schema(
        summary="Get one KPI value",
        parameters=[_ID],
        responses={200: MeasurementOutputSerializer, 404: _NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Correct a KPI value",
        description="Send the `version` you read. If someone changed the value since, the "
        "answer is 409 with the current value and who set it, and nothing is written. The old "
        "value stays in the history.",
        parameters=[_ID],
        request=MeasurementUpdateInputSerializer,
        responses={
            200: MeasurementOutputSerializer,
            400: _BAD_REQUEST,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: ConflictOutputSerializer,
        },
    ),
)
class KpiMeasurementViewSet(
    mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """KPI values (router basename "kpi-measurement"); corrections by PATCH with `version`."""

    serializer_class = MeasurementOutputSerializer
    filter_backends: list = []
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> KPIMeasurement:
        return selectors.measurement_get(user=self.request.user, measurement_id=self.kwargs["pk"])

    def get_queryset(self) -> QuerySet[KPIMeasurement]:  # the schema generator asks for it
        return KPIMeasurement.objects.none()

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        measurement = self.get_object()
        payload = MeasurementUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            corrected = services.kpi_measurement_correct(
                actor=request.user,
                measurement=measurement,
                value=data.get("value", measurement.value),
                note=data.get("note", measurement.note),
                version=data["version"],
            )
        except services.MeasurementConflict as conflict:
            current = conflict.current
            current.kpi = measurement.kpi
            body = {"detail": str(conflict), "current": MeasurementOutputSerializer(current).data}
            return Response(body, status=status.HTTP_409_CONFLICT)
        corrected.kpi = measurement.kpi
        return Response(MeasurementOutputSerializer(corrected).data)

    @extend_schema(
        summary="A KPI value's history",
        parameters=[_ID],
        responses={200: RevisionOutputSerializer(many=True), 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        measurement = self.get_object()
        revisions: QuerySet[KPIMeasurementRevision] = selectors.kpi_history(
            user=request.user, kpi=measurement.kpi, measurement=measurement
        )
        return _paginated(self, revisions, RevisionOutputSerializer)
