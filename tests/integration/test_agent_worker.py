"""Agent runs in a real Celery worker on the real broker: the builtin chain end to end; a
worker process killed with SIGKILL in the middle of a run (the run is redelivered and
completes with exactly one decision entry and one Recommendation); a poison run that kills
its worker every time stops after a bounded number of attempts, failed with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import psutil
import pytest
from django.db import transaction

from agents.models import AgentRun, RunKind, RunStatus
from agents.services import agent_run_request
from governance.models import DecisionKind, DecisionLog, Recommendation
from governance.roles import Role
from governance.services import role_grant
from tests.agents.openai_server import OpenAIServer, answer_with, hang
from tests.agents.scenarios import honest_answer, late_project, ranked_epics
from tests.factories import PortfolioFactory, ProjectFactory, UserFactory
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISHED = [RunStatus.SUCCEEDED, RunStatus.DEGRADED, RunStatus.FAILED]


@pytest.fixture
def leader_and_portfolio():
    admin = UserFactory(username="root", is_superuser=True)
    leader = UserFactory(username="leader")
    portfolio = PortfolioFactory(name="Payments", slug="payments")
    project = ProjectFactory(portfolio=portfolio, key="PAY", name="Payments core")
    role_grant(actor=admin, user=leader, role=Role.PMO_LEADER, portfolio=portfolio)
    return leader, portfolio, project


def request(leader, portfolio, kind: str, project=None) -> AgentRun:
    with transaction.atomic():
        run, _ = agent_run_request(actor=leader, kind=kind, portfolio=portfolio, project=project)
    return run


def finished(run: AgentRun, timeout: float = 180) -> AgentRun:
    return wait_for(
        lambda: AgentRun.objects.filter(pk=run.pk, status__in=FINISHED).first(), timeout=timeout
    )


def agent_run_entries(run: AgentRun) -> int:
    return DecisionLog.objects.filter(
        kind=DecisionKind.AGENT_RUN, subject=f"agent_run:{run.pk}"
    ).count()


def test_a_builtin_run_completes_in_the_worker(celery_worker_process, leader_and_portfolio):
    leader, portfolio, project = leader_and_portfolio
    late_project(project)

    run = request(leader, portfolio, RunKind.RISK_SCAN, project)
    done = finished(run)

    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.provider == "builtin"
    assert done.attempts == 1
    assert {r["code"] for r in done.result["risks"]} >= {"FORECAST_AFTER_TARGET", "SAY_DO_LOW"}
    assert [step["state"] for step in done.progress] == ["done"] * 6
    assert agent_run_entries(done) == 1


# --- a local model, a worker that dies -------------------------------------------------------


@pytest.fixture
def model_server(request, monkeypatch) -> Iterator[OpenAIServer]:
    """A local OpenAI-compatible server answering the script given as the parameter, and the
    worker's environment pointing the chain at it (set before the worker starts)."""
    with OpenAIServer(request.param) as server:
        monkeypatch.setenv("PMO_AGENT_PROVIDERS", "local:test-model,builtin")
        monkeypatch.setenv("PMO_AGENT_LOCAL_BASE_URL", server.base_url)
        monkeypatch.setenv("PMO_AGENT_TIMEOUT_SECONDS", "120")
        monkeypatch.setenv("PMO_AGENT_MAX_ATTEMPTS", "2")
        yield server


@pytest.fixture
def worker_with_model(model_server, celery_worker_process) -> subprocess.Popen:
    return celery_worker_process


def kill_the_process_running_the_task(worker: subprocess.Popen) -> int:
    """SIGKILL the prefork child (the process executing tasks), as the OOM killer would;
    the parent worker survives, sees the loss and requeues the task."""
    (child,) = psutil.Process(worker.pid).children()
    os.kill(child.pid, signal.SIGKILL)
    return child.pid


HANG_ANSWER = [hang(600), answer_with(honest_answer)]


@pytest.mark.parametrize("model_server", [HANG_ANSWER], indirect=True, ids=["hang-answer"])
def test_a_run_killed_mid_flight_is_redelivered_and_recorded_once(
    model_server, worker_with_model, leader_and_portfolio
):
    leader, portfolio, project = leader_and_portfolio
    ranked_epics(portfolio, project)

    run = request(leader, portfolio, RunKind.PRIORITIZATION)
    wait_for(lambda: len(model_server.requests) == 1, timeout=180)  # asking the model
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
    killed = kill_the_process_running_the_task(worker_with_model)
    done = finished(run)

    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == "zombie"
    assert done.status == RunStatus.SUCCEEDED, (done.error, done.providers_tried)
    assert done.attempts == 2
    assert done.provider == "local"
    assert len(model_server.requests) == 2
    assert agent_run_entries(done) == 1
    assert Recommendation.objects.filter(portfolio=portfolio).count() == 1
    assert done.recommendation == Recommendation.objects.get()


@pytest.mark.parametrize("model_server", [[hang(600)]], indirect=True, ids=["always-hangs"])
def test_a_poison_run_stops_after_its_attempts_and_fails_with_the_reason(
    model_server, worker_with_model, leader_and_portfolio
):
    leader, portfolio, _ = leader_and_portfolio

    run = request(leader, portfolio, RunKind.PORTFOLIO_REVIEW)
    for attempt in (1, 2):
        wait_for(lambda n=attempt: len(model_server.requests) == n, timeout=180)
        kill_the_process_running_the_task(worker_with_model)
    done = finished(run)

    assert done.status == RunStatus.FAILED
    assert done.attempts == 2
    assert "interrupted 2 times" in done.error
    assert agent_run_entries(done) == 1
    assert len(model_server.requests) == 2
