"""A portfolio's policies (guardrails): everyone who sees the portfolio reads them; its PMO
leaders add and edit them through a form. Every change is logged by the services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from governance.forms import PolicyForm
from governance.policies import policy_describe
from governance.selectors import policy_edit_allowed, policy_get, policy_list
from governance.services import PolicyConflict, policy_create, policy_update
from portfolio.selectors import portfolio_get


def _check_can_edit(request: HttpRequest, portfolio) -> None:
    if not policy_edit_allowed(user=request.user, portfolio=portfolio):
        raise PermissionDenied("Only a PMO leader of this portfolio may change its policies.")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def policy_list_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The portfolio's policies; POST adds one (PMO leaders)."""
    portfolio = portfolio_get(user=request.user, slug=slug)
    can_edit = policy_edit_allowed(user=request.user, portfolio=portfolio)
    form = None
    if request.method == "POST":
        _check_can_edit(request, portfolio)
        form = PolicyForm(request.POST)
        if form.is_valid():
            try:
                policy = policy_create(
                    actor=request.user,
                    portfolio=portfolio,
                    kind=form.cleaned_data["kind"],
                    parameters=form.parameters(),
                    active=form.cleaned_data["active"],
                    description=form.cleaned_data["description"],
                )
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(
                    request, f"Policy added: {policy_describe(policy.kind, policy.parameters)}"
                )
                return redirect("governance:policy-list", portfolio.slug)
    elif can_edit:
        form = PolicyForm()
    policies = [
        (policy, policy_describe(policy.kind, policy.parameters))
        for policy in policy_list(user=request.user, portfolio=portfolio)
    ]
    return TemplateResponse(
        request,
        "governance/policy_list.html",
        {"portfolio": portfolio, "policies": policies, "form": form, "can_edit": can_edit},
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def policy_edit_view(request: HttpRequest, slug: str, policy_id: int) -> HttpResponse:
    """Change one policy's parameter, note or activity (PMO leaders)."""
    portfolio = portfolio_get(user=request.user, slug=slug)
    policy = policy_get(user=request.user, policy_id=policy_id, portfolio=portfolio)
    _check_can_edit(request, portfolio)
    form = PolicyForm(request.POST or None, policy=policy)
    if request.method == "POST" and form.is_valid():
        try:
            policy_update(
                actor=request.user,
                policy=policy,
                parameters=form.parameters(),
                active=form.cleaned_data["active"],
                description=form.cleaned_data["description"],
                version=form.cleaned_data["version"],
            )
        except ValidationError as error:
            form.add_service_error(error)
        except PolicyConflict as conflict:
            messages.error(request, str(conflict))
            return redirect("governance:policy-edit", portfolio.slug, policy.pk)
        else:
            messages.success(request, f"Policy {policy.get_kind_display()} saved.")
            return redirect("governance:policy-list", portfolio.slug)
    return TemplateResponse(
        request,
        "governance/policy_edit.html",
        {"portfolio": portfolio, "policy": policy, "form": form},
    )
