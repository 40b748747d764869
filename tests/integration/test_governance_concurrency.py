"""Concurrency of the governance writes, with real concurrent connections: every thread has
its own PostgreSQL connection (Django's connections are per thread) and its own transaction,
and a barrier releases them together.

- 50 writers appending to the decision log at once produce one unbroken chain per portfolio
  (the advisory lock queues them; without it, they collide on the same sequence number).
- Concurrent decisions on one recommendation produce exactly one outcome.
- Concurrent proposals for one portfolio leave exactly one pending recommendation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction

from governance import decision_log
from governance.decision_log import chains_verify
from governance.models import (
    Approval,
    DecisionKind,
    DecisionLog,
    PolicyKind,
    Recommendation,
    RecommendationState,
)
from governance.roles import Role
from governance.services import (
    RecommendationConflict,
    decision_record,
    recommendation_approve,
    recommendation_reject,
    role_grant,
)
from portfolio.models import Portfolio
from tests.factories import PortfolioFactory, UserFactory
from tests.governance.factories import (
    PolicyFactory,
    make_epics,
    moved_last_to_first,
    propose,
    ranking,
    swapped_first_two,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WRITERS = 50


def run_together(tasks: list[Callable[[], object]]) -> list[object]:
    """Run each task in its own thread (own connection, own transaction), released together
    by a barrier; returns each task's result or the exception it raised."""
    barrier = threading.Barrier(len(tasks))
    results: list[object] = [None] * len(tasks)

    def run(index: int, task: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = task()
        except Exception as error:  # reported to the test, which asserts on it
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, task)) for index, task in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    close_old_connections()
    return results


def append(portfolio_id: int | None, index: int) -> Callable[[], DecisionLog]:
    def task() -> DecisionLog:
        portfolio = None if portfolio_id is None else Portfolio.objects.get(pk=portfolio_id)
        with transaction.atomic():
            entry = decision_record(
                kind=DecisionKind.KPI_CHANGE,
                actor=None,
                actor_label=f"writer-{index}",
                portfolio=portfolio,
                subject=f"writer:{index}",
                summary=f"Concurrent write {index}",
            )
            time.sleep(0.002)  # hold the chain a moment, as a real change would
        return entry

    return task


def assert_unbroken(portfolio_id: int | None, count: int) -> None:
    entries = list(
        DecisionLog.objects.filter(portfolio_id=portfolio_id)
        .order_by("sequence")
        .values_list("sequence", "previous_hash", "entry_hash")
    )
    assert [sequence for sequence, _, _ in entries] == list(range(1, count + 1))
    previous = [previous for _, previous, _ in entries]
    assert len(set(previous)) == count, "two entries follow the same entry: a fork"
    result = chains_verify(portfolio_ids=[portfolio_id])[portfolio_id]
    assert (result.ok, result.entries) == (True, count)


def test_fifty_concurrent_writers_produce_one_unbroken_chain():
    portfolio = PortfolioFactory()

    results = run_together([append(portfolio.pk, index) for index in range(WRITERS)])

    assert [r for r in results if isinstance(r, Exception)] == []
    assert_unbroken(portfolio.pk, WRITERS)
    assert {entry.actor_label for entry in results} == {f"writer-{i}" for i in range(WRITERS)}


def test_concurrent_writers_of_different_chains_keep_each_chain_unbroken():
    first, second = PortfolioFactory(), PortfolioFactory()
    targets = [first.pk, second.pk, None]

    results = run_together([append(targets[index % 3], index) for index in range(WRITERS)])

    assert [r for r in results if isinstance(r, Exception)] == []
    assert_unbroken(first.pk, 17)
    assert_unbroken(second.pk, 17)
    assert_unbroken(None, 16)


def test_without_the_chain_lock_concurrent_writers_collide(monkeypatch):
    """The control experiment: the lock is what keeps writers from appending after the same
    entry; without it, the unique (portfolio, sequence) constraint refuses the forks."""
    portfolio = PortfolioFactory()
    monkeypatch.setattr(decision_log, "_lock_chain", lambda portfolio_id: time.sleep(0.05))

    results = run_together([append(portfolio.pk, index) for index in range(10)])

    collisions = [r for r in results if isinstance(r, IntegrityError)]
    assert collisions, "writers without the lock should have raced"
    assert "decision_sequence_in_portfolio" in str(collisions[0])
    assert chains_verify(portfolio_ids=[portfolio.pk])[portfolio.pk].ok


# --- one outcome per recommendation ----------------------------------------------------------


@pytest.fixture
def executives(world):
    second = UserFactory(username="executive2")
    role_grant(actor=world.admin, user=second, role=Role.EXECUTIVE, portfolio=world.own)
    return world.executive, second


def decide(function, user_id: int, recommendation_id: int, comment: str):
    def task():
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(pk=user_id)
        recommendation = Recommendation.objects.select_related("portfolio").get(
            pk=recommendation_id
        )
        return function(actor=user, recommendation=recommendation, comment=comment)

    return task


@pytest.mark.parametrize("round_number", range(3))
def test_concurrent_approve_and_reject_produce_exactly_one_outcome(world, executives, round_number):
    epics = make_epics(world.own, 5, prefix=f"R{round_number}")
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    approver, rejecter = executives

    results = run_together(
        [
            decide(recommendation_approve, approver.pk, recommendation.pk, "Yes."),
            decide(recommendation_reject, rejecter.pk, recommendation.pk, "No."),
        ]
    )

    winners = [r for r in results if isinstance(r, Recommendation)]
    losers = [r for r in results if isinstance(r, RecommendationConflict)]
    assert (len(winners), len(losers)) == (1, 1), results
    recommendation.refresh_from_db()
    assert recommendation.state == winners[0].state
    assert "already" in str(losers[0])
    assert Approval.objects.filter(recommendation=recommendation).count() == 1
    decided = DecisionLog.objects.filter(
        subject=f"recommendation:{recommendation.pk}",
        kind__in=[DecisionKind.APPROVAL, DecisionKind.REJECTION],
    )
    assert decided.count() == 1
    expected = (
        [f"R{round_number}-{i}" for i in (5, 1, 2, 3, 4)]
        if recommendation.state == RecommendationState.APPROVED
        else [f"R{round_number}-{i}" for i in (1, 2, 3, 4, 5)]
    )
    assert ranking(world.own) == expected
    assert all(result.ok for result in chains_verify().values())


def test_two_executives_approving_at_once_apply_the_ranking_exactly_once(world, executives):
    epics = make_epics(world.own, 5)
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))

    results = run_together(
        [decide(recommendation_approve, user.pk, recommendation.pk, "Yes.") for user in executives]
    )

    assert sum(isinstance(r, Recommendation) for r in results) == 1
    assert sum(isinstance(r, RecommendationConflict) for r in results) == 1
    assert DecisionLog.objects.filter(kind=DecisionKind.APPROVAL).count() == 1


def test_two_required_approvals_given_at_once_apply_the_ranking_once(world, executives):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)
    epics = make_epics(world.own, 5)
    recommendation = propose(
        world.pmo_leader, world.own, moved_last_to_first(epics), confidence="0.3"
    )

    results = run_together(
        [decide(recommendation_approve, user.pk, recommendation.pk, "Yes.") for user in executives]
    )

    assert all(isinstance(r, Recommendation) for r in results), results
    recommendation.refresh_from_db()
    assert recommendation.state == RecommendationState.APPROVED
    approvals = DecisionLog.objects.filter(kind=DecisionKind.APPROVAL).order_by("sequence")
    assert [entry.outputs["approvals"] for entry in approvals] == [1, 2]
    assert [entry.outputs["rank_changes"] != [] for entry in approvals] == [False, True]
    assert ranking(world.own)[0] == epics[-1].key


def test_concurrent_proposals_leave_exactly_one_pending_recommendation(world):
    epics = make_epics(world.own, 5)
    orders = [moved_last_to_first(epics), swapped_first_two(epics)] * 4

    def proposal(order):
        return lambda: propose(world.pmo_leader, world.own, order)

    results = run_together([proposal(order) for order in orders])

    assert all(isinstance(r, Recommendation) for r in results), results
    states = list(Recommendation.objects.values_list("state", flat=True))
    assert states.count(RecommendationState.PROPOSED) == 1
    assert states.count(RecommendationState.SUPERSEDED) == len(orders) - 1
    assert all(result.ok for result in chains_verify().values())
