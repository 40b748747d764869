"""REST API of the flow metrics: read-only, thin, the numbers of `metrics.selectors`.

Each view resolves its project, sprint or portfolio among what the caller may see (Http404,
hence a JSON 404, for missing and forbidden alike, as in portfolio.api), validates its query
parameters with an input serializer (a bad one is a 400 naming it) and renders the
selector's frozen dataclasses with an output serializer. Defaults that depend on "now" (the
periods, the forecast's today) are taken at the project's metrics now
(`project.metrics_now(timezone.now())`), so an imported snapshot answers as of its instant.

URL parameters are plain strings (as the router's lenient lookups): a malformed key or
sprint id reaches the view and gets the same JSON 404 as an unknown one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics import selectors
from metrics.forecasting import DEFAULT_SEED
from metrics.serializers import (
    AgingWipOutputSerializer,
    BurndownOutputSerializer,
    CumulativeFlowOutputSerializer,
    CycleTimeOutputSerializer,
    EpicRankingOutputSerializer,
    ForecastInputSerializer,
    HowManyForecastOutputSerializer,
    PeriodInputSerializer,
    PortfolioSummaryOutputSerializer,
    SprintReportOutputSerializer,
    ThroughputOutputSerializer,
    WhenForecastOutputSerializer,
)
from metrics.snapshots import local_today
from portfolio.models import Project
from portfolio.selectors import portfolio_get, project_get
from portfolio.serializers import ErrorOutputSerializer

CYCLE_TIME_DEFAULT_DAYS = 90
THROUGHPUT_DEFAULT_WEEKS = 12
CUMULATIVE_FLOW_DEFAULT_DAYS = 30
MAX_ID = 2**63 - 1  # BigAutoField

_NOT_FOUND = OpenApiResponse(
    ErrorOutputSerializer,
    description="Not found, or not visible to you: the API does not tell the two apart.",
)
_BAD_REQUEST = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Invalid parameter: parameter name -> messages."
)
_KEY = OpenApiParameter(
    "key", OpenApiTypes.STR, OpenApiParameter.PATH, description="Project key, e.g. PAY"
)
_SLUG = OpenApiParameter(
    "slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="Portfolio slug, e.g. payments"
)
_SPRINT_ID = OpenApiParameter(
    "sprint_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Sprint id"
)

Period = tuple[dt.date, dt.date]


def _project_today(project: Project) -> dt.date:
    """The project's local day at its metrics now: what default periods end with."""
    return local_today(project, project.metrics_now(timezone.now()))


def _period(request: Request, project: Project, default: Callable[[dt.date], Period]) -> Period:
    params = PeriodInputSerializer(
        data=request.query_params, context={"default": default(_project_today(project))}
    )
    params.is_valid(raise_exception=True)
    return params.validated_data["start"], params.validated_data["end"]


def _last_days(days: int) -> Callable[[dt.date], Period]:
    """The `days` local days up to and including today."""
    return lambda today: (today + dt.timedelta(days=1 - days), today + dt.timedelta(days=1))


def _last_complete_weeks(today: dt.date) -> Period:
    """The last complete ISO weeks before the current one, as on the portfolio dashboard."""
    this_monday = today - dt.timedelta(days=today.weekday())
    return this_monday - dt.timedelta(weeks=THROUGHPUT_DEFAULT_WEEKS), this_monday


def _sprint_pk(value: str) -> int:
    """The sprint id of the URL; anything that cannot be one is a 404 like an unknown id
    (a number beyond the column's range would otherwise reach the database and fail)."""
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        raise Http404("No such sprint.")
    return int(value)


class ProjectSprintListApi(APIView):
    @extend_schema(
        operation_id="projects_sprints_list",
        summary="Sprint report of a project",
        description="The active and closed sprints, oldest first, with committed, completed "
        "(velocity), added and removed scope, say/do and rolling velocity (METRICS.md "
        '"Sprint figures").',
        parameters=[_KEY],
        responses={200: SprintReportOutputSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, key: str) -> Response:
        project = project_get(user=request.user, key=key)
        sprints = selectors.sprint_summaries(user=request.user, project=project)
        body = {
            "project": project.key,
            "rolling_window": selectors.ROLLING_VELOCITY_SPRINTS,
            "sprints": sprints,
        }
        return Response(SprintReportOutputSerializer(body).data)


class SprintBurndownApi(APIView):
    @extend_schema(
        operation_id="sprints_burndown_retrieve",
        summary="Burndown of a sprint",
        description="Remaining points at the end of each local day of the sprint, with the "
        "ideal line and the day's added, removed and re-estimated points.",
        parameters=[_SPRINT_ID],
        responses={200: BurndownOutputSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, sprint_id: str) -> Response:
        sprint = selectors.sprint_get(user=request.user, sprint_id=_sprint_pk(sprint_id))
        burndown = selectors.sprint_burndown(user=request.user, sprint=sprint)
        body = {"project": sprint.project.key, "burndown": burndown}
        return Response(BurndownOutputSerializer(body).data)


class ProjectCycleTimeApi(APIView):
    @extend_schema(
        operation_id="projects_cycle_time_retrieve",
        summary="Cycle and lead times of a project",
        description="The items done in the local period [start, end) with their cycle and "
        "lead times in days, and the p50/p85/p95. Default period: the last "
        f"{CYCLE_TIME_DEFAULT_DAYS} days up to and including the project's today.",
        parameters=[_KEY, PeriodInputSerializer],
        responses={200: CycleTimeOutputSerializer, 400: _BAD_REQUEST, 404: _NOT_FOUND},
    )
    def get(self, request: Request, key: str) -> Response:
        project = project_get(user=request.user, key=key)
        start, end = _period(request, project, _last_days(CYCLE_TIME_DEFAULT_DAYS))
        report = selectors.cycle_times(user=request.user, project=project, start=start, end=end)
        body = {"project": project.key, "start": start, "end": end, "report": report}
        return Response(CycleTimeOutputSerializer(body).data)


class ProjectThroughputApi(APIView):
    @extend_schema(
        operation_id="projects_throughput_retrieve",
        summary="Weekly throughput of a project",
        description="Items done per ISO week (Monday) over the local period [start, end), "
        f"weeks with none as 0. Default: the last {THROUGHPUT_DEFAULT_WEEKS} complete weeks "
        "(the current week left out, as on the portfolio dashboard).",
        parameters=[_KEY, PeriodInputSerializer],
        responses={200: ThroughputOutputSerializer, 400: _BAD_REQUEST, 404: _NOT_FOUND},
    )
    def get(self, request: Request, key: str) -> Response:
        project = project_get(user=request.user, key=key)
        start, end = _period(request, project, _last_complete_weeks)
        weeks = selectors.throughput(user=request.user, project=project, start=start, end=end)
        body = {
            "project": project.key,
            "start": start,
            "end": end,
            "total": sum(week.count for week in weeks),
            "weeks": weeks,
        }
        return Response(ThroughputOutputSerializer(body).data)


class ProjectCumulativeFlowApi(APIView):
    @extend_schema(
        operation_id="projects_cfd_retrieve",
        summary="Cumulative flow of a project",
        description="Items per status category at the end of each local day of [start, end). "
        f"Default: the last {CUMULATIVE_FLOW_DEFAULT_DAYS} days up to and including today.",
        parameters=[_KEY, PeriodInputSerializer],
        responses={200: CumulativeFlowOutputSerializer, 400: _BAD_REQUEST, 404: _NOT_FOUND},
    )
    def get(self, request: Request, key: str) -> Response:
        project = project_get(user=request.user, key=key)
        start, end = _period(request, project, _last_days(CUMULATIVE_FLOW_DEFAULT_DAYS))
        days = selectors.cumulative_flow(user=request.user, project=project, start=start, end=end)
        body = {"project": project.key, "start": start, "end": end, "days": days}
        return Response(CumulativeFlowOutputSerializer(body).data)


class ProjectAgingWipApi(APIView):
    @extend_schema(
        operation_id="projects_aging_wip_retrieve",
        summary="Aging work in progress of a project",
        description="The items in progress, oldest first, with their age in days, and the "
        "cycle-time percentiles of the items done in the 90 days before to compare with.",
        parameters=[_KEY],
        responses={200: AgingWipOutputSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, key: str) -> Response:
        project = project_get(user=request.user, key=key)
        aging = selectors.wip_aging(user=request.user, project=project)
        return Response(AgingWipOutputSerializer({"project": project.key, "aging": aging}).data)


_FORECAST_RESPONSE = PolymorphicProxySerializer(
    component_name="Forecast",
    serializers={"when": WhenForecastOutputSerializer, "how_many": HowManyForecastOutputSerializer},
    resource_type_field_name="kind",
)


class ProjectForecastApi(APIView):
    @extend_schema(
        operation_id="projects_forecast_retrieve",
        summary="Monte Carlo forecast for a project",
        description="`?remaining=N`: by which dates 50%, 85% and 95% of 10,000 trials "
        "finished N items (kind `when`). `?date=YYYY-MM-DD`: how many items at least 50%, 85% "
        "and 95% of trials completed by the end of that day (kind `how_many`). Neither: when "
        "the project's open items will be done. Samples: daily throughput of the last 90 "
        "days; with too little history the answer is `available: false` with the reason.",
        parameters=[_KEY, ForecastInputSerializer],
        responses={200: _FORECAST_RESPONSE, 400: _BAD_REQUEST, 404: _NOT_FOUND},
    )
    def get(self, request: Request, key: str) -> Response:
        project = project_get(user=request.user, key=key)
        params = ForecastInputSerializer(
            data=request.query_params, context={"today": _project_today(project)}
        )
        params.is_valid(raise_exception=True)
        seed = params.validated_data.get("seed", DEFAULT_SEED)
        until = params.validated_data.get("date")
        if until is not None:
            forecast = selectors.forecast_how_many(
                user=request.user, project=project, until=until, seed=seed
            )
            body = {"kind": "how_many", "project": project.key, "forecast": forecast}
            return Response(HowManyForecastOutputSerializer(body).data)
        when = selectors.forecast_when(
            user=request.user,
            project=project,
            remaining=params.validated_data.get("remaining"),
            seed=seed,
        )
        body = {"kind": "when", "project": project.key, "forecast": when}
        return Response(WhenForecastOutputSerializer(body).data)


class PortfolioSummaryApi(APIView):
    @extend_schema(
        operation_id="portfolios_summary_retrieve",
        summary="Portfolio dashboard figures",
        description="One row per project the caller may see: health (RAG) with its reasons, "
        "velocity of the last closed sprints, last say/do, cycle-time p85, throughput of the "
        "last 8 complete weeks, the forecast of the open items against the target date, and "
        "the open risk signals; plus the portfolio totals.",
        parameters=[_SLUG],
        responses={200: PortfolioSummaryOutputSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        portfolio = portfolio_get(user=request.user, slug=slug)
        dashboard = selectors.portfolio_dashboard(user=request.user, portfolio=portfolio)
        return Response(PortfolioSummaryOutputSerializer(dashboard).data)


class PortfolioEpicRankingApi(APIView):
    @extend_schema(
        operation_id="portfolios_epics_list",
        summary="WSJF ranking of a portfolio's epics",
        description="The open epics by WSJF (cost of delay / job size), highest first; ties "
        "by lower job size, then older creation.",
        parameters=[_SLUG],
        responses={200: EpicRankingOutputSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        portfolio = portfolio_get(user=request.user, slug=slug)
        epics = selectors.epic_ranking(user=request.user, portfolio=portfolio)
        body = {"portfolio": portfolio.slug, "epics": epics}
        return Response(EpicRankingOutputSerializer(body).data)
