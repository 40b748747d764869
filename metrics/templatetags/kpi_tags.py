"""`{% project_kpis project %}`: the KPI section of the project page (metrics/kpis/board.html);
`{% portfolio_kpis_visible portfolio as can_see %}`: whether to link the portfolio's KPIs.

A tag rather than context from portfolio.views, so the KPI feature stays in its own package:
the project page includes one line. The section costs a fixed number of queries (the KPIs,
their recent values, the project's health unless the page passes it as `project_health`),
whatever the number of KPIs or values. The selected KPI of the trend comes from the page's
`?kpi=` (bookmarkable).
"""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from metrics.kpis import boards
from metrics.kpis.text import number_text
from portfolio.models import Portfolio, Project
from portfolio.permissions import PortfolioPermission, has_portfolio_permission

register = template.Library()


def _selected(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 18 else None


@register.simple_tag(takes_context=True)
def project_kpis(context: template.Context, project: Project) -> SafeString:
    request = context["request"]
    board = boards.project_board(
        user=request.user,
        project=project,
        selected_id=_selected(request.GET.get("kpi")),
        health=context.get("project_health"),
    )
    return render_to_string(
        "metrics/kpis/board.html", {"board": board, "project": project}, request=request
    )


@register.simple_tag(takes_context=True)
def portfolio_kpis_visible(context: template.Context, portfolio: Portfolio) -> bool:
    request = context.get("request")
    user = getattr(request, "user", None)
    return bool(
        user is not None
        and user.is_authenticated
        and has_portfolio_permission(user, PortfolioPermission.VIEW, portfolio)
    )


@register.filter
def kpi_number(value: Decimal | None) -> str:
    """A KPI figure as typed: 4.4, 30, 0.85 (no trailing zeros); empty for none."""
    return number_text(value)
