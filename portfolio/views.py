"""Portfolio pages: the user's portfolios, one portfolio (projects and epics), one project.

Thin views: every read goes through a selector that returns only what the user may see, so an
object the user may not see answers 404. Each page runs a fixed number of queries.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from governance.selectors import member_management_allowed
from portfolio.selectors import (
    epic_list,
    portfolio_get,
    portfolio_list,
    project_get,
    project_list,
    sprint_list,
    team_membership_list,
    work_item_category_summary,
)


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
def portfolio_detail(request: HttpRequest, slug: str) -> TemplateResponse:
    portfolio = portfolio_get(user=request.user, slug=slug)
    return TemplateResponse(
        request,
        "portfolio/portfolio_detail.html",
        {
            "portfolio": portfolio,
            "projects": project_list(user=request.user, portfolio=portfolio),
            "epics": epic_list(user=request.user, portfolio=portfolio),
            "can_manage_members": member_management_allowed(user=request.user, portfolio=portfolio),
        },
    )


@login_required
@require_safe
def project_detail(request: HttpRequest, key: str) -> TemplateResponse:
    project = project_get(user=request.user, key=key)
    category_summary = work_item_category_summary(user=request.user, project=project)
    return TemplateResponse(
        request,
        "portfolio/project_detail.html",
        {
            "project": project,
            "sprints": sprint_list(user=request.user, project=project),
            "category_summary": category_summary,
            "item_total": sum(row["item_count"] for row in category_summary),
            "points_total": sum(row["points"] for row in category_summary),
            "memberships": team_membership_list(user=request.user, project=project),
            "can_manage_members": member_management_allowed(user=request.user, project=project),
        },
    )
