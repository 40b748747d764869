"""Reads of the governance app, filtered by what the requesting user may see."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from governance.models import RoleAssignment
from portfolio.models import Portfolio, Project
from portfolio.permissions import (
    PortfolioPermission,
    ProjectPermission,
    has_portfolio_permission,
    has_project_permission,
)

AnyUser = AbstractBaseUser | AnonymousUser


def role_assignment_list(
    *, user: AbstractBaseUser, portfolio: Portfolio | None = None, project: Project | None = None
) -> QuerySet[RoleAssignment]:
    """Roles held on a scope the caller already resolved through a permission-checked selector.

    For a project, the list includes the roles held on its portfolio (they apply to it too).
    """
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
