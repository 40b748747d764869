"""The LangChain path against a local OpenAI-compatible server (tests/agents/openai_server.py):
a valid answer is used; malformed JSON, wrong ids, wrong numbers, HTTP 500 and a hang each
hand off to the next link, are recorded, and leave the run degraded with the reason."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from agents.models import AgentBudget, AgentRun, RunKind, RunStatus
from agents.services import agent_run_execute, agent_run_request
from governance.models import PolicyKind, Recommendation
from governance.policies import policy_create
from tests.agents.openai_server import (
    OpenAIServer,
    answer,
    answer_with,
    hang,
    malformed,
    status,
)
from tests.agents.scenarios import honest_answer, late_project, ranked_epics

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(settings):
    """Point the chain at local servers: chain(server, ...) -> links local0, local1, builtin."""

    def configure(*servers: OpenAIServer, timeout: int = 5) -> None:
        names = [f"local{index}" for index in range(len(servers))]
        settings.AGENT_PROVIDERS = [(name, "test-model") for name in names] + [("builtin", "")]
        settings.AGENT_ENDPOINTS = {
            name: {"base_url": server.base_url, "api_key": None}
            for name, server in zip(names, servers, strict=True)
        }
        settings.AGENT_TIMEOUT_SECONDS = timeout

    return configure


def risk_scan(world) -> AgentRun:
    late_project(world.own_project)
    run, _ = agent_run_request(
        actor=world.pmo_leader,
        kind=RunKind.RISK_SCAN,
        portfolio=world.own,
        project=world.own_project,
    )
    agent_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_valid_answer_of_the_configured_endpoint_is_used(world, chain, settings):
    settings.AGENT_PRICES = {"test-model": (Decimal("1.00"), Decimal("4.00"))}
    with OpenAIServer([answer_with(honest_answer)]) as server:
        chain(server)
        run = risk_scan(world)

    assert run.status == RunStatus.SUCCEEDED, run.providers_tried
    assert (run.provider, run.model) == ("local0", "test-model")
    assert run.degraded_reason == ""
    assert [a["outcome"] for a in run.providers_tried] == ["used"]
    assert (run.input_tokens, run.output_tokens) == (1200, 300)
    assert run.cost == Decimal("0.002400")  # 1200 x $1 + 300 x $4 per million tokens
    assert run.result["summary"].startswith("Model view")
    assert len(server.requests) == 1
    assert server.requests[0]["model"] == "test-model"
    assert "tools" not in server.requests[0]  # the model gets no tool: it can change nothing


@pytest.mark.parametrize(
    ("step", "outcome", "reason"),
    [
        (malformed(), "invalid_output", ""),
        (status(500), "error", "500"),
        (answer({"summary": "ok"}), "invalid_output", "not the schema"),
        (
            answer_with(lambda data: honest_answer(data, evidence="risk:SHIP:NO_THROUGHPUT")),
            "rejected_by_guardrail",
            "unknown evidence risk:SHIP:NO_THROUGHPUT",
        ),
        (
            answer_with(lambda data: honest_answer(data, summary="Say/do fell to 0.35.")),
            "rejected_by_guardrail",
            "states 0.35",
        ),
        (
            answer_with(lambda data: honest_answer(data, summary="SHIP-12 blocks us.")),
            "rejected_by_guardrail",
            "SHIP-12",
        ),
        (
            answer_with(lambda data: honest_answer(data, drop_high=True)),
            "rejected_by_guardrail",
            "high risks not reported",
        ),
        (
            answer_with(lambda data: honest_answer(data, severity="low")),
            "rejected_by_guardrail",
            "instead of FORECAST_AFTER_TARGET/high",
        ),
    ],
    ids=[
        "malformed-json",
        "http-500",
        "not-the-schema",
        "wrong-ids",
        "wrong-number",
        "foreign-key",
        "omits-high-risk",
        "downgrades",
    ],
)
def test_a_bad_answer_falls_through_to_builtin_and_degrades_the_run(
    world, chain, step, outcome, reason
):
    with OpenAIServer([step]) as server:
        chain(server)
        run = risk_scan(world)

    assert run.status == RunStatus.DEGRADED
    assert run.provider == "builtin"
    tried = run.providers_tried
    assert [(a["provider"], a["outcome"]) for a in tried] == [  # noqa: RUF100
        ("local0", outcome),
        ("builtin", "used"),
    ]
    assert reason in tried[0]["reason"]
    assert run.degraded_reason.startswith(f"local0 (test-model): {outcome.replace('_', ' ')}")
    assert {r["code"] for r in run.result["risks"]} >= {"FORECAST_AFTER_TARGET", "SAY_DO_LOW"}
    assert run.decision is not None


def test_a_hanging_provider_times_out_and_hands_off(world, chain):
    with OpenAIServer([hang(6)]) as server:
        chain(server, timeout=1)
        started = timezone.now()
        run = risk_scan(world)
        elapsed = timezone.now() - started

    assert [a["outcome"] for a in run.providers_tried] == ["timeout", "used"]
    assert run.providers_tried[0]["reason"] == "no answer within 1 s"
    assert run.providers_tried[0]["seconds"] < 3
    assert run.status == RunStatus.DEGRADED
    assert elapsed < dt.timedelta(seconds=5)


def test_the_second_provider_answers_when_the_first_fails(world, chain):
    with (
        OpenAIServer([status(503)]) as first,
        OpenAIServer([answer_with(honest_answer)]) as second,
    ):
        chain(first, second)
        run = risk_scan(world)

    assert run.provider == "local1"
    assert run.status == RunStatus.DEGRADED
    assert [a["outcome"] for a in run.providers_tried] == ["error", "used"]
    assert "local0 (test-model): error" in run.degraded_reason


def test_a_provider_the_portfolio_forbids_never_sees_its_data(world, chain):
    policy_create(
        actor=world.pmo_leader,
        portfolio=world.own,
        kind=PolicyKind.PROVIDER_RESTRICTION,
        parameters={"providers": ["local0"]},
    )
    with OpenAIServer([answer_with(honest_answer)]) as server:
        chain(server)
        run = risk_scan(world)

    assert server.requests == []
    assert run.providers_tried[0]["outcome"] == "blocked_by_policy"
    assert "may not see the data" in run.providers_tried[0]["reason"]
    assert run.provider == "builtin"
    assert run.status == RunStatus.DEGRADED


def test_over_budget_only_builtin_runs(world, chain):
    AgentBudget.objects.create(portfolio=world.own, monthly_tokens=100, monthly_cost=5)
    with OpenAIServer([answer_with(honest_answer)]) as server:
        chain(server)
        run = risk_scan(world)

    assert server.requests == []
    assert run.providers_tried[0]["outcome"] == "over_budget"
    assert "of 100 tokens" in run.providers_tried[0]["reason"]
    assert run.provider == "builtin"


def test_the_tokens_of_a_rejected_answer_count_against_the_budget(world, chain):
    with OpenAIServer([malformed()]) as server:
        chain(server)
        run = risk_scan(world)

    assert (run.input_tokens, run.output_tokens) == (1200, 300)
    assert run.providers_tried[0]["input_tokens"] == 1200


def test_the_model_cannot_raise_the_confidence_above_the_facts(world, chain):
    with OpenAIServer([answer_with(lambda data: honest_answer(data, confidence=1.0))]) as server:
        chain(server)
        run = risk_scan(world)

    assert run.provider == "local0"
    assert run.result["confidence"] == run.snapshot["facts"]["confidence"] < 1


def test_openai_without_an_api_key_is_skipped_without_any_network_call(world, settings):
    settings.AGENT_PROVIDERS = [("openai", "gpt-4o-mini"), ("builtin", "")]
    settings.AGENT_ENDPOINTS = {"openai": {"base_url": None, "api_key": None}}

    run = risk_scan(world)

    assert run.providers_tried[0]["outcome"] == "error"
    assert "no API key" in run.providers_tried[0]["reason"]
    assert run.provider == "builtin"


def test_the_default_chain_is_builtin_only_and_not_degraded(world):
    run = risk_scan(world)

    assert [a["provider"] for a in run.providers_tried] == ["builtin"]
    assert run.status == RunStatus.SUCCEEDED
    assert (run.input_tokens, run.output_tokens, run.cost) == (0, 0, 0)


def test_a_model_prioritization_proposes_the_computed_ranking(world, chain):
    ranked_epics(world.own, world.own_project)
    with OpenAIServer([answer_with(honest_answer)]) as server:
        chain(server)
        run, _ = agent_run_request(
            actor=world.pmo_leader, kind=RunKind.PRIORITIZATION, portfolio=world.own
        )
        agent_run_execute(run_id=run.pk)
    run.refresh_from_db()

    assert run.provider == "local0", run.providers_tried
    recommendation = Recommendation.objects.get()
    assert run.recommendation == recommendation
    assert recommendation.agent_label.startswith("agent:local0/test-model")
    assert [e["key"] for e in recommendation.epic_snapshot] == ["EP-1", "EP-2", "EP-3"]
    keys = {e["id"]: e["key"] for e in recommendation.epic_snapshot}
    assert [keys[i] for i in recommendation.proposed_ranking] == ["EP-3", "EP-2", "EP-1"]


def test_a_model_ranking_other_than_the_computed_one_is_rejected(world, chain):
    ranked_epics(world.own, world.own_project)

    def reorder(data):
        return honest_answer(data) | {"proposed_ranking": ["EP-1", "EP-3", "EP-2"]}

    with OpenAIServer([answer_with(reorder)]) as server:
        chain(server)
        run, _ = agent_run_request(
            actor=world.pmo_leader, kind=RunKind.PRIORITIZATION, portfolio=world.own
        )
        agent_run_execute(run_id=run.pk)
    run.refresh_from_db()

    assert run.providers_tried[0]["outcome"] == "rejected_by_guardrail"
    assert "differs from the computed ranking" in run.providers_tried[0]["reason"]
    recommendation = Recommendation.objects.get()
    keys = {e["id"]: e["key"] for e in recommendation.epic_snapshot}
    assert [keys[i] for i in recommendation.proposed_ranking] == ["EP-3", "EP-2", "EP-1"]


def test_an_endpoint_that_is_down_degrades_the_run_to_builtin_and_says_so(world, chain):
    with OpenAIServer([answer_with(honest_answer)]) as server:
        pass  # stopped: nothing listens on its port any more
    chain(server)

    run = risk_scan(world)

    assert run.status == RunStatus.DEGRADED
    assert run.provider == "builtin"
    assert run.providers_tried[0]["outcome"] == "error"
    assert "ConnectionError: Connection error" in run.providers_tried[0]["reason"]
    assert run.degraded_reason.startswith("local0 (test-model): error - ")
