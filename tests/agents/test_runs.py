"""Agent runs end to end in-process (agents.services): request, then execute as the worker
would, with the builtin analyst (the default chain: no model, nothing leaves the machine)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError, connection

from agents import facts
from agents.models import AgentRun, RunKind, RunStatus, RunTrigger
from agents.prompts import PROMPT_VERSION
from agents.services import AgentRunInterrupted, agent_run_execute, agent_run_request
from agents.tasks.runs import agent_run_execute_task
from governance.models import DecisionKind, DecisionLog, Recommendation, RoleAssignment
from governance.services import role_revoke
from portfolio.models import Epic
from tests.agents.scenarios import late_project, ranked_epics
from tests.factories import PortfolioFactory, ProjectFactory

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


# --- requesting a run ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "team_lead", "executive", "outsider"])
def test_only_a_pmo_leader_may_request_a_run(world, role):
    with pytest.raises(PermissionDenied):
        agent_run_request(
            actor=world.user(role), kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own
        )

    assert not AgentRun.objects.exists()


@pytest.mark.parametrize(
    ("kind", "project", "field"),
    [
        ("forecast", None, "kind"),
        (RunKind.RISK_SCAN, None, "project"),
        (RunKind.RISK_SCAN, "foreign_project", "project"),
        (RunKind.PORTFOLIO_REVIEW, "own_project", "project"),
        (RunKind.PRIORITIZATION, "own_project", "project"),
    ],
)
def test_a_run_outside_its_scope_is_refused_with_the_field(world, kind, project, field):
    with pytest.raises(ValidationError) as refused:
        agent_run_request(
            actor=world.pmo_leader,
            kind=kind,
            portfolio=world.own,
            project=getattr(world, project) if project else None,
        )

    assert field in refused.value.message_dict
    assert not AgentRun.objects.exists()


def test_a_pending_risk_scan_of_the_project_is_returned_instead_of_a_second(world):
    first, created = agent_run_request(
        actor=world.pmo_leader,
        kind=RunKind.RISK_SCAN,
        portfolio=world.own,
        project=world.own_project,
    )
    again, created_again = agent_run_request(
        actor=None,
        kind=RunKind.RISK_SCAN,
        portfolio=world.own,
        project=world.own_project,
        trigger=RunTrigger.SPRINT_CLOSED,
    )

    assert created
    assert not created_again
    assert again == first
    assert AgentRun.objects.count() == 1


def test_a_retried_request_with_its_idempotency_key_returns_the_same_run(world):
    first, _ = agent_run_request(
        actor=world.pmo_leader,
        kind=RunKind.PORTFOLIO_REVIEW,
        portfolio=world.own,
        idempotency_key="request-7",
    )
    again, created = agent_run_request(
        actor=world.pmo_leader,
        kind=RunKind.PORTFOLIO_REVIEW,
        portfolio=world.own,
        idempotency_key="request-7",
    )

    assert (again, created) == (first, False)
    with pytest.raises(ValidationError):
        agent_run_request(
            actor=world.pmo_leader,
            kind=RunKind.PRIORITIZATION,
            portfolio=world.own,
            idempotency_key="request-7",
        )


def test_a_user_run_needs_its_user(world):
    with pytest.raises(ValidationError) as refused:
        agent_run_request(actor=None, kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own)

    assert "trigger" in refused.value.message_dict


def test_the_run_task_is_sent_after_commit(world, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(agent_run_execute_task, "delay", lambda run_id: sent.append(run_id))

    with django_capture_on_commit_callbacks(execute=True):
        run, _ = agent_run_request(
            actor=world.pmo_leader, kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own
        )
        assert sent == []

    assert sent == [run.pk]


# --- executing a run -----------------------------------------------------------------------------


def agent_run_count(run) -> int:
    return DecisionLog.objects.filter(
        kind=DecisionKind.AGENT_RUN, subject=f"agent_run:{run.pk}"
    ).count()


def test_a_trigger_run_reads_as_the_system_and_completes(world):
    late_project(world.own_project)
    run, _ = agent_run_request(
        actor=None,
        kind=RunKind.PORTFOLIO_REVIEW,
        portfolio=world.own,
        trigger=RunTrigger.SCHEDULE,
    )

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert sorted(p["key"] for p in run.snapshot["projects"]) == ["CARD", "PAY"]
    entry = DecisionLog.objects.get(subject=f"agent_run:{run.pk}")
    assert entry.actor is None
    assert entry.actor_label.startswith("agent:builtin")
    assert entry.inputs["requested_by"] is None


def test_trigger_runs_see_a_portfolio_created_after_an_earlier_run(world):
    first, _ = agent_run_request(
        actor=None, kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own, trigger=RunTrigger.SCHEDULE
    )
    agent_run_execute(run_id=first.pk)
    later = PortfolioFactory(name="Later", slug="later")
    ProjectFactory(portfolio=later, key="LATE")
    run, _ = agent_run_request(
        actor=None, kind=RunKind.PORTFOLIO_REVIEW, portfolio=later, trigger=RunTrigger.SCHEDULE
    )

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert [p["key"] for p in run.snapshot["projects"]] == ["LATE"]


def test_a_requester_who_lost_the_right_fails_the_run_with_the_reason(world):
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own
    )
    assignment = RoleAssignment.objects.get(user=world.pmo_leader, portfolio=world.own)
    role_revoke(actor=world.admin, assignment=assignment)

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "is no longer a PMO leader of Payments" in run.error
    assert agent_run_count(run) == 1


def test_a_run_left_running_by_a_lost_worker_completes_once(world):
    ranked_epics(world.own, world.own_project)
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PRIORITIZATION, portfolio=world.own
    )
    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1)

    agent_run_execute(run_id=run.pk)
    agent_run_execute(run_id=run.pk)  # a duplicate delivery after it finished

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.attempts == 2
    assert agent_run_count(run) == 1
    assert Recommendation.objects.count() == 1


def test_a_run_out_of_attempts_is_failed_with_the_reason(world, settings):
    settings.AGENT_MAX_ATTEMPTS = 3
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own
    )
    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=3)

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "interrupted 3 times" in run.error
    assert agent_run_count(run) == 1


def test_an_unexpected_error_fails_the_run_at_once_with_the_reason(world, monkeypatch):
    monkeypatch.setattr(facts, "facts_compute", raising(RuntimeError("boom")))
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own
    )

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == "RuntimeError: boom"
    assert [s["state"] for s in run.progress][:2] == ["done", "failed"]
    assert agent_run_count(run) == 1


def test_a_transient_database_error_is_retried_by_the_task(world, monkeypatch):
    compute = facts.facts_compute
    monkeypatch.setattr(facts, "facts_compute", raising(OperationalError("connection lost")))
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own
    )

    with pytest.raises(AgentRunInterrupted):
        agent_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.RUNNING, 1)

    monkeypatch.setattr(facts, "facts_compute", compute)
    agent_run_execute(run_id=run.pk)  # the task's retry
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)


def raising(error: Exception):
    def function(*args, **kwargs):
        raise error

    return function


def test_a_run_another_session_holds_is_retried_not_dropped(world):
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PORTFOLIO_REVIEW, portfolio=world.own
    )
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.autocommit = True
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"agent-run:{run.pk}"])

        with pytest.raises(AgentRunInterrupted, match="locked by another session"):
            agent_run_execute(run_id=run.pk)
    finally:
        other.close()

    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.QUEUED, 0)
    agent_run_execute(run_id=run.pk)  # the retry, once the other session is gone
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_a_prioritization_with_nothing_to_move_proposes_nothing_and_says_why(world):
    ranked_epics(world.own, world.own_project)
    Epic.objects.filter(key="EP-3").update(rank=10)
    Epic.objects.filter(key="EP-1").update(rank=3)
    Epic.objects.filter(key="EP-3").update(rank=1)  # now in WSJF order: EP-3, EP-2, EP-1
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PRIORITIZATION, portfolio=world.own
    )

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.recommendation is None
    assert run.result["proposed_ranking"] == []
    assert run.result["no_recommendation_reason"] == (
        "The current ranking already follows WSJF: nothing to propose."
    )
    assert not Recommendation.objects.exists()


def test_a_recommendation_cites_capacity_and_epics_with_links(world):
    ranked_epics(world.own, world.own_project)
    run, _ = agent_run_request(
        actor=world.pmo_leader, kind=RunKind.PRIORITIZATION, portfolio=world.own
    )

    agent_run_execute(run_id=run.pk)

    recommendation = Recommendation.objects.get()
    assert [link["label"].split()[0] for link in recommendation.evidence] == [
        "EP-3",
        "EP-2",
        "EP-1",
    ]
    assert recommendation.evidence[0]["url"] == "/projects/PAY/#epics-chart"
    assert recommendation.proposed_by == world.pmo_leader  # who started it cannot approve it
    assert recommendation.agent_label == f"agent:builtin (prompt {PROMPT_VERSION})"
