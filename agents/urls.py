"""Pages of the agents app: agent runs, their live progress and results.

URL names: `agents:run-list` (filters, usage and cost), `agents:run-detail` (run id; the htmx
poll of its status region uses the same URL), `agents:run-start` (portfolio slug: GET a form,
POST kind and, for a risk scan, project).
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from agents import views

app_name = "agents"

urlpatterns: list[URLPattern | URLResolver] = [
    path("agents/runs/", views.run_list, name="run-list"),
    path("agents/runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("agents/portfolios/<slug:slug>/runs/new/", views.run_start, name="run-start"),
]
