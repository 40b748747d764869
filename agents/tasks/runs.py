"""Tasks that execute agent runs, on the `agents` queue (pmo/celery.py routes agents.tasks.*)."""

from __future__ import annotations

from celery import shared_task

from agents.services import AgentRunInterrupted, agent_run_execute


@shared_task(
    name="agents.tasks.runs.agent_run_execute",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(AgentRunInterrupted,),
    max_retries=5,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
)
def agent_run_execute_task(run_id: int) -> None:
    """Execute one agent run. Idempotent (agents.services.agent_run_execute returns early for
    a finished run or one another worker is running), so a redelivery after a lost worker is
    safe; a transient database error is retried with backoff, and every attempt counts
    against PMO_AGENT_MAX_ATTEMPTS, after which the run is marked failed."""
    agent_run_execute(run_id=run_id)
