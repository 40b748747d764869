"""Celery tasks of the pmo app."""

from __future__ import annotations

from celery import shared_task

from pmo.system import beat_heartbeat_record


@shared_task(bind=True, ignore_result=True)
def system_heartbeat_task(self) -> None:
    """Scheduled by beat every minute: records that beat (and a worker) are alive.
    Idempotent: it only overwrites one cache key with the current time."""
    beat_heartbeat_record(worker=self.request.hostname or "")
