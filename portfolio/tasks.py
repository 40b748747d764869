"""Celery tasks of the portfolio app: thin, each loads ids and calls one service."""

from __future__ import annotations

from celery import shared_task

from portfolio.services import HistoryImportJobInterrupted, history_import_job_run


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(HistoryImportJobInterrupted,),
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
)
def history_import_job_run_task(self, job_id: int) -> None:
    """Run an uploaded history import. Idempotent (the service returns early for a finished
    job or one another worker is running), so a redelivery after a lost worker is safe. A
    transient database error is retried with backoff, at most 3 times; on the last attempt the
    service marks the job failed instead."""
    history_import_job_run(job_id=job_id, retry_transient=self.request.retries < self.max_retries)
