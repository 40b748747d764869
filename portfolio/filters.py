"""Query-parameter input of the portfolio API, validated by django-filter.

A bad value (an unknown status, a portfolio the caller cannot see) is a 400 with the field's
message, not a silently empty page: the choices of `portfolio` are the caller's visible
portfolios, so "does not exist" and "not yours" give the same answer and leak nothing.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.http import HttpRequest

from portfolio.models import Portfolio, Project
from portfolio.permissions import visible_portfolios


def _visible_portfolios(request: HttpRequest | None) -> QuerySet[Portfolio]:
    """Choices for `?portfolio=`; no request (schema generation) means no choices."""
    if request is None:
        return Portfolio.objects.none()
    return visible_portfolios(request.user)


class ProjectFilter(django_filters.FilterSet):
    portfolio = django_filters.ModelChoiceFilter(
        queryset=_visible_portfolios,
        to_field_name="slug",
        help_text="Only the projects of this portfolio (its slug).",
    )
    status = django_filters.ChoiceFilter(
        choices=Project.Status.choices, help_text="Only the projects in this status."
    )

    class Meta:
        model = Project
        fields = ["portfolio", "status"]
