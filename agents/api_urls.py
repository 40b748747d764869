"""API routes of the agents app, included by pmo/api_urls.py under /api/ (no namespace).

URL names: `agent-run-list` (GET list with filters, POST start: 202), `agent-run-detail` (id),
`agent-run-usage` (usage and cost per portfolio).

A SimpleRouter (no root view of its own): the API root is pmo's router.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from agents.api import AgentRunViewSet

router = SimpleRouter()
router.register("agent-runs", AgentRunViewSet, basename="agent-run")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
