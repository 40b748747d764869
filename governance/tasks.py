"""Celery tasks of the governance app: thin, each calls one service."""

from __future__ import annotations

from celery import shared_task

from governance.services import recommendation_expire_due


@shared_task(acks_late=True, ignore_result=True)
def recommendation_expire_due_task() -> None:
    """Expire pending recommendations past their expiry (each with its log entry).
    Idempotent, so a periodic schedule and redeliveries are safe; without it, a recommendation
    past its expiry is expired by the first decision attempted on it."""
    recommendation_expire_due()
