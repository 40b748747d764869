"""Reads of the portfolio app. Every function takes the requesting user and returns only what
that user may see; `*_get` raises Http404 for missing and forbidden alike."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from portfolio.models import Epic, Portfolio, Project, Sprint
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
        open_item_count=Count(
            "work_items", filter=~Q(work_items__category="done"), distinct=True
        ),
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
    return Epic.objects.filter(portfolio__in=visible_portfolios(user), portfolio=portfolio).select_related(
        "project"
    )
