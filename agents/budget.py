"""Per-portfolio monthly language-model budget: tokens and cost, per UTC calendar month.

Usage is what the portfolio's runs recorded this month (every attempt's tokens count, the
rejected ones too: they were paid for). Before each call the chain checks that the usage
plus an estimate of the call (prompt characters / 4, plus the output cap) stays within both
limits; otherwise that provider is skipped as over_budget, and so on down to builtin, which
costs nothing. Cost is priced from PMO_AGENT_PRICES (dollars per million tokens, per model);
a model not in the table (a self-hosted one) costs 0, and only its tokens count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import Coalesce

from agents.models import AgentBudget, AgentRun
from portfolio.models import Portfolio

MILLION = Decimal(1_000_000)
COST_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class BudgetStatus:
    month_start: dt.datetime
    tokens_used: int
    cost_used: Decimal
    token_limit: int
    cost_limit: Decimal

    def allows(self, *, tokens: int, cost: Decimal) -> bool:
        return (
            self.tokens_used + tokens <= self.token_limit
            and self.cost_used + cost <= self.cost_limit
        )

    def describe(self) -> str:
        return (
            f"{self.tokens_used:,} of {self.token_limit:,} tokens and ${self.cost_used:.2f} of "
            f"${self.cost_limit:.2f} used this month"
        )


def month_start(now: dt.datetime) -> dt.datetime:
    """The first instant of `now`'s calendar month in UTC."""
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def budget_status(*, portfolio: Portfolio, now: dt.datetime) -> BudgetStatus:
    """The portfolio's limits and this month's usage (two queries)."""
    start = month_start(now)
    used = AgentRun.objects.filter(portfolio=portfolio, created_at__gte=start).aggregate(
        input=Coalesce(Sum("input_tokens"), 0),
        output=Coalesce(Sum("output_tokens"), 0),
        cost=Coalesce(Sum("cost"), Decimal(0)),
    )
    row = AgentBudget.objects.filter(portfolio=portfolio).first()
    return BudgetStatus(
        month_start=start,
        tokens_used=int(used["input"]) + int(used["output"]),
        cost_used=Decimal(used["cost"]),
        token_limit=row.monthly_tokens if row else settings.AGENT_MONTHLY_TOKENS,
        cost_limit=row.monthly_cost if row else settings.AGENT_MONTHLY_COST,
    )


def cost_of(*, model: str, input_tokens: int, output_tokens: int) -> Decimal:
    """Dollars for a call, from the price table (0 for a model it does not list)."""
    given, taken = settings.AGENT_PRICES.get(model, (Decimal(0), Decimal(0)))
    cost = (Decimal(input_tokens) * given + Decimal(output_tokens) * taken) / MILLION
    return cost.quantize(COST_PLACES, rounding=ROUND_HALF_UP)


def tokens_estimate(prompt_characters: int) -> int:
    """Tokens a call may use at most: the prompt (about 4 characters per token) plus the
    output cap."""
    return prompt_characters // 4 + 1 + settings.AGENT_MAX_OUTPUT_TOKENS
