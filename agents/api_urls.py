"""API routes of the agents app, included by pmo/api_urls.py under /api/ (no namespace)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
