"""API routes of the governance app, included by pmo/api_urls.py under /api/ (no namespace).

URL names: `recommendation-list`, `recommendation-detail`, `recommendation-approve`,
`recommendation-reject`, `recommendation-request-changes` (id); `decision-list`,
`decision-detail` (id), `decision-verification`; `policy-list`, `policy-detail` (id).

A SimpleRouter (no root view of its own): the API root is pmo's router.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from governance.api import DecisionViewSet, PolicyViewSet, RecommendationViewSet

router = SimpleRouter()
router.register("recommendations", RecommendationViewSet, basename="recommendation")
router.register("decisions", DecisionViewSet, basename="decision")
router.register("policies", PolicyViewSet, basename="policy")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
