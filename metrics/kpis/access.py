"""Who may read, record and define which KPI: the issue's permission rules on top of
portfolio.permissions (answers cached per user object there, so a page asking about ten KPIs
pays for one query per permission, not ten).

- Read: a project KPI with its project (`ProjectPermission.VIEW`: viewers, executives, PMO
  leaders of the portfolio, the project's team lead); a portfolio KPI with a role held on
  the portfolio itself (`PortfolioPermission.VIEW`), so a team lead of one project does not
  read the portfolio-wide figures.
- Record and correct measurements, import a CSV: `UPDATE_KPIS` on the project (the team
  lead of that project; PMO leaders through the portfolio) or, for a portfolio KPI, on the
  portfolio (PMO leaders).
- Define KPIs (create, edit, retire): `PortfolioPermission.CHANGE` on the KPI's portfolio
  (PMO leaders), for the portfolio's own KPIs and its projects' alike.

Anything not readable answers 404 (selectors); readable but not writable answers 403.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from metrics.models import KPI
from portfolio.models import Portfolio, Project
from portfolio.permissions import (
    PortfolioPermission,
    ProjectPermission,
    has_portfolio_permission,
    has_project_permission,
    portfolio_ids_with,
    project_ids_with,
)

AnyUser = AbstractBaseUser | AnonymousUser


def visible_kpi_filter(user: AnyUser) -> Q:
    """The KPIs `user` may read, as a filter on KPI (evaluates two cached id sets)."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    return Q(project_id__in=project_ids_with(user, ProjectPermission.VIEW)) | Q(
        project__isnull=True,
        portfolio_id__in=portfolio_ids_with(user, PortfolioPermission.VIEW),
    )


def can_view_kpi(user: AnyUser, kpi: KPI) -> bool:
    if kpi.project_id is not None:
        return user.is_superuser or kpi.project_id in project_ids_with(user, ProjectPermission.VIEW)
    return user.is_superuser or kpi.portfolio_id in portfolio_ids_with(
        user, PortfolioPermission.VIEW
    )


def can_record(user: AnyUser, kpi: KPI) -> bool:
    """May `user` add, correct and import measurements of `kpi`?"""
    if not user.is_authenticated:
        return False
    if kpi.project_id is not None:
        return user.is_superuser or kpi.project_id in project_ids_with(
            user, ProjectPermission.UPDATE_KPIS
        )
    return user.is_superuser or kpi.portfolio_id in portfolio_ids_with(
        user, PortfolioPermission.UPDATE_KPIS
    )


def can_record_in_project(user: AnyUser, project: Project) -> bool:
    return user.is_authenticated and has_project_permission(
        user, ProjectPermission.UPDATE_KPIS, project
    )


def can_define(user: AnyUser, portfolio: Portfolio | int) -> bool:
    """May `user` create and edit KPI definitions of this portfolio and its projects?"""
    if not user.is_authenticated:
        return False
    if isinstance(portfolio, Portfolio):
        return has_portfolio_permission(user, PortfolioPermission.CHANGE, portfolio)
    return user.is_superuser or portfolio in portfolio_ids_with(user, PortfolioPermission.CHANGE)
