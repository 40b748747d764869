"""Fixtures of the governance tests: epics of the `world` portfolios, and a DB snapshot of
everything a refused request must leave untouched."""

from __future__ import annotations

import pytest

from governance.models import Approval, DecisionLog, Policy, Recommendation
from portfolio.models import Epic
from tests.governance.factories import make_epics


@pytest.fixture
def epics(world) -> list[Epic]:
    """Five epics of `own` (payments), ranked 1..5: PAYMEN-1 ... PAYMEN-5."""
    return make_epics(world.own, 5)


@pytest.fixture
def foreign_epics(world) -> list[Epic]:
    return make_epics(world.foreign, 3)


def governance_state() -> tuple:
    """Everything a refused request must leave unchanged."""
    return (
        list(Epic.objects.order_by("pk").values_list("pk", "rank")),
        list(Recommendation.objects.order_by("pk").values_list("pk", "state", "version")),
        Approval.objects.count(),
        list(Policy.objects.order_by("pk").values_list("pk", "parameters", "active", "version")),
        DecisionLog.objects.count(),
    )


@pytest.fixture
def unchanged():
    """`unchanged()` returns a checker: call it after the request to assert nothing moved."""

    def snapshot():
        before = governance_state()

        def check() -> None:
            assert governance_state() == before

        return check

    return snapshot
