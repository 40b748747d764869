"""Reads of the governance app, filtered by what the requesting user may see."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from governance.models import RoleAssignment
from portfolio.models import Portfolio, Project


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
