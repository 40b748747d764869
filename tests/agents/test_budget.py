"""The per-portfolio monthly budget (agents.budget): usage is this UTC month's runs of the
portfolio, priced from the table; a portfolio row overrides the defaults."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from agents.budget import budget_status, cost_of, month_start, tokens_estimate
from agents.models import AgentBudget, AgentRun, RunKind, RunTrigger
from agents.services import agent_budget_set
from governance.models import DecisionKind, DecisionLog

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 20, 12, tzinfo=dt.UTC)


def past_run(portfolio, *, at: dt.datetime, tokens: tuple[int, int], cost: str) -> AgentRun:
    return AgentRun.objects.create(
        kind=RunKind.PORTFOLIO_REVIEW,
        portfolio=portfolio,
        trigger=RunTrigger.SCHEDULE,
        status="succeeded",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost=Decimal(cost),
        created_at=at,
        idempotency_key=f"past-{at.isoformat()}-{portfolio.pk}",
    )


def test_cost_comes_from_the_price_table_per_million_tokens(settings):
    settings.AGENT_PRICES = {"gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"))}

    assert cost_of(model="gpt-4o-mini", input_tokens=10_000, output_tokens=2_000) == Decimal(
        "0.002700"
    )
    assert cost_of(model="llama3.1", input_tokens=10_000, output_tokens=2_000) == 0


def test_usage_counts_this_months_runs_of_the_portfolio_only(world, settings):
    settings.AGENT_MONTHLY_TOKENS = 50_000
    settings.AGENT_MONTHLY_COST = Decimal("3")
    past_run(world.own, at=NOW - dt.timedelta(days=2), tokens=(1000, 200), cost="0.5")
    past_run(world.own, at=dt.datetime(2026, 2, 28, 23, tzinfo=dt.UTC), tokens=(9, 9), cost="9")
    past_run(world.foreign, at=NOW, tokens=(7000, 0), cost="1")

    status = budget_status(portfolio=world.own, now=NOW)

    assert status.month_start == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert (status.tokens_used, status.cost_used) == (1200, Decimal("0.5"))
    assert (status.token_limit, status.cost_limit) == (50_000, Decimal("3"))
    assert status.allows(tokens=48_800, cost=Decimal("2.5"))
    assert not status.allows(tokens=48_801, cost=Decimal(0))
    assert not status.allows(tokens=0, cost=Decimal("2.51"))


def test_a_portfolio_budget_overrides_the_defaults(world):
    AgentBudget.objects.create(portfolio=world.own, monthly_tokens=0, monthly_cost=Decimal(0))

    status = budget_status(portfolio=world.own, now=NOW)

    assert not status.allows(tokens=1, cost=Decimal(0))
    assert "0 of 0 tokens" in status.describe()


def test_a_call_is_estimated_from_its_prompt_and_the_output_cap(settings):
    settings.AGENT_MAX_OUTPUT_TOKENS = 500

    assert tokens_estimate(4000) == 1000 + 1 + 500


def test_months_start_in_utc():
    local_evening = dt.datetime(2026, 4, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    assert month_start(local_evening) == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


# --- setting a budget ----------------------------------------------------------------------------


def test_a_pmo_leader_sets_the_budget_and_the_change_is_logged(world, settings):
    settings.AGENT_MONTHLY_TOKENS = 2_000_000
    settings.AGENT_MONTHLY_COST = Decimal(20)

    budget = agent_budget_set(
        actor=world.pmo_leader, portfolio=world.own, monthly_tokens="500000", monthly_cost="7.5"
    )

    assert (budget.monthly_tokens, budget.monthly_cost) == (500_000, Decimal("7.50"))
    entry = DecisionLog.objects.get(subject=f"agent_budget:{world.own.pk}")
    assert entry.kind == DecisionKind.POLICY_CHANGE
    assert entry.outputs["old"]["default"] is True
    assert entry.outputs["new"] == {"monthly_tokens": 500_000, "monthly_cost": "7.50"}
    status = budget_status(portfolio=world.own, now=NOW)
    assert (status.token_limit, status.cost_limit) == (500_000, Decimal("7.50"))


@pytest.mark.parametrize("role", ["viewer", "team_lead", "executive", "outsider"])
def test_only_a_pmo_leader_sets_the_budget(world, role):
    with pytest.raises(PermissionDenied):
        agent_budget_set(
            actor=world.user(role), portfolio=world.own, monthly_tokens=1, monthly_cost=1
        )

    assert not AgentBudget.objects.exists()


@pytest.mark.parametrize(
    ("tokens", "cost", "field"),
    [("many", "1", "monthly_tokens"), (-1, "1", "monthly_tokens"), (1, "-2", "monthly_cost")],
)
def test_a_malformed_budget_is_refused_by_field(world, tokens, cost, field):
    with pytest.raises(ValidationError) as refused:
        agent_budget_set(
            actor=world.pmo_leader, portfolio=world.own, monthly_tokens=tokens, monthly_cost=cost
        )

    assert list(refused.value.message_dict) == [field]
    assert not AgentBudget.objects.exists()
