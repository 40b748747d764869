"""What the metrics app does when other apps publish events."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from portfolio.events import sprint_closed

logger = logging.getLogger(__name__)


@receiver(sprint_closed, dispatch_uid="metrics.refresh_computed_kpis_on_sprint_close")
def refresh_computed_kpis(sender: Any, *, project_id: int, **event: Any) -> None:
    """A closed sprint gives per-sprint computed KPIs (velocity, say/do) a new value: refresh
    the project's computed KPIs on a worker. Sent after commit; a broker failure is logged,
    never raised into the import that closed the sprint (the hourly refresh catches up)."""
    from metrics.kpis.tasks import kpi_computed_refresh_task

    try:
        kpi_computed_refresh_task.delay(project_id=project_id)
    except Exception:
        logger.exception("Could not enqueue the computed-KPI refresh of project %s", project_id)
