"""`{% agent_run_panel portfolio [project=project] as panel %}`: what the dashboards' agents
panel shows (templates/agents/partials/portfolio_actions.html and project_actions.html), so
the portfolio and project views need no change to carry it.

Two queries at most per page, whatever the portfolio's size: the latest runs of the scope,
and the permission answers (cached on the user object for the rest of the request).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from agents.models import AgentRun
from agents.models.runs import PENDING_STATUSES
from agents.selectors import (
    RunProgress,
    agent_run_progress,
    agent_run_recent,
    agent_run_start_allowed,
)
from portfolio.models import Portfolio, Project

register = template.Library()

RECENT_RUNS = 3


@dataclass(frozen=True)
class LiveRun:
    run: AgentRun
    progress: RunProgress


@dataclass(frozen=True)
class AgentPanel:
    portfolio: Portfolio
    project: Project | None
    can_start: bool
    recent: list[AgentRun]
    live: LiveRun | None
    start_url: str
    list_url: str

    @property
    def visible(self) -> bool:
        """Shown to those who may start runs here, or who read a run of this scope."""
        return self.can_start or bool(self.recent)

    @property
    def what(self) -> str:
        return "risk scans of this project" if self.project is not None else "agent runs"


@register.simple_tag(takes_context=True)
def agent_run_panel(
    context: template.Context, portfolio: Portfolio, project: Project | None = None
) -> AgentPanel:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return AgentPanel(portfolio, project, False, [], None, "", "")
    recent = agent_run_recent(user=user, portfolio=portfolio, project=project, limit=RECENT_RUNS)
    # The newest pending run keeps its live progress in the panel across page loads.
    pending = next((run for run in recent if run.status in PENDING_STATUSES), None)
    live = LiveRun(pending, agent_run_progress(pending)) if pending is not None else None
    filters = {"portfolio": portfolio.slug}
    if project is not None:
        filters["project"] = project.key
    return AgentPanel(
        portfolio=portfolio,
        project=project,
        can_start=agent_run_start_allowed(user=user, portfolio=portfolio),
        recent=recent,
        live=live,
        start_url=reverse("agents:run-start", args=[portfolio.slug]),
        list_url=f"{reverse('agents:run-list')}?{urlencode(filters)}",
    )
