"""Reads of the portfolio app. Every function takes the requesting user and returns only what
that user may see; `*_get` raises Http404 for missing and forbidden alike.

Lists compose the permission subqueries into their one query; lookups of one object and the
lists of one object's children check the ids granted to the user instead, which the request
reads once (portfolio.permissions), so each of them is a plain indexed query."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from portfolio.models import Category, Epic, Portfolio, Project, Sprint, TeamMembership, WorkItem
from portfolio.permissions import (
    ProjectPermission,
    project_ids_with,
    visible_portfolio_ids,
    visible_portfolios,
    visible_projects,
)

AnyUser = AbstractBaseUser | AnonymousUser


def portfolio_list(*, user: AnyUser) -> QuerySet[Portfolio]:
    """Visible portfolios, each annotated with how many of its projects the user may see."""
    projects = visible_projects(user)
    return visible_portfolios(user).annotate(
        project_count=Count("projects", filter=Q(projects__in=projects.values("pk")), distinct=True)
    )


def _may_see_project(user: AnyUser, project_id: int) -> bool:
    return user.is_superuser or project_id in project_ids_with(user, ProjectPermission.VIEW)


def portfolio_get(*, user: AnyUser, slug: str) -> Portfolio:
    portfolios = Portfolio.objects.all()
    if not user.is_superuser:
        portfolios = portfolios.filter(pk__in=visible_portfolio_ids(user))
    try:
        return portfolios.get(slug=slug)
    except Portfolio.DoesNotExist:
        raise Http404("No such portfolio.") from None


def project_list(*, user: AnyUser, portfolio: Portfolio | None = None) -> QuerySet[Project]:
    """Visible projects with the counts a list page shows, computed in one query."""
    queryset = visible_projects(user).select_related("portfolio")
    if portfolio is not None:
        queryset = queryset.filter(portfolio=portfolio)
    return queryset.annotate(
        item_count=Count("work_items", distinct=True),
        open_item_count=Count("work_items", filter=~Q(work_items__category="done"), distinct=True),
        open_points=Sum("work_items__story_points", filter=~Q(work_items__category="done")),
    ).order_by("key")


def project_get(*, user: AnyUser, key: str) -> Project:
    projects = Project.objects.select_related("portfolio")
    if not user.is_superuser:
        projects = projects.filter(pk__in=project_ids_with(user, ProjectPermission.VIEW))
    try:
        return projects.get(key=key.upper())
    except Project.DoesNotExist:
        raise Http404("No such project.") from None


def sprint_list(*, user: AnyUser, project: Project) -> QuerySet[Sprint]:
    if not _may_see_project(user, project.pk):
        return Sprint.objects.none()
    return Sprint.objects.filter(project=project).order_by("start")


def epic_list(*, user: AnyUser, portfolio: Portfolio) -> QuerySet[Epic]:
    """The portfolio's epics in backlog order; only for users who may see the portfolio."""
    if not (user.is_superuser or portfolio.pk in visible_portfolio_ids(user)):
        return Epic.objects.none()
    return Epic.objects.filter(portfolio=portfolio).select_related("project")


def work_item_category_summary(*, user: AnyUser, project: Project) -> list[dict[str, object]]:
    """Work items and story points per status category (every category, zeros included), in
    workflow order, from one aggregate query."""
    rows = (
        WorkItem.objects.filter(project=project)
        .order_by()
        .values("category")
        .annotate(item_count=Count("pk"), points=Sum("story_points"))
        if _may_see_project(user, project.pk)
        else []
    )
    by_category = {row["category"]: row for row in rows}
    return [
        {
            "category": category.value,
            "label": category.label,
            "item_count": by_category.get(category.value, {}).get("item_count", 0),
            "points": by_category.get(category.value, {}).get("points") or 0,
        }
        for category in Category
    ]


def team_membership_list(*, user: AnyUser, project: Project) -> QuerySet[TeamMembership]:
    """Who works on the project (leads first), for users who may see it."""
    if not _may_see_project(user, project.pk):
        return TeamMembership.objects.none()
    return (
        TeamMembership.objects.filter(project=project)
        .select_related("user")
        .order_by("role", "user__username")
    )
