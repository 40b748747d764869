"""Who may see and do what, on portfolios and projects (django-guardian object permissions).

A permission held on a portfolio covers all of its projects: a PMO leader granted on the
portfolio may change every project in it, today's and tomorrow's. A permission held on a
project covers that project only; a team lead of one project sees its portfolio, but only
the projects they were granted.

These functions return querysets, so callers compose them into one SQL query (no per-object
permission checks in loops). The grants are read by one small SQL subquery over guardian's
user and group permission tables (`_granted`): guardian's `get_objects_for_user` builds the
same answer through several querysets per call, which cost a large share of a dashboard's
server time in Python alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from portfolio.models import Portfolio, Project

AnyUser = AbstractBaseUser | AnonymousUser


class PortfolioPermission(StrEnum):
    VIEW = "view_portfolio"
    CHANGE = "change_portfolio"
    MANAGE_MEMBERS = "manage_portfolio_members"
    APPROVE_PRIORITIZATION = "approve_portfolio_prioritization"
    UPDATE_KPIS = "update_portfolio_kpis"


class ProjectPermission(StrEnum):
    VIEW = "view_project"
    CHANGE = "change_project"
    MANAGE_MEMBERS = "manage_project_members"
    UPDATE_KPIS = "update_project_kpis"


# The portfolio permission that grants a project permission on every project of the portfolio.
PORTFOLIO_EQUIVALENT: dict[ProjectPermission, PortfolioPermission] = {
    ProjectPermission.VIEW: PortfolioPermission.VIEW,
    ProjectPermission.CHANGE: PortfolioPermission.CHANGE,
    ProjectPermission.MANAGE_MEMBERS: PortfolioPermission.MANAGE_MEMBERS,
    ProjectPermission.UPDATE_KPIS: PortfolioPermission.UPDATE_KPIS,
}


HELD_SQL = """
SELECT ct.model, p.codename,
       CASE WHEN held.object_pk ~ '^[0-9]{{1,18}}$' THEN held.object_pk::bigint END AS object_id
FROM (
    SELECT uop.permission_id, uop.object_pk
    FROM guardian_userobjectpermission uop
    WHERE uop.user_id = {user}
    UNION ALL
    SELECT gop.permission_id, gop.object_pk
    FROM auth_user_groups ug
    JOIN guardian_groupobjectpermission gop ON gop.group_id = ug.group_id
    WHERE ug.user_id = {user}
) AS held
JOIN auth_permission p ON p.id = held.permission_id
JOIN django_content_type ct ON ct.id = p.content_type_id
WHERE ct.app_label = 'portfolio'
"""
"""The object permissions a user holds on this app's models, directly or through one of
their groups (guardian's generic object-permission tables), as (model, codename, object id);
`{user}` stands for the parameter that carries the user's id. An object key that is not an
id gives none."""

GRANTED_SQL = f"""
SELECT granted.object_id
FROM ({HELD_SQL.format(user="%s")}) AS granted
WHERE granted.model = %s AND granted.codename = %s
"""
"""Ids of the objects of one model on which a user holds one permission."""


def _granted(user: AbstractBaseUser, model: str, codename: str) -> RawSQL:
    """A subquery of the granted ids, for `pk__in=` inside a larger query."""
    return RawSQL(GRANTED_SQL, (user.pk, user.pk, model, codename))


def portfolios_with(user: AnyUser, permission: PortfolioPermission) -> QuerySet[Portfolio]:
    """Portfolios on which the user holds `permission` directly (all for a superuser)."""
    if not user.is_authenticated:
        return Portfolio.objects.none()
    if user.is_superuser:
        return Portfolio.objects.all()
    return Portfolio.objects.filter(pk__in=_granted(user, "portfolio", str(permission)))


def projects_with(user: AnyUser, permission: ProjectPermission) -> QuerySet[Project]:
    """Projects on which the user holds `permission`, directly or through their portfolio."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    inherited = str(PORTFOLIO_EQUIVALENT[permission])
    return Project.objects.filter(
        Q(pk__in=_granted(user, "project", str(permission)))
        | Q(portfolio_id__in=_granted(user, "portfolio", inherited))
    )


def visible_portfolios(user: AnyUser) -> QuerySet[Portfolio]:
    """Portfolios the user may open: granted on the portfolio, or on one of its projects."""
    if not user.is_authenticated:
        return Portfolio.objects.none()
    if user.is_superuser:
        return Portfolio.objects.all()
    through_projects = projects_with(user, ProjectPermission.VIEW)
    return Portfolio.objects.filter(
        Q(pk__in=_granted(user, "portfolio", str(PortfolioPermission.VIEW)))
        | Q(pk__in=through_projects.values("portfolio_id"))
    )


def visible_projects(user: AnyUser) -> QuerySet[Project]:
    return projects_with(user, ProjectPermission.VIEW)


# Answers to "which ids may this user ... ?" are kept on the user object, which lives for one
# request (or one task), so a page that asks about several projects, portfolios and rights pays
# for one query (GRANTS_SQL), not one per question. This is Django's own convention for
# `user._perm_cache`: after changing a user's roles, use a fresh user object (the role services
# clear the cache of the object they are given).
_CACHE_ATTRIBUTE = "_pmo_object_permission_cache"

GRANTS_SQL = f"""
WITH grant_id AS ({HELD_SQL.format(user="%(user)s")})
SELECT g.model, g.codename, po.id AS portfolio_id, pr.id AS project_id
FROM grant_id g
JOIN portfolio_portfolio po ON po.id = g.object_id
LEFT JOIN portfolio_project pr ON pr.portfolio_id = po.id
WHERE g.model = 'portfolio'
UNION ALL
SELECT g.model, g.codename, pr.portfolio_id, pr.id
FROM grant_id g
JOIN portfolio_project pr ON pr.id = g.object_id
WHERE g.model = 'project'
"""
"""Every object permission the user holds on this app's portfolios and projects, directly or
through a group, one row per (grant, project it covers): a portfolio grant comes with each of
the portfolio's projects (or one row with no project), a project grant with its portfolio.
Grants on deleted objects are dropped by the joins."""


@dataclass(frozen=True, slots=True)
class _Grants:
    on_portfolio: dict[str, frozenset[int]]
    """codename -> ids of the portfolios granted directly."""
    on_project: dict[str, frozenset[int]]
    """codename -> ids of the projects granted directly."""
    projects_of: dict[int, frozenset[int]]
    """portfolio id -> its projects, for the portfolios granted anything."""
    portfolio_of: dict[int, int]
    """project id -> its portfolio, for the projects granted anything."""


def _grants(user: AbstractBaseUser) -> _Grants:
    cache = _cache(user)
    grants = cache.get("grants")
    if grants is None:
        on_portfolio: dict[str, set[int]] = defaultdict(set)
        on_project: dict[str, set[int]] = defaultdict(set)
        projects_of: dict[int, set[int]] = {}
        portfolio_of: dict[int, int] = {}
        with connection.cursor() as cursor:
            cursor.execute(GRANTS_SQL, {"user": user.pk})
            for model, codename, portfolio_id, project_id in cursor.fetchall():
                if model == "portfolio":
                    on_portfolio[codename].add(portfolio_id)
                    covered = projects_of.setdefault(portfolio_id, set())
                    if project_id is not None:
                        covered.add(project_id)
                else:
                    on_project[codename].add(project_id)
                    portfolio_of[project_id] = portfolio_id
        grants = cache["grants"] = _Grants(
            on_portfolio={name: frozenset(ids) for name, ids in on_portfolio.items()},
            on_project={name: frozenset(ids) for name, ids in on_project.items()},
            projects_of={pk: frozenset(ids) for pk, ids in projects_of.items()},
            portfolio_of=portfolio_of,
        )
    return grants


def _cache(user: AnyUser) -> dict[object, object]:
    return user.__dict__.setdefault(_CACHE_ATTRIBUTE, {})


def forget_cached_permissions(user: AnyUser) -> None:
    user.__dict__.pop(_CACHE_ATTRIBUTE, None)


def _all_ids(user: AnyUser, key: str, queryset: QuerySet) -> frozenset[int]:
    """Every id of a model, for a superuser, once per user object."""
    cache = _cache(user)
    if key not in cache:
        cache[key] = frozenset(queryset.values_list("pk", flat=True))
    return cache[key]  # type: ignore[return-value]


def project_ids_with(user: AnyUser, permission: ProjectPermission) -> frozenset[int]:
    """Ids of `projects_with(user, permission)`: granted on the project or on its portfolio."""
    if not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return _all_ids(user, "all projects", Project.objects.all())
    grants = _grants(user)
    inherited = grants.on_portfolio.get(str(PORTFOLIO_EQUIVALENT[permission]), frozenset())
    return grants.on_project.get(str(permission), frozenset()).union(
        *(grants.projects_of[portfolio_id] for portfolio_id in inherited)
    )


def visible_portfolio_ids(user: AnyUser) -> frozenset[int]:
    """Ids of `visible_portfolios(user)`: viewable, or holding a viewable project."""
    if not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return _all_ids(user, "all portfolios", Portfolio.objects.all())
    grants = _grants(user)
    through_projects = {
        grants.portfolio_of[project_id]
        for project_id in grants.on_project.get(str(ProjectPermission.VIEW), ())
    }
    return grants.on_portfolio.get(str(PortfolioPermission.VIEW), frozenset()) | through_projects


def portfolio_ids_with(user: AnyUser, permission: PortfolioPermission) -> frozenset[int]:
    """Ids of `portfolios_with(user, permission)` (all for a superuser)."""
    if not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return _all_ids(user, "all portfolios", Portfolio.objects.all())
    return _grants(user).on_portfolio.get(str(permission), frozenset())


def has_project_permission(user: AnyUser, permission: ProjectPermission, project: Project) -> bool:
    # A superuser may do everything, including on objects created after a cache was filled.
    return user.is_superuser or project.pk in project_ids_with(user, permission)


def has_portfolio_permission(
    user: AnyUser, permission: PortfolioPermission, portfolio: Portfolio
) -> bool:
    return user.is_superuser or portfolio.pk in portfolio_ids_with(user, permission)
