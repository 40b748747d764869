"""Celery task keeping computed KPIs up to date with the work-item history.

`kpi_computed_refresh_task` refreshes the computed KPIs of one project (after a sprint closed
or an import) or of every project that has any (a beat entry). It takes an id, loads rows and
calls the service; the refresh is idempotent (unchanged values are left alone, see
services.kpi_computed_refresh), so a redelivered or doubled task writes nothing twice. It is
registered through metrics/tasks.py, which Celery's autodiscovery imports.
"""

from __future__ import annotations

import logging

from celery import shared_task

from metrics.kpis.services import kpi_computed_refresh
from portfolio.models import Project

logger = logging.getLogger(__name__)


@shared_task(name="metrics.kpis.tasks.kpi_computed_refresh_task")
def kpi_computed_refresh_task(project_id: int | None = None) -> int:
    """Refresh computed KPIs as the system; returns how many values were added or changed."""
    projects = (
        Project.objects.filter(kpis__active=True)
        .exclude(kpis__computed_from="")
        .select_related("portfolio")
        .distinct()
        .order_by("pk")
    )
    if project_id is not None:
        projects = projects.filter(pk=project_id)
    changed = 0
    for project in projects:
        try:
            changed += kpi_computed_refresh(project=project).changed
        except Exception:
            # One project's failure must not keep the others' KPIs stale.
            logger.exception("Could not refresh the computed KPIs of %s", project.key)
    return changed
