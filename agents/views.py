"""Agent pages: the runs list (filters, usage and cost per portfolio), one run with its live
progress and result, and starting a run from the dashboards.

Thin views over the selectors (a run the user may not read is 404) and the engine's service
`agent_run_request` (which authorizes, checks the scope, dedupes a pending risk scan and
enqueues the run after commit). Its PermissionDenied becomes a 403 page, its ValidationError
field errors on the start form.

Live progress is htmx polling, no websocket: a pending run's status region
(`agents/partials/run_status.html`, id `run-status-<id>`) carries `hx-trigger="every 1s"`;
each poll returns the region again, and once the run has finished, without the trigger, with
the result panel: polling stops by itself. Every htmx request has a plain-HTTP twin (the
region's URL is the run's page; the start buttons are a form that redirects to it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers

from agents.filters import AgentRunFilter
from agents.forms import AgentRunStartForm
from agents.models import AgentRun, RunKind
from agents.selectors import (
    agent_run_get,
    agent_run_list,
    agent_run_progress,
    agent_run_result,
    agent_run_start_allowed,
    agent_run_start_portfolios,
    agent_run_usage,
    recommendation_visible,
)
from agents.services import agent_run_request
from portfolio.permissions import visible_projects
from portfolio.selectors import portfolio_get

PAGE_SIZE = 50
RESULTS_REGION = "agent-run-results"
STATUS_TEMPLATE = "agents/partials/run_status.html"


def run_status_context(request: HttpRequest, run: AgentRun, **extra: Any) -> dict[str, Any]:
    """What the status region (progress, then the result panel) needs; no query beyond the
    permission answers cached on the user."""
    progress = agent_run_progress(run)
    context: dict[str, Any] = {
        "run": run,
        "progress": progress,
        "result": None,
        **extra,
    }
    if progress.finished:
        context.update(
            result=agent_run_result(run),
            show_recommendation=run.recommendation_id is not None
            and recommendation_visible(user=request.user, run=run),
            decision_log_url=decision_log_url(run),
            memory_heading_id=f"run-{run.pk}-memory",
            duration_seconds=(
                (run.finished_at - run.started_at).total_seconds()
                if run.started_at and run.finished_at
                else None
            ),
        )
    return context


def decision_log_url(run: AgentRun) -> str:
    """The decision log page filtered down to the run's entry (the log has no page per
    entry): its portfolio, the agent-run kind, the entry's day and the phrase of its subject,
    `agent_run:<id>`, through the log's full-text search."""
    if run.decision_id is None:
        return ""
    day = timezone.localdate(run.decision.created_at).isoformat()
    query = {
        "portfolio": run.portfolio.slug,
        "kind": "agent_run",
        "since": day,
        "until": day,
        "q": f'"agent_run:{run.pk}"',
    }
    return f"{reverse('governance:decision-log')}?{urlencode(query)}"


@login_required
@require_safe
@vary_on_headers("HX-Request")
def run_list(request: HttpRequest) -> HttpResponse:
    """Runs the user may read, filtered, newest first, with usage and cost per portfolio of
    the runs the filters select."""
    runs = AgentRunFilter(request.GET, queryset=agent_run_list(user=request.user), request=request)
    valid = runs.is_valid()
    queryset = runs.qs if valid else agent_run_list(user=request.user).none()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filter": runs,
        "page": page,
        "query": query.urlencode(),
        "filters_active": any(value for name, value in request.GET.items() if name != "page"),
        "usage": agent_run_usage(user=request.user, runs=queryset),
    }
    template = "agents/run_list.html"
    if request.htmx and request.htmx.target == RESULTS_REGION:
        return TemplateResponse(request, f"{template}#{RESULTS_REGION}", context)
    context["start_portfolios"] = list(agent_run_start_portfolios(user=request.user))
    return TemplateResponse(request, template, context)


@login_required
@require_safe
@vary_on_headers("HX-Request")
@never_cache
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run; an htmx request (the 1-second poll) gets its status region only."""
    run = agent_run_get(user=request.user, run_id=run_id)
    context = run_status_context(request, run)
    if request.htmx:
        return TemplateResponse(request, STATUS_TEMPLATE, context)
    return TemplateResponse(request, "agents/run_detail.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def run_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a run on a portfolio (the dashboards' buttons post here; GET shows the same as a
    form). PMO leaders of the portfolio only: anyone else who sees it gets 403."""
    portfolio = portfolio_get(user=request.user, slug=slug)
    if not agent_run_start_allowed(user=request.user, portfolio=portfolio):
        raise PermissionDenied("Only a PMO leader of this portfolio may start agent runs.")
    projects = visible_projects(request.user).filter(portfolio=portfolio).order_by("key")
    form = AgentRunStartForm(request.POST if request.method == "POST" else None, projects=projects)
    if request.method == "POST" and form.is_valid():
        try:
            run, created = agent_run_request(
                actor=request.user,
                kind=form.cleaned_data["kind"],
                portfolio=portfolio,
                project=form.cleaned_data["project"],
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            notice = _start_notice(run, created)
            if request.htmx:
                run = agent_run_get(user=request.user, run_id=run.pk)
                return TemplateResponse(
                    request, STATUS_TEMPLATE, run_status_context(request, run, notice=notice)
                )
            messages.success(request, notice)
            return redirect("agents:run-detail", run_id=run.pk)
    context = {"portfolio": portfolio, "form": form}
    if request.htmx:
        return TemplateResponse(request, "agents/run_start.html#run-start-errors", context)
    return TemplateResponse(request, "agents/run_start.html", context)


def _start_notice(run: AgentRun, created: bool) -> str:
    scope = run.project.key if run.project_id else run.portfolio.name
    if created:
        return f"{run.get_kind_display()} of {scope} queued (run #{run.pk})."
    if run.kind == RunKind.RISK_SCAN:
        return f"A risk scan of {scope} is already pending (run #{run.pk}): following it."
    return f"{run.get_kind_display()} of {scope} was already requested (run #{run.pk})."
