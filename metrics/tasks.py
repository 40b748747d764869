"""Celery tasks of the metrics app, found by Celery's autodiscovery (`<app>.tasks`)."""

from metrics.kpis.tasks import kpi_computed_refresh_task

__all__ = ["kpi_computed_refresh_task"]
