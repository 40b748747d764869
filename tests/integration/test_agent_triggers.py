"""Triggers of agent runs with a real Celery worker on the real broker: a team lead records a
red KPI through the KPI service, and the risk scan it triggers (after the KPI's commit) runs
on the worker and flags that KPI, with evidence the run's snapshot holds."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from agents.models import AgentRun, RunKind, RunStatus, RunTrigger
from agents.services import agent_run_request
from metrics.kpis.services import kpi_measurement_record
from tests.integration.conftest import wait_for
from tests.kpis.factories import KPIFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# A worker's first run loads the embedding model for memory recall (tens of seconds on a busy
# 2-core machine); the scan under test runs on a warm worker, as in production.
WARM_UP_SECONDS = 180
SCAN_SECONDS = 30


def finished(run_id: int) -> AgentRun | None:
    run = AgentRun.objects.get(pk=run_id)
    return run if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) else None


def test_a_red_kpi_triggers_a_risk_scan_that_flags_it_within_seconds(world, celery_worker_process):
    # given: a warm worker (one scan of another project already done) and PAY's satisfaction
    warm_up, _ = agent_run_request(
        actor=world.pmo_leader,
        kind=RunKind.RISK_SCAN,
        portfolio=world.own,
        project=world.sibling_project,
    )
    wait_for(lambda: finished(warm_up.pk), timeout=WARM_UP_SECONDS, interval=0.5)
    satisfaction = KPIFactory(project=world.own_project, name="Customer satisfaction")

    # when: the team lead records a red value (below 3.5)
    started = time.monotonic()
    kpi_measurement_record(
        actor=world.team_lead,
        kpi=satisfaction,
        period_start=timezone.localdate().replace(day=1),
        value="2.9",
    )

    # then: a risk scan of PAY is queued at once, runs, and flags the red KPI
    scan = AgentRun.objects.get(kind=RunKind.RISK_SCAN, project=world.own_project)
    assert (scan.trigger, scan.requested_by) == (RunTrigger.KPI_MEASUREMENT, None)
    scan = wait_for(lambda: finished(scan.pk), timeout=SCAN_SECONDS, interval=0.2)
    seconds = time.monotonic() - started
    assert scan.status == RunStatus.SUCCEEDED, scan.error
    flags = [risk for risk in scan.result["risks"] if risk["code"] == "KPI_RED"]
    assert flags, scan.result["risks"]
    assert flags[0]["project_key"] == "PAY"
    assert "Customer satisfaction" in flags[0]["title"] + flags[0]["detail"]
    assert all(evidence_id in scan.snapshot["evidence"] for evidence_id in flags[0]["evidence_ids"])
    assert scan.decision_id is not None
    print(f"red KPI recorded -> scan flagged it in {seconds:.1f} s on a warm worker")
