"""Filters of the agent runs, shared by the runs page and `GET /api/agent-runs/`.

django-filter validates them: a bad value (an unknown kind, a malformed date, a portfolio the
caller reads no run of) is a field error, a 400 in the API, never a silently empty answer. The
choices of `portfolio` are the portfolios whose runs the caller may read, so "does not exist"
and "not yours" give the same answer and leak nothing.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from agents.models import AgentRun, RunKind, RunStatus, RunTrigger
from agents.selectors import agent_run_filter_portfolios
from portfolio.models import Portfolio


def _portfolios(request: HttpRequest | None) -> QuerySet[Portfolio]:
    """Choices for `?portfolio=`; no request (schema generation) means no choices."""
    if request is None:
        return Portfolio.objects.none()
    return agent_run_filter_portfolios(user=request.user)


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


class AgentRunFilter(django_filters.FilterSet):
    portfolio = django_filters.ModelChoiceFilter(
        queryset=_portfolios,
        to_field_name="slug",
        empty_label="All portfolios",
        help_text="Only the runs of this portfolio (its slug).",
    )
    kind = django_filters.ChoiceFilter(
        choices=RunKind.choices, empty_label="All kinds", help_text="Only runs of this kind."
    )
    status = django_filters.ChoiceFilter(
        choices=RunStatus.choices,
        empty_label="All statuses",
        help_text="Only runs in this status.",
    )
    trigger = django_filters.ChoiceFilter(
        choices=RunTrigger.choices,
        empty_label="All triggers",
        help_text="Only runs started this way.",
    )
    project = django_filters.CharFilter(
        field_name="project__key",
        lookup_expr="iexact",
        max_length=10,
        help_text="Only the risk scans of this project (its key).",
    )
    since = django_filters.DateFilter(
        method="filter_since",
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Since",
        help_text="Runs created on or after this day (YYYY-MM-DD, display time zone).",
    )
    until = django_filters.DateFilter(
        method="filter_until",
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Until",
        help_text="Runs created on or before this day (YYYY-MM-DD, display time zone).",
    )

    class Meta:
        model = AgentRun
        fields = ["portfolio", "kind", "status", "trigger", "project", "since", "until"]

    def filter_since(
        self, queryset: QuerySet[AgentRun], name: str, value: dt.date
    ) -> QuerySet[AgentRun]:
        return queryset.filter(created_at__gte=_local_midnight(value))

    def filter_until(
        self, queryset: QuerySet[AgentRun], name: str, value: dt.date
    ) -> QuerySet[AgentRun]:
        return queryset.filter(created_at__lt=_local_midnight(value + dt.timedelta(days=1)))
