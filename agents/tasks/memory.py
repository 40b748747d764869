"""Tasks that keep agent memory current: embedding new decisions, and anything remembered
from a web request. They run on the `agents` queue (pmo/celery.py routes agents.tasks.*),
where the embedding model is loaded once per worker process. Each is idempotent (memory is
unique per source), so late acknowledgement and redelivery are safe."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from agents.memory import MemoryEntry, memory_remember_many
from agents.memory_decisions import memory_backfill_decisions, memory_remember_decisions

RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 5,
    "retry_backoff_max": 120,
    "max_retries": 5,
}


@shared_task(acks_late=True, ignore_result=True, **RETRY)
def memory_remember_decisions_task(decision_ids: list[int]) -> None:
    """Remember decision-log entries (enqueued after the commit that recorded them)."""
    memory_remember_decisions(int(pk) for pk in decision_ids)


@shared_task(acks_late=True, ignore_result=True, **RETRY)
def memory_remember_task(entry: dict[str, Any]) -> None:
    """Remember one thing a web request asked to remember (`memory_remember_later`)."""
    supersedes = tuple(
        tuple(item) if isinstance(item, list) else int(item) for item in entry.get("supersedes", ())
    )
    memory_remember_many(
        [
            MemoryEntry(
                portfolio_id=int(entry["portfolio_id"]),
                kind=str(entry["kind"]),
                text=str(entry["text"]),
                source_type=str(entry["source_type"]),
                source_id=str(entry["source_id"]),
                project_id=entry.get("project_id"),
                supersedes=supersedes,
            )
        ]
    )


@shared_task(acks_late=True, ignore_result=True, **RETRY)
def memory_backfill_decisions_task(limit: int = 500) -> None:
    """Remember decisions that were missed (e.g. the broker was down at commit time)."""
    memory_backfill_decisions(limit=limit)
