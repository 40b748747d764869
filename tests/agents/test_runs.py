"""Agent runs end to end in-process (agents.services): request, then execute as the worker
would, with the builtin analyst (the default chain: no model, nothing leaves the machine)."""

from __future__ import annotations

import pytest

from agents.models import RunKind, RunStatus
from agents.services import agent_run_execute, agent_run_request
from governance.models import DecisionKind, DecisionLog, Recommendation
from tests.agents.scenarios import late_project, ranked_epics

pytestmark = pytest.mark.django_db


def test_pmo_leader_requests_a_queued_risk_scan(world):
    run, created = agent_run_request(
        actor=world.pmo_leader,
        kind=RunKind.RISK_SCAN,
        portfolio=world.own,
        project=world.own_project,
    )

    assert created
    assert run.status == RunStatus.QUEUED
    assert [step["step"] for step in run.progress] == [
        "snapshot", "facts", "recall", "provider", "validate", "record"
    ]  # fmt: skip
    assert {step["state"] for step in run.progress} == {"pending"}


def test_builtin_risk_scan_completes_with_facts_and_one_decision(world):
    late_project(world.own_project)
    run, _ = agent_run_request(
        actor=world.pmo_leader,
        kind=RunKind.RISK_SCAN,
        portfolio=world.own,
        project=world.own_project,
    )

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.provider == "builtin"
    codes = {risk["code"] for risk in run.result["risks"]}
    assert "FORECAST_AFTER_TARGET" in codes
    entries = DecisionLog.objects.filter(kind=DecisionKind.AGENT_RUN, subject=f"agent_run:{run.pk}")
    assert entries.count() == 1
    assert all(step["state"] in {"done", "skipped"} for step in run.progress), run.progress


def test_builtin_prioritization_proposes_the_wsjf_ranking(world):
    ranked_epics(world.own, world.own_project)
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PRIORITIZATION, portfolio=world.own
    )

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.recommendation is not None, run.result
    assert Recommendation.objects.count() == 1
