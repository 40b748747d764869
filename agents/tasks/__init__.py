"""Celery tasks of the agents app, all routed to the `agents` queue (pmo/celery.py routes
`agents.tasks.*`). Celery's autodiscovery imports this package, so each module is listed here."""

from agents.tasks import memory, runs, schedule

__all__ = ["memory", "runs", "schedule"]
