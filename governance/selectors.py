"""Reads of the governance app, filtered by what the requesting user may see."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.postgres.search import SearchQuery
from django.db.models import CharField, Count, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.http import Http404
from django.utils import timezone

from governance.decision_log import ChainVerification, chains_verify
from governance.models import (
    PENDING_STATES,
    SEARCH_CONFIG,
    Approval,
    ApprovalDecision,
    DecisionKind,
    DecisionLog,
    Policy,
    Recommendation,
    RoleAssignment,
    decision_search_vector,
)
from portfolio.models import Epic, Portfolio, Project
from portfolio.permissions import (
    PortfolioPermission,
    ProjectPermission,
    has_portfolio_permission,
    has_project_permission,
    portfolio_ids_with,
    portfolios_with,
    project_ids_with,
    visible_portfolio_ids,
    visible_portfolios,
    visible_projects,
)
from portfolio.selectors import epic_list

AnyUser = AbstractBaseUser | AnonymousUser


def role_assignment_list(
    *, user: AbstractBaseUser, portfolio: Portfolio | None = None, project: Project | None = None
) -> QuerySet[RoleAssignment]:
    """Roles held on a scope the user may see (Http404 otherwise, like every selector).

    For a project, the list includes the roles held on its portfolio (they apply to it too).
    """
    if project is not None:
        visible = user.is_superuser or project.pk in project_ids_with(user, ProjectPermission.VIEW)
    else:
        visible = user.is_superuser or portfolio.pk in visible_portfolio_ids(user)
    if not visible:
        raise Http404("No such scope.")
    queryset = RoleAssignment.objects.select_related("user", "portfolio", "project", "granted_by")
    if project is not None:
        return queryset.filter(Q(project=project) | Q(portfolio_id=project.portfolio_id))
    return queryset.filter(portfolio=portfolio)


def role_assignment_get(
    *,
    user: AbstractBaseUser,
    assignment_id: int,
    portfolio: Portfolio | None = None,
    project: Project | None = None,
) -> RoleAssignment:
    """A role held directly on the scope (already resolved through a permission-checked
    selector); Http404 when it does not exist or belongs to another scope."""
    if (portfolio is None) == (project is None):
        raise ValueError("Pass exactly one of portfolio or project.")
    scope = {"project": project} if project is not None else {"portfolio": portfolio}
    try:
        return RoleAssignment.objects.select_related("user").get(pk=assignment_id, **scope)
    except RoleAssignment.DoesNotExist:
        raise Http404("No such role assignment.") from None


def member_management_allowed(
    *, user: AnyUser, portfolio: Portfolio | None = None, project: Project | None = None
) -> bool:
    """Whether the user may grant and revoke roles on the scope (the services enforce it)."""
    if project is not None:
        return has_project_permission(user, ProjectPermission.MANAGE_MEMBERS, project)
    if portfolio is not None:
        return has_portfolio_permission(user, PortfolioPermission.MANAGE_MEMBERS, portfolio)
    return False


def user_find(*, username: str) -> AbstractBaseUser | None:
    """The active user with exactly this username, or None."""
    user_model = get_user_model()
    return user_model.objects.filter(
        **{user_model.USERNAME_FIELD: username}, is_active=True
    ).first()


# --- decision log ----------------------------------------------------------------------------


def decision_log_portfolios(*, user: AnyUser) -> QuerySet[Portfolio]:
    """Portfolios whose whole decision log the user may read: a portfolio-level view right
    (a team lead of one project reads only the entries about that project)."""
    if not user.is_authenticated:
        return Portfolio.objects.none()
    if user.is_superuser:
        return Portfolio.objects.all()
    return portfolios_with(user, PortfolioPermission.VIEW)


def _visible_decisions(user: AnyUser) -> QuerySet[DecisionLog]:
    if not user.is_authenticated:
        return DecisionLog.objects.none()
    if user.is_superuser:
        return DecisionLog.objects.all()
    project_subjects = visible_projects(user).annotate(
        subject_label=Concat(Value("project:"), "key", output_field=CharField())
    )
    return DecisionLog.objects.filter(
        Q(portfolio__in=portfolios_with(user, PortfolioPermission.VIEW).values("pk"))
        | Q(portfolio__isnull=False, subject__in=project_subjects.values("subject_label"))
    )


@dataclass(frozen=True)
class DecisionFilters:
    """The decision log's filters, parsed from a query string (unknown values are ignored)."""

    portfolio: str = ""
    kind: str = ""
    actor: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    q: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> DecisionFilters:
        def date(name: str) -> dt.date | None:
            try:
                return dt.date.fromisoformat(params.get(name, "").strip())
            except ValueError:
                return None

        kind = params.get("kind", "").strip()
        return cls(
            portfolio=params.get("portfolio", "").strip()[:60],
            kind=kind if kind in DecisionKind.values else "",
            actor=params.get("actor", "").strip()[:150],
            since=date("since"),
            until=date("until"),
            q=params.get("q", "").strip()[:200],
        )

    def query_string(self) -> str:
        """The filters as a query string (for export and pagination links)."""
        values = {
            "portfolio": self.portfolio,
            "kind": self.kind,
            "actor": self.actor,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "q": self.q,
        }
        return urlencode({name: value for name, value in values.items() if value})

    @property
    def active(self) -> bool:
        return bool(self.query_string())


def decision_log_list(
    *, user: AnyUser, filters: DecisionFilters | None = None
) -> QuerySet[DecisionLog]:
    """Entries the user may read, newest first, filtered: portfolio slug ("global" for the
    entries without one), kind, actor (username or agent label, case-insensitive part),
    local dates since / until (inclusive), and `q`, a web-search style full-text query
    (PostgreSQL, over summary, rationale, subject and actor label, GIN-indexed)."""
    filters = filters or DecisionFilters()
    queryset = _visible_decisions(user).select_related("portfolio")
    if filters.portfolio == "global":
        queryset = queryset.filter(portfolio__isnull=True)
    elif filters.portfolio:
        queryset = queryset.filter(portfolio__slug=filters.portfolio)
    if filters.kind:
        queryset = queryset.filter(kind=filters.kind)
    if filters.actor:
        queryset = queryset.filter(actor_label__icontains=filters.actor)
    zone = timezone.get_current_timezone()
    if filters.since:
        start = dt.datetime.combine(filters.since, dt.time.min, tzinfo=zone)
        queryset = queryset.filter(created_at__gte=start)
    if filters.until:
        end = dt.datetime.combine(filters.until + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        queryset = queryset.filter(created_at__lt=end)
    if filters.q:
        query = SearchQuery(filters.q, search_type="websearch", config=SEARCH_CONFIG)
        queryset = queryset.annotate(search=decision_search_vector()).filter(search=query)
    return queryset.order_by("-created_at", "-id")


def decision_get(*, user: AnyUser, decision_id: int) -> DecisionLog:
    try:
        return _visible_decisions(user).select_related("portfolio").get(pk=decision_id)
    except DecisionLog.DoesNotExist:
        raise Http404("No such decision.") from None


@dataclass(frozen=True)
class ChainStatus:
    """A chain's verification, as the decision log page shows it."""

    name: str
    slug: str
    verification: ChainVerification


def decision_chain_status_list(*, user: AnyUser) -> list[ChainStatus]:
    """Recompute the chain of every portfolio whose log the user may read (and the global
    chain, for superusers), in one streamed query."""
    portfolios = list(decision_log_portfolios(user=user).order_by("name"))
    ids: list[int | None] = [portfolio.pk for portfolio in portfolios]
    if user.is_authenticated and user.is_superuser:
        ids.append(None)
    results = chains_verify(portfolio_ids=ids)
    statuses = [
        ChainStatus(portfolio.name, portfolio.slug, results[portfolio.pk])
        for portfolio in portfolios
    ]
    if None in ids:
        statuses.append(ChainStatus("Global (no portfolio)", "global", results[None]))
    return statuses


# --- policies --------------------------------------------------------------------------------


def policy_list(*, user: AnyUser, portfolio: Portfolio | None = None) -> QuerySet[Policy]:
    """Policies of the portfolios the user may see (readers included: rules are public to
    those they govern)."""
    queryset = Policy.objects.filter(portfolio__in=visible_portfolios(user)).select_related(
        "portfolio", "created_by"
    )
    if portfolio is not None:
        queryset = queryset.filter(portfolio=portfolio)
    return queryset.order_by("portfolio__name", "kind")


def policy_get(*, user: AnyUser, policy_id: int, portfolio: Portfolio | None = None) -> Policy:
    try:
        return policy_list(user=user, portfolio=portfolio).get(pk=policy_id)
    except Policy.DoesNotExist:
        raise Http404("No such policy.") from None


def policy_edit_allowed(*, user: AnyUser, portfolio: Portfolio) -> bool:
    return has_portfolio_permission(user, PortfolioPermission.CHANGE, portfolio)


# --- recommendations -------------------------------------------------------------------------


def recommendation_portfolios(*, user: AnyUser) -> QuerySet[Portfolio]:
    """Portfolios whose recommendations the user works with: PMO leaders (change right,
    they propose) and executives (approve right, they decide)."""
    if not user.is_authenticated:
        return Portfolio.objects.none()
    if user.is_superuser:
        return Portfolio.objects.all()
    return Portfolio.objects.filter(
        Q(pk__in=portfolios_with(user, PortfolioPermission.CHANGE).values("pk"))
        | Q(pk__in=portfolios_with(user, PortfolioPermission.APPROVE_PRIORITIZATION).values("pk"))
    )


def approval_portfolios(*, user: AnyUser) -> QuerySet[Portfolio]:
    if not user.is_authenticated:
        return Portfolio.objects.none()
    if user.is_superuser:
        return Portfolio.objects.all()
    return portfolios_with(user, PortfolioPermission.APPROVE_PRIORITIZATION)


def proposal_portfolios(*, user: AnyUser) -> QuerySet[Portfolio]:
    if not user.is_authenticated:
        return Portfolio.objects.none()
    if user.is_superuser:
        return Portfolio.objects.all()
    return portfolios_with(user, PortfolioPermission.CHANGE)


def recommendation_list(
    *,
    user: AnyUser,
    portfolio: Portfolio | None = None,
    states: Iterable[str] | None = None,
) -> QuerySet[Recommendation]:
    """Recommendations of the portfolios the user works with (see recommendation_portfolios;
    anyone else, viewers included, sees none), newest first, with their approval count."""
    queryset = (
        Recommendation.objects.filter(portfolio__in=recommendation_portfolios(user=user))
        .select_related("portfolio", "proposed_by")
        .annotate(
            approval_count=Count(
                "approvals", filter=Q(approvals__decision=ApprovalDecision.APPROVE)
            )
        )
    )
    if portfolio is not None:
        queryset = queryset.filter(portfolio=portfolio)
    if states is not None:
        queryset = queryset.filter(state__in=list(states))
    return queryset.order_by("-created_at", "-id")


def recommendation_get(*, user: AnyUser, recommendation_id: int) -> Recommendation:
    """One recommendation; Http404 when missing or not the user's to see."""
    try:
        return recommendation_list(user=user).get(pk=recommendation_id)
    except Recommendation.DoesNotExist:
        raise Http404("No such recommendation.") from None


def approval_list(*, recommendation: Recommendation) -> QuerySet[Approval]:
    """The decisions on a recommendation the caller already resolved (oldest first)."""
    return Approval.objects.filter(recommendation=recommendation).select_related("approver")


def inbox_available(*, user: AnyUser) -> bool:
    """The approvals inbox is for those who propose or decide somewhere."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or bool(
        portfolio_ids_with(user, PortfolioPermission.CHANGE)
        | portfolio_ids_with(user, PortfolioPermission.APPROVE_PRIORITIZATION)
    )


@dataclass(frozen=True)
class Inbox:
    """What the approvals inbox shows one user."""

    to_decide: list[Recommendation]
    waiting_on_others: list[Recommendation]
    recently_decided: list[Recommendation]
    proposal_portfolios: list[Portfolio]


def inbox(*, user: AnyUser, recent: int = 10) -> Inbox:
    """Pending recommendations the user may decide on (not their own), the other pending ones
    they can see (their proposals, or awaiting someone else), and the latest decided ones."""
    approvable = set(approval_portfolios(user=user).values_list("pk", flat=True))
    pending = list(recommendation_list(user=user, states=PENDING_STATES))
    to_decide = [
        rec for rec in pending if rec.portfolio_id in approvable and rec.proposed_by_id != user.pk
    ]
    decided_ids = {rec.pk for rec in to_decide}
    return Inbox(
        to_decide=to_decide,
        waiting_on_others=[rec for rec in pending if rec.pk not in decided_ids],
        recently_decided=list(
            recommendation_list(user=user).exclude(state__in=PENDING_STATES)[:recent]
        ),
        proposal_portfolios=list(proposal_portfolios(user=user).order_by("name")),
    )


def similar_decisions(
    *, user: AnyUser, recommendation: Recommendation, limit: int = 5
) -> list[Recommendation]:
    """Past decided recommendations of the same portfolio, newest first (the agents issue
    adds semantic memory; until then "similar" means "same portfolio")."""
    return list(
        recommendation_list(user=user, portfolio=recommendation.portfolio)
        .exclude(pk=recommendation.pk)
        .exclude(state__in=PENDING_STATES)[:limit]
    )


def epic_ranking_current(*, user: AnyUser, portfolio: Portfolio) -> list[Epic]:
    """The portfolio's epics in backlog order, as a proposer reorders them."""
    return list(epic_list(user=user, portfolio=portfolio).order_by("rank", "id"))
