"""Recommendations in the browser: the approvals inbox, one recommendation, deciding on it,
and proposing a new ranking.

Thin views over the selectors (404 for what the user may not see) and the services (which
decide and write). Each recommendation is one region, `recommendation-<id>`
(governance/partials/_recommendation.html): with htmx, "Review" expands it in place and a
decision swaps it for its new state; without JavaScript the same links and forms lead to the
recommendation's page, and writes answer with a redirect and a message.

Approving takes two steps (a confirmation that shows what the new ranking changes); rejecting
and requesting changes take one. A comment is required for all three.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from governance.forms import DecisionForm, RecommendationForm
from governance.models import ApprovalDecision, Recommendation
from governance.policies import Outcome
from governance.recommendations import decision_refusal, ranking_diff
from governance.selectors import (
    approval_list,
    epic_ranking_current,
    inbox,
    inbox_available,
    proposal_portfolios,
    recommendation_get,
    similar_decisions,
)
from governance.services import (
    RecommendationConflict,
    recommendation_decide,
    recommendation_propose,
)
from portfolio.selectors import portfolio_get

REGION_TEMPLATE = "governance/partials/_recommendation.html"
DONE_MESSAGES = {
    ApprovalDecision.APPROVE: "Approved.",
    ApprovalDecision.REJECT: "Rejected.",
    ApprovalDecision.REQUEST_CHANGES: "Changes requested from the proposer.",
}


def _in_inbox(request: HttpRequest) -> bool:
    """Whether an htmx request comes from the inbox page (its region then offers "Close")."""
    if not request.htmx or not request.htmx.current_url_abs_path:
        return False
    return request.htmx.current_url_abs_path.split("?")[0] == reverse("governance:inbox")


def _region_context(
    request: HttpRequest,
    recommendation: Recommendation,
    *,
    expanded: bool = True,
    form: DecisionForm | None = None,
    notice: str = "",
    error: str = "",
) -> dict[str, Any]:
    refusal = decision_refusal(user=request.user, recommendation=recommendation)
    context: dict[str, Any] = {
        "recommendation": recommendation,
        "expanded": expanded,
        "diff": ranking_diff(recommendation),
        "verdict_labels": Outcome.LABELS,
        "notice": notice,
        "error": error,
        "refusal": refusal,
        "can_decide": recommendation.pending and refusal is None,
        "form": form,
        "confirming": form is not None and form.needs_confirmation,
        "decisions": ApprovalDecision,
        "in_inbox": _in_inbox(request),
    }
    if expanded:
        context["approvals"] = list(approval_list(recommendation=recommendation))
        context["similar"] = similar_decisions(user=request.user, recommendation=recommendation)
    return context


def _render_region(request: HttpRequest, recommendation: Recommendation, **kwargs) -> HttpResponse:
    return TemplateResponse(
        request, REGION_TEMPLATE, _region_context(request, recommendation, **kwargs)
    )


def _detail_page(
    request: HttpRequest, recommendation: Recommendation, *, status: int = 200, **kwargs
) -> HttpResponse:
    return TemplateResponse(
        request,
        "governance/recommendation_detail.html",
        _region_context(request, recommendation, **kwargs),
        status=status,
    )


@login_required
@require_safe
def inbox_view(request: HttpRequest) -> HttpResponse:
    """Pending recommendations to decide on, the others pending, the latest decided. Only for
    users who propose or decide on some portfolio: anyone else gets 404."""
    if not inbox_available(user=request.user):
        raise Http404("No approvals here.")
    return TemplateResponse(
        request,
        "governance/inbox.html",
        {"inbox": inbox(user=request.user), "verdict_labels": Outcome.LABELS},
    )


@login_required
@require_safe
@vary_on_headers("HX-Request")
def recommendation_detail(request: HttpRequest, recommendation_id: int) -> HttpResponse:
    """One recommendation in full; an htmx request gets its expanded region only, and
    `?collapse=1` the collapsed row (the inbox's "Close")."""
    recommendation = recommendation_get(user=request.user, recommendation_id=recommendation_id)
    if request.htmx:
        return _render_region(request, recommendation, expanded=not request.GET.get("collapse"))
    return _detail_page(request, recommendation)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def recommendation_decide_view(request: HttpRequest, recommendation_id: int) -> HttpResponse:
    """Approve (after a confirmation step), reject or request changes, with a comment."""
    recommendation = recommendation_get(user=request.user, recommendation_id=recommendation_id)
    refusal = decision_refusal(user=request.user, recommendation=recommendation)
    if refusal is not None:
        # The service would refuse too; refusing first leaves the input unexamined.
        raise PermissionDenied(refusal)
    form = DecisionForm(request.POST)
    if not form.is_valid() or form.needs_confirmation:
        if request.htmx:
            return _render_region(request, recommendation, form=form)
        return _detail_page(request, recommendation, form=form)
    decision = form.cleaned_data["decision"]
    try:
        recommendation_decide(
            actor=request.user,
            recommendation=recommendation,
            decision=decision,
            comment=form.cleaned_data["comment"],
            version=form.cleaned_data["version"],
        )
    except ValidationError as error:
        form.add_error(None, error.messages)
        if request.htmx:
            return _render_region(request, recommendation, form=form)
        return _detail_page(request, recommendation, form=form)
    except RecommendationConflict as conflict:
        fresh = recommendation_get(user=request.user, recommendation_id=recommendation_id)
        if request.htmx:
            return _render_region(request, fresh, error=str(conflict))
        messages.error(request, str(conflict))
        return redirect("governance:recommendation-detail", recommendation_id)
    fresh = recommendation_get(user=request.user, recommendation_id=recommendation_id)
    notice = DONE_MESSAGES[decision]
    if decision == ApprovalDecision.APPROVE and fresh.pending:
        notice = (
            f"Approved ({fresh.approval_count} of {fresh.required_approvals}): another "
            "approver must approve too."
        )
    elif decision == ApprovalDecision.APPROVE:
        notice = f"Approved: the new ranking of {fresh.portfolio.name} is in effect."
    if request.htmx:
        return _render_region(request, fresh, notice=notice)
    messages.success(request, notice)
    return redirect("governance:recommendation-detail", recommendation_id)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def recommendation_create(request: HttpRequest, slug: str) -> HttpResponse:
    """A PMO leader reorders the portfolio's epics (a position per epic) and explains why."""
    portfolio = portfolio_get(user=request.user, slug=slug)
    if not proposal_portfolios(user=request.user).filter(pk=portfolio.pk).exists():
        raise PermissionDenied("Only a PMO leader of this portfolio may propose a ranking.")
    epics = epic_ranking_current(user=request.user, portfolio=portfolio)
    form = RecommendationForm(request.POST or None, epics=epics)
    if request.method == "POST" and form.is_valid():
        try:
            recommendation = recommendation_propose(
                actor=request.user,
                portfolio=portfolio,
                proposed_ranking=form.proposed_ranking(),
                rationale=form.cleaned_data["rationale"],
                confidence=form.cleaned_data["confidence"],
                evidence=form.cleaned_data["evidence"],
                expected_impact=form.cleaned_data["expected_impact"],
                expected_current=form.cleaned_data["snapshot"],
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            state = recommendation.get_state_display().lower()
            messages.success(
                request,
                f"Recommendation #{recommendation.pk} proposed ({state}); the executives of "
                f"{portfolio.name} will find it in their approvals inbox.",
            )
            return redirect(reverse("governance:recommendation-detail", args=[recommendation.pk]))
    return TemplateResponse(
        request,
        "governance/recommendation_create.html",
        {"portfolio": portfolio, "form": form, "epics": epics},
    )
