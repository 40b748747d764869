"""Members pages: who holds which role on a portfolio or a project; grant and revoke.

Thin views: the scope comes from the permission-checked selectors (404 for what the user may
not see); writes go through `role_grant` / `role_revoke`, which raise PermissionDenied (403)
when the user may see the scope but not manage it. With htmx, only the `members-table` region
is rendered; without JavaScript, a write answers with a redirect and a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from governance.forms import RoleGrantForm
from governance.roles import GROUP_NAMES
from governance.selectors import (
    member_management_allowed,
    role_assignment_get,
    role_assignment_list,
)
from governance.services import role_grant, role_revoke
from portfolio.selectors import portfolio_get, project_get

if TYPE_CHECKING:
    from portfolio.models import Portfolio, Project

TEMPLATE = "governance/members.html"


@dataclass(frozen=True)
class Scope:
    """The portfolio or the project whose members a page shows."""

    portfolio: Portfolio | None
    project: Project | None
    name: str
    members_url: str
    detail_url: str

    @classmethod
    def of_portfolio(cls, request: HttpRequest, slug: str) -> Scope:
        portfolio = portfolio_get(user=request.user, slug=slug)
        return cls(
            portfolio=portfolio,
            project=None,
            name=portfolio.name,
            members_url=reverse("governance:portfolio-members", args=[portfolio.slug]),
            detail_url=reverse("portfolio:portfolio-detail", args=[portfolio.slug]),
        )

    @classmethod
    def of_project(cls, request: HttpRequest, key: str) -> Scope:
        project = project_get(user=request.user, key=key)
        return cls(
            portfolio=None,
            project=project,
            name=f"{project.key} {project.name}",
            members_url=reverse("governance:project-members", args=[project.key]),
            detail_url=reverse("portfolio:project-detail", args=[project.key]),
        )

    @property
    def on_project(self) -> bool:
        return self.project is not None


def _members_response(
    request: HttpRequest, scope: Scope, *, form: RoleGrantForm | None = None, notice: str = ""
) -> TemplateResponse:
    can_manage = member_management_allowed(
        user=request.user, portfolio=scope.portfolio, project=scope.project
    )
    if can_manage and form is None:
        form = RoleGrantForm(on_project=scope.on_project)
    context = {
        "portfolio": scope.portfolio,
        "project": scope.project,
        "scope_name": scope.name,
        "scope_url": scope.detail_url,
        "members_url": scope.members_url,
        "assignments": role_assignment_list(
            user=request.user, portfolio=scope.portfolio, project=scope.project
        ),
        "can_manage": can_manage,
        "form": form if can_manage else None,
        "notice": notice,
    }
    template = f"{TEMPLATE}#members-table" if request.htmx else TEMPLATE
    return TemplateResponse(request, template, context)


def _done(request: HttpRequest, scope: Scope, notice: str) -> HttpResponse:
    """After a write: the fresh region for htmx, else a redirect carrying the message."""
    if request.htmx:
        return _members_response(request, scope, notice=notice)
    messages.success(request, notice)
    return redirect(scope.members_url)


def _members(request: HttpRequest, scope: Scope) -> HttpResponse:
    if request.method != "POST":
        return _members_response(request, scope)
    if not member_management_allowed(
        user=request.user, portfolio=scope.portfolio, project=scope.project
    ):
        # The service would refuse too; refusing first keeps the input unexamined.
        raise PermissionDenied("You may not manage the members of this scope.")
    form = RoleGrantForm(request.POST, on_project=scope.on_project)
    if form.is_valid():
        try:
            role_grant(
                actor=request.user,
                user=form.grantee,
                role=form.cleaned_data["role"],
                portfolio=scope.portfolio,
                project=scope.project,
            )
        except ValidationError as error:
            form.add_service_error(error)
    if not form.is_valid():
        return _members_response(request, scope, form=form)
    role = GROUP_NAMES[form.cleaned_data["role"]]
    return _done(request, scope, f"{form.grantee.get_username()} holds {role} on {scope.name}.")


def _revoke(request: HttpRequest, scope: Scope, assignment_id: int) -> HttpResponse:
    assignment = role_assignment_get(
        user=request.user,
        assignment_id=assignment_id,
        portfolio=scope.portfolio,
        project=scope.project,
    )
    role_revoke(actor=request.user, assignment=assignment)
    username, role = assignment.user.get_username(), GROUP_NAMES[assignment.role]
    return _done(request, scope, f"{username} no longer holds {role} on {scope.name}.")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def portfolio_members(request: HttpRequest, slug: str) -> HttpResponse:
    return _members(request, Scope.of_portfolio(request, slug))


@login_required
@require_POST
@vary_on_headers("HX-Request")
def portfolio_member_revoke(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    return _revoke(request, Scope.of_portfolio(request, slug), assignment_id)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def project_members(request: HttpRequest, key: str) -> HttpResponse:
    return _members(request, Scope.of_project(request, key))


@login_required
@require_POST
@vary_on_headers("HX-Request")
def project_member_revoke(request: HttpRequest, key: str, assignment_id: int) -> HttpResponse:
    return _revoke(request, Scope.of_project(request, key), assignment_id)
