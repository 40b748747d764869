"""The Celery application: JSON only, late acks, named queues, one beat schedule.

Tasks are idempotent (they re-check state and upsert), which is what makes `acks_late` and
`task_reject_on_worker_lost` safe: a worker killed mid-task gets its task redelivered.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pmo.settings")

app = Celery("pmo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=15 * 60,
    task_soft_time_limit=10 * 60,
    task_default_queue="default",
    task_queues=(Queue("default"), Queue("agents")),
    task_routes={"agents.tasks.*": {"queue": "agents"}},
    broker_connection_retry_on_startup=True,
    # Redis redelivers unacknowledged tasks after this long; it must exceed the time limit.
    broker_transport_options={"visibility_timeout": 20 * 60},
    worker_send_task_events=False,
    timezone="UTC",
    beat_schedule={
        "system-heartbeat": {
            "task": "pmo.tasks.system_heartbeat_task",
            "schedule": 60.0,
        },
        "recommendation-expiry": {
            "task": "governance.tasks.recommendation_expire_due_task",
            "schedule": 60.0 * 60,
        },
        "kpi-computed-refresh": {
            "task": "metrics.kpis.tasks.kpi_computed_refresh_task",
            "schedule": 60.0 * 60,
        },
        "memory-backfill-decisions": {
            "task": "agents.tasks.memory.memory_backfill_decisions_task",
            "schedule": 15 * 60.0,
        },
        "agent-portfolio-reviews": {
            "task": "agents.tasks.schedule.portfolio_reviews_nightly",
            "schedule": crontab(hour=2, minute=0),
        },
    },
)
app.autodiscover_tasks()
