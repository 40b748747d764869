"""The nightly portfolio reviews (beat entry "agent-portfolio-reviews" in pmo/celery.py).

One review per portfolio that has a project, requested as the system with the "schedule"
trigger. The idempotency key names the portfolio and the day (UTC), so a beat that fires twice,
or a redelivered task, requests each review once that night; the service enqueues each run on
the `agents` queue after its commit.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from agents.models import RunKind, RunTrigger
from agents.services import agent_run_request
from portfolio.models import Portfolio

logger = logging.getLogger(__name__)


def nightly_review_key(portfolio_id: int, day: str) -> str:
    return f"nightly-review:{portfolio_id}:{day}"


@shared_task(name="agents.tasks.schedule.portfolio_reviews_nightly")
def portfolio_reviews_nightly() -> int:
    """Request tonight's review of every portfolio with a project; returns how many were new."""
    day = timezone.now().date().isoformat()
    created_count = 0
    for portfolio in Portfolio.objects.filter(projects__isnull=False).distinct().order_by("pk"):
        try:
            _run, created = agent_run_request(
                actor=None,
                kind=RunKind.PORTFOLIO_REVIEW,
                portfolio=portfolio,
                trigger=RunTrigger.SCHEDULE,
                idempotency_key=nightly_review_key(portfolio.pk, day),
            )
        except Exception:
            # One portfolio's failure must not cost the others their review.
            logger.exception("Could not request the nightly review of %s", portfolio.slug)
            continue
        created_count += created
    return created_count
