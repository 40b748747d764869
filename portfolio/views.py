"""Portfolio pages: the user's portfolios, the portfolio dashboard, the project dashboard.

Thin views: every read goes through a selector that returns only what the user may see, so an
object the user may not see answers 404. Each page runs a fixed number of queries, whatever
the amount of history. The charts come from metrics.dashboards (selectors in, Plotly figures
and their table twins out); with htmx, a filter swaps only its region of the page, rendered
from the same template's partial, and the response varies on HX-Request.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from governance.selectors import member_management_allowed
from metrics import dashboards
from portfolio.selectors import (
    epic_list,
    portfolio_get,
    portfolio_list,
    project_get,
    team_membership_list,
    work_item_category_summary,
)

PORTFOLIO_TABLE = "projects-table"
"""The portfolio page's region that sorting and filtering swap (partial name = DOM id)."""


@login_required
@require_safe
def portfolio_list_view(request: HttpRequest) -> TemplateResponse:
    return TemplateResponse(
        request,
        "portfolio/portfolio_list.html",
        {"portfolios": portfolio_list(user=request.user)},
    )


@login_required
@require_safe
@vary_on_headers("HX-Request")
def portfolio_detail(request: HttpRequest, slug: str) -> TemplateResponse:
    """The portfolio dashboard: one row per project the user may see, sortable and
    filterable through the query string; an htmx request for the table gets only it."""
    portfolio = portfolio_get(user=request.user, slug=slug)
    board = dashboards.portfolio_board(
        user=request.user,
        portfolio=portfolio,
        filters=dashboards.parse_portfolio_filters(request.GET),
    )
    context = {
        "portfolio": portfolio,
        "board": board,
        "projects": [line.row for line in board.lines],
    }
    template = "portfolio/portfolio_detail.html"
    if request.htmx and request.htmx.target == PORTFOLIO_TABLE:
        return TemplateResponse(request, f"{template}#{PORTFOLIO_TABLE}", context)
    return TemplateResponse(
        request,
        template,
        {
            **context,
            "epics": epic_list(user=request.user, portfolio=portfolio),
            "can_manage_members": member_management_allowed(user=request.user, portfolio=portfolio),
        },
    )


@login_required
@require_safe
@vary_on_headers("HX-Request")
def project_detail(request: HttpRequest, key: str) -> TemplateResponse:
    """The project dashboard, evaluated at the project's metrics 'now' (its snapshot instant
    for imported data). An htmx request aimed at one region (HX-Target) gets only it."""
    project = project_get(user=request.user, key=key)
    clock = dashboards.Clock.of(project)
    filters = dashboards.parse_filters(request.GET, clock=clock)
    reads = dashboards.ProjectReads(user=request.user, project=project, clock=clock)
    region = request.htmx.target if request.htmx else None
    template = "portfolio/project_detail.html"
    if region in dashboards.PROJECT_REGIONS:
        context = dashboards.project_region(region, reads=reads, filters=filters)
        return TemplateResponse(
            request,
            f"{template}#{region}",
            {"project": project, "filters": filters, "clock": clock, **context},
        )
    category_summary = work_item_category_summary(user=request.user, project=project)
    return TemplateResponse(
        request,
        template,
        {
            "project": project,
            "filters": filters,
            "clock": clock,
            "sprints": reads.sprints,
            "category_summary": category_summary,
            "item_total": sum(row["item_count"] for row in category_summary),
            "points_total": sum(row["points"] for row in category_summary),
            "memberships": team_membership_list(user=request.user, project=project),
            "can_manage_members": member_management_allowed(user=request.user, project=project),
            **dashboards.project_dashboard(reads=reads, filters=filters),
        },
    )
