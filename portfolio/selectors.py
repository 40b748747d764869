"""Reads of the portfolio app. Every function takes the requesting user and returns only what
that user may see; `*_get` raises Http404 for missing and forbidden alike."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from portfolio.models import Category, Epic, Portfolio, Project, Sprint, TeamMembership, WorkItem
from portfolio.permissions import visible_portfolios, visible_projects

AnyUser = AbstractBaseUser | AnonymousUser


def portfolio_list(*, user: AnyUser) -> QuerySet[Portfolio]:
    """Visible portfolios, each annotated with how many of its projects the user may see."""
    projects = visible_projects(user)
    return visible_portfolios(user).annotate(
        project_count=Count("projects", filter=Q(projects__in=projects.values("pk")), distinct=True)
    )


def portfolio_get(*, user: AnyUser, slug: str) -> Portfolio:
    try:
        return visible_portfolios(user).get(slug=slug)
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
    try:
        return visible_projects(user).select_related("portfolio").get(key=key.upper())
    except Project.DoesNotExist:
        raise Http404("No such project.") from None


def sprint_list(*, user: AnyUser, project: Project) -> QuerySet[Sprint]:
    return Sprint.objects.filter(project__in=visible_projects(user), project=project).order_by(
        "start"
    )


def epic_list(*, user: AnyUser, portfolio: Portfolio) -> QuerySet[Epic]:
    """The portfolio's epics in backlog order; only for users who may see the portfolio."""
    return Epic.objects.filter(
        portfolio__in=visible_portfolios(user), portfolio=portfolio
    ).select_related("project")


def work_item_category_summary(*, user: AnyUser, project: Project) -> list[dict[str, object]]:
    """Work items and story points per status category (every category, zeros included), in
    workflow order, from one aggregate query."""
    rows = (
        WorkItem.objects.filter(project__in=visible_projects(user), project=project)
        .order_by()
        .values("category")
        .annotate(item_count=Count("pk"), points=Sum("story_points"))
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
    return (
        TeamMembership.objects.filter(project__in=visible_projects(user), project=project)
        .select_related("user")
        .order_by("role", "user__username")
    )
