"""Writes of the governance app, the one module other apps call: the decision log (audit),
role grants, policies, recommendations and approvals.

Every service checks the actor's right first, changes state in one transaction and writes its
decision-log entry inside that same transaction, so an action and its record stand or fall
together. The decision log itself lives in governance.decision_log, policies in
governance.policies, recommendations in governance.recommendations; they are re-exported here.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from governance.decision_log import decision_record
from governance.models import DecisionKind, RoleAssignment
from governance.policies import PolicyConflict, policy_create, policy_update, provider_allowed
from governance.recommendations import (
    RecommendationConflict,
    recommendation_approve,
    recommendation_decide,
    recommendation_expire_due,
    recommendation_propose,
    recommendation_reject,
    recommendation_request_changes,
)
from governance.roles import GROUP_NAMES, PORTFOLIO_ROLE_PERMISSIONS, PROJECT_ROLE_PERMISSIONS
from portfolio.models import Portfolio, Project
from portfolio.permissions import (
    PortfolioPermission,
    ProjectPermission,
    forget_cached_permissions,
    has_portfolio_permission,
    has_project_permission,
)

__all__ = [
    "PolicyConflict",
    "RecommendationConflict",
    "decision_record",
    "policy_create",
    "policy_update",
    "provider_allowed",
    "recommendation_approve",
    "recommendation_decide",
    "recommendation_expire_due",
    "recommendation_propose",
    "recommendation_reject",
    "recommendation_request_changes",
    "role_grant",
    "role_revoke",
]


def _check_can_manage(
    actor: AbstractBaseUser, portfolio: Portfolio | None, project: Project | None
) -> None:
    if project is not None:
        allowed = has_project_permission(actor, ProjectPermission.MANAGE_MEMBERS, project)
    else:
        allowed = has_portfolio_permission(actor, PortfolioPermission.MANAGE_MEMBERS, portfolio)
    if not allowed:
        raise PermissionDenied("You may not manage the members of this scope.")


def _permissions_for(role: str, *, on_project: bool) -> tuple[str, ...]:
    table = PROJECT_ROLE_PERMISSIONS if on_project else PORTFOLIO_ROLE_PERMISSIONS
    if role not in table:
        scope = "a project" if on_project else "a portfolio"
        allowed = ", ".join(GROUP_NAMES[name] for name in table)
        raise ValidationError({"role": f"This role cannot be granted on {scope}; use {allowed}."})
    return tuple(str(permission) for permission in table[role])


def _scope_label(portfolio: Portfolio | None, project: Project | None) -> str:
    return f"project:{project.key}" if project is not None else f"portfolio:{portfolio.slug}"


@transaction.atomic
def role_grant(
    *,
    actor: AbstractBaseUser,
    user: AbstractBaseUser,
    role: str,
    portfolio: Portfolio | None = None,
    project: Project | None = None,
) -> RoleAssignment:
    """Give `user` a role on one portfolio or one project. Granting twice is a no-op."""
    if (portfolio is None) == (project is None):
        raise ValidationError("Grant a role on exactly one portfolio or one project.")
    _check_can_manage(actor, portfolio, project)
    permissions = _permissions_for(role, on_project=project is not None)
    assignment, created = RoleAssignment.objects.get_or_create(
        user=user, role=role, portfolio=portfolio, project=project, defaults={"granted_by": actor}
    )
    if not created:
        return assignment
    target = project if project is not None else portfolio
    for permission in permissions:
        assign_perm(permission, user, target)
    forget_cached_permissions(user)
    group, _ = Group.objects.get_or_create(name=GROUP_NAMES[role])
    user.groups.add(group)
    scope = _scope_label(portfolio, project)
    decision_record(
        kind=DecisionKind.ROLE_CHANGE,
        actor=actor,
        portfolio=portfolio if portfolio is not None else project.portfolio,
        subject=scope,
        summary=f"Granted {GROUP_NAMES[role]} on {scope} to {user.get_username()}",
        outputs={"user": user.get_username(), "role": role, "scope": scope, "granted": True},
    )
    return assignment


@transaction.atomic
def role_revoke(*, actor: AbstractBaseUser, assignment: RoleAssignment) -> None:
    """Take a role back, keeping any permission that another role of the user still grants."""
    assignment = (
        RoleAssignment.objects.select_for_update(of=("self",))
        .select_related("user", "portfolio", "project__portfolio")
        .get(pk=assignment.pk)
    )
    portfolio, project, user = assignment.portfolio, assignment.project, assignment.user
    _check_can_manage(actor, portfolio, project)
    on_project = project is not None
    target = project if on_project else portfolio
    assignment.delete()
    remaining = RoleAssignment.objects.filter(user=user, portfolio=portfolio, project=project)
    still_granted = {
        permission
        for other in remaining
        for permission in _permissions_for(other.role, on_project=on_project)
    }
    for permission in _permissions_for(assignment.role, on_project=on_project):
        if permission not in still_granted:
            remove_perm(permission, user, target)
    forget_cached_permissions(user)
    if not RoleAssignment.objects.filter(user=user, role=assignment.role).exists():
        user.groups.remove(*Group.objects.filter(name=GROUP_NAMES[assignment.role]))
    scope = _scope_label(portfolio, project)
    decision_record(
        kind=DecisionKind.ROLE_CHANGE,
        actor=actor,
        portfolio=portfolio if portfolio is not None else project.portfolio,
        subject=scope,
        summary=f"Revoked {GROUP_NAMES[assignment.role]} on {scope} from {user.get_username()}",
        outputs={
            "user": user.get_username(),
            "role": assignment.role,
            "scope": scope,
            "granted": False,
        },
    )
