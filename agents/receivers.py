"""Triggers of risk scans: a KPI measurement recorded, a sprint closed.

Both events are sent by their owners after their transaction has committed (metrics/events.py,
portfolio/events.py), so a scan is never started about a change that was rolled back. Each
receiver asks the engine's service for a risk scan of the event's project as the system
(`actor=None`, the event as trigger); the service dedupes (one pending scan per project), so a
burst of measurements costs one scan, and enqueues the run after its own commit.

A receiver must not break its sender: the KPI form or the history import has already
committed and answered the user, so a failure to start a scan is logged with its traceback
and swallowed, never raised into the sender's request. A portfolio-wide KPI (no project) starts
nothing: a risk scan is about one project.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from agents.models import AgentRun, RunKind, RunTrigger
from agents.services import agent_run_request
from metrics.events import kpi_measurement_recorded
from portfolio.events import sprint_closed
from portfolio.models import Project

logger = logging.getLogger(__name__)


def risk_scan_request(*, project_id: int | None, trigger: str) -> AgentRun | None:
    """Ask for a risk scan of the project as the system; None when there is no such project
    or the request failed (logged)."""
    if project_id is None:
        return None
    project = Project.objects.select_related("portfolio").filter(pk=project_id).first()
    if project is None:
        logger.warning("No risk scan on %s: project %s does not exist", trigger, project_id)
        return None
    try:
        run, created = agent_run_request(
            actor=None,
            kind=RunKind.RISK_SCAN,
            portfolio=project.portfolio,
            project=project,
            trigger=trigger,
        )
    except Exception:
        logger.exception("Could not request a risk scan of %s on %s", project.key, trigger)
        return None
    logger.info(
        "Risk scan #%s of %s on %s (%s)",
        run.pk,
        project.key,
        trigger,
        "queued" if created else "already pending",
    )
    return run


@receiver(kpi_measurement_recorded, dispatch_uid="agents.risk_scan_on_kpi_measurement")
def risk_scan_on_kpi_measurement(
    sender: Any, *, project_id: int | None = None, **kwargs: Any
) -> None:
    risk_scan_request(project_id=project_id, trigger=RunTrigger.KPI_MEASUREMENT)


@receiver(sprint_closed, dispatch_uid="agents.risk_scan_on_sprint_closed")
def risk_scan_on_sprint_closed(
    sender: Any, *, project_id: int | None = None, **kwargs: Any
) -> None:
    risk_scan_request(project_id=project_id, trigger=RunTrigger.SPRINT_CLOSED)
