"""Factories and helpers of the governance tests. Recommendations are made through the
service (as users and agents make them), so each one carries its snapshot and log entries."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import factory

from governance.models import Policy, PolicyKind, Recommendation
from governance.services import recommendation_propose
from portfolio.models import Epic, Portfolio
from tests.factories import EpicFactory, PortfolioFactory

STATUSES = ["funnel", "analyzing", "ready", "implementing", "done"]


class PolicyFactory(factory.django.DjangoModelFactory):
    """A policy written straight to the table (no log entry): for tests of evaluation."""

    class Meta:
        model = Policy

    portfolio = factory.SubFactory(PortfolioFactory)
    kind = PolicyKind.CONFIDENCE_FLOOR
    parameters = factory.LazyAttribute(
        lambda policy: {
            PolicyKind.CONFIDENCE_FLOOR: {"minimum": "0.600"},
            PolicyKind.MAX_RANK_MOVE: {"max_places": 2},
            PolicyKind.GATE_FREEZE: {"statuses": ["implementing", "done"]},
            PolicyKind.EVIDENCE_REQUIRED: {"minimum_links": 1},
            PolicyKind.PROVIDER_RESTRICTION: {"providers": ["openai"]},
        }[policy.kind]
    )


def make_epics(
    portfolio: Portfolio, count: int = 5, *, statuses: Sequence[str] = (), prefix: str = ""
) -> list[Epic]:
    """`count` epics ranked 1..count (keys <first 6 letters of the slug>-1...), all in the
    funnel unless `statuses` says otherwise."""
    prefix = prefix or portfolio.slug.upper()[:6]
    return [
        EpicFactory(
            portfolio=portfolio,
            key=f"{prefix}-{index}",
            title=f"Epic {index} of {portfolio.name}",
            rank=index,
            status=statuses[index - 1] if index <= len(statuses) else "funnel",
        )
        for index in range(1, count + 1)
    ]


def ranking(portfolio: Portfolio) -> list[str]:
    """The portfolio's epic keys in rank order."""
    return list(
        Epic.objects.filter(portfolio=portfolio).order_by("rank").values_list("key", flat=True)
    )


def moved_last_to_first(epics: Sequence[Epic]) -> list[int]:
    """The ids with the last epic moved to the top."""
    return [epics[-1].pk, *[epic.pk for epic in epics[:-1]]]


def swapped_first_two(epics: Sequence[Epic]) -> list[int]:
    ids = [epic.pk for epic in epics]
    return [ids[1], ids[0], *ids[2:]]


def propose(
    actor,
    portfolio: Portfolio,
    order: Sequence[int],
    *,
    confidence: str | Decimal = "0.800",
    evidence: Sequence[dict] = ({"label": "Velocity", "url": "/projects/PAY/"},),
    rationale: str = "Cards first: the regulator's deadline moved forward.",
    **kwargs,
) -> Recommendation:
    return recommendation_propose(
        actor=actor,
        portfolio=portfolio,
        proposed_ranking=list(order),
        rationale=rationale,
        confidence=confidence,
        evidence=list(evidence),
        expected_impact="Card fees compliant by Q3.",
        **kwargs,
    )
