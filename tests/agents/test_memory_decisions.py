"""Decisions become memory after their commit, in their own words, and stale ones are marked."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import transaction

from agents.memory_decisions import (
    decision_is_remembered,
    decisions_not_remembered,
    memory_backfill_decisions,
    memory_remember_decisions,
)
from agents.models import MemoryItem, MemoryKind
from agents.tasks.memory import memory_remember_decisions_task
from governance.decision_log import decision_record
from governance.models import DecisionKind, DecisionLog, PolicyKind, RecommendationState
from governance.services import (
    policy_create,
    policy_update,
    recommendation_approve,
    recommendation_reject,
)
from tests.governance.factories import make_epics, moved_last_to_first, propose, swapped_first_two

pytestmark = pytest.mark.django_db


@pytest.fixture
def epics(world):
    return make_epics(world.own, 5)


def remember_all() -> list[MemoryItem]:
    return memory_remember_decisions(DecisionLog.objects.values_list("pk", flat=True))


def memory_of(entry: DecisionLog) -> MemoryItem:
    return MemoryItem.objects.get(source_type="decision_log", source_id=str(entry.pk))


def entry_of(kind: str, subject: str) -> DecisionLog:
    return DecisionLog.objects.get(kind=kind, subject=subject)


def test_approved_recommendation_is_remembered_in_its_own_words_and_closes_the_proposal(
    world, epics, embedding_model
):
    recommendation = propose(
        world.pmo_leader,
        world.own,
        moved_last_to_first(epics),
        rationale="The supplier slipped the delivery of the card readers; ship payouts first.",
    )
    recommendation_approve(
        actor=world.executive, recommendation=recommendation, comment="Agreed: payouts first."
    )
    subject = f"recommendation:{recommendation.pk}"

    remember_all()

    proposal = memory_of(entry_of(DecisionKind.RECOMMENDATION, subject))
    approval = memory_of(entry_of(DecisionKind.APPROVAL, subject))
    assert proposal.kind == approval.kind == MemoryKind.DECISION
    assert proposal.portfolio == world.own
    assert proposal.text.startswith("Proposed reprioritization of the epics")
    assert "PAYMEN-5" in proposal.text
    assert "up 4 places" in proposal.text
    assert "supplier slipped the delivery" in proposal.text
    assert approval.text.startswith("Approved reprioritization")
    assert "Agreed: payouts first." in approval.text
    assert "supplier slipped the delivery" in approval.text
    assert proposal.superseded_by == approval
    assert approval.superseded_by is None
    assert approval.created_at == entry_of(DecisionKind.APPROVAL, subject).created_at


def test_supersession_does_not_depend_on_the_order_entries_are_remembered(
    world, epics, embedding_model
):
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    recommendation_approve(actor=world.executive, recommendation=recommendation, comment="Yes.")
    subject = f"recommendation:{recommendation.pk}"
    proposal_entry = entry_of(DecisionKind.RECOMMENDATION, subject)
    approval_entry = entry_of(DecisionKind.APPROVAL, subject)

    memory_remember_decisions([approval_entry.pk])
    memory_remember_decisions([proposal_entry.pk])

    assert memory_of(proposal_entry).superseded_by == memory_of(approval_entry)


def test_a_newer_proposal_makes_the_replaced_proposal_stale(world, epics, embedding_model):
    first = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    second = propose(world.pmo_leader, world.own, swapped_first_two(epics))
    first.refresh_from_db()
    assert first.state == RecommendationState.SUPERSEDED

    remember_all()

    older = memory_of(entry_of(DecisionKind.RECOMMENDATION, f"recommendation:{first.pk}"))
    newer = memory_of(entry_of(DecisionKind.RECOMMENDATION, f"recommendation:{second.pk}"))
    assert older.superseded_by == newer
    assert newer.superseded_by is None


def test_the_next_approved_ranking_makes_the_previous_one_stale(world, epics, embedding_model):
    first = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    recommendation_approve(actor=world.executive, recommendation=first, comment="First.")
    memory_remember_decisions(DecisionLog.objects.values_list("pk", flat=True))
    current = list(world.own.epics.order_by("rank"))
    second = propose(world.pmo_leader, world.own, swapped_first_two(current))
    recommendation_approve(actor=world.executive, recommendation=second, comment="Second.")

    remember_all()

    first_approval = memory_of(entry_of(DecisionKind.APPROVAL, f"recommendation:{first.pk}"))
    second_approval = memory_of(entry_of(DecisionKind.APPROVAL, f"recommendation:{second.pk}"))
    assert first_approval.superseded_by == second_approval
    assert second_approval.superseded_by is None


def test_a_rejection_is_remembered_with_its_reason(world, epics, embedding_model):
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    recommendation_reject(
        actor=world.executive, recommendation=recommendation, comment="Cards stay first: Q3 audit."
    )
    subject = f"recommendation:{recommendation.pk}"

    remember_all()

    rejection = memory_of(entry_of(DecisionKind.REJECTION, subject))
    assert rejection.text.startswith("Rejected reprioritization")
    assert "Reason: Cards stay first: Q3 audit." in rejection.text
    assert memory_of(entry_of(DecisionKind.RECOMMENDATION, subject)).superseded_by == rejection


def test_a_policy_change_makes_the_previous_change_of_that_policy_stale(world, embedding_model):
    policy = policy_create(
        actor=world.pmo_leader,
        portfolio=world.own,
        kind=PolicyKind.CONFIDENCE_FLOOR,
        parameters={"minimum": "0.6"},
        description="Agents must be fairly sure.",
    )
    policy_update(actor=world.pmo_leader, policy=policy, parameters={"minimum": "0.8"})

    remember_all()

    created, updated = (
        memory_of(entry)
        for entry in DecisionLog.objects.filter(kind=DecisionKind.POLICY_CHANGE).order_by("pk")
    )
    assert "Policy change" in created.text
    assert "Confidence floor" in created.text
    assert created.superseded_by == updated
    assert updated.superseded_by is None


def test_administration_and_entries_without_a_portfolio_are_not_remembered(world, embedding_model):
    decision_record(
        kind=DecisionKind.HISTORY_IMPORT, actor=None, summary="Imported", subject="project:PAY",
        portfolio=world.own,
    )  # fmt: skip
    decision_record(
        kind=DecisionKind.POLICY_CHANGE, actor=None, summary="Global", subject="x", portfolio=None
    )
    decision_record(
        kind=DecisionKind.KPI_CORRECTION,
        actor=world.pmo_leader,
        summary="Corrected the NPS of March from 12 to 21",
        rationale="Typo in the survey export.",
        subject="project:PAY",
        portfolio=world.own,
    )
    assert DecisionLog.objects.filter(kind=DecisionKind.ROLE_CHANGE).exists()

    remembered = remember_all()

    assert [item.text for item in remembered] == [
        "KPI correction: Corrected the NPS of March from 12 to 21. Typo in the survey export."
    ]
    assert remembered[0].project == world.own_project


@pytest.mark.parametrize(
    ("kind", "portfolio", "outputs", "expected"),
    [
        (DecisionKind.APPROVAL, 1, {"state": "approved"}, True),
        (DecisionKind.APPROVAL, 1, {"state": "proposed"}, False),  # waits for a 2nd approver
        (DecisionKind.REJECTION, 1, {}, True),
        (DecisionKind.ESCALATION, 1, {}, True),
        (DecisionKind.EXPIRY, 1, {}, False),
        (DecisionKind.AGENT_RUN, 1, {}, False),
        (DecisionKind.ROLE_CHANGE, 1, {}, False),
        (DecisionKind.KPI_CHANGE, 1, {}, False),
        (DecisionKind.POLICY_CHANGE, None, {}, False),
    ],
)
def test_which_decisions_are_remembered(kind, portfolio, outputs, expected):
    assert decision_is_remembered(kind=kind, portfolio_id=portfolio, outputs=outputs) is expected


def test_remembering_decisions_again_embeds_and_changes_nothing(world, epics, embedding_model):
    propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    first = remember_all()
    before = list(MemoryItem.objects.values_list("pk", "text", "superseded_by_id"))

    with mock.patch.object(
        type(embedding_model), "embed_documents", side_effect=AssertionError("embedded again")
    ):
        second = remember_all()

    assert [item.pk for item in second] == [item.pk for item in first]
    assert list(MemoryItem.objects.values_list("pk", "text", "superseded_by_id")) == before


def test_a_recorded_decision_enqueues_the_memory_task_after_commit_only(
    world, epics, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(memory_remember_decisions_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
        assert not delay.called  # nothing is sent before the commit

    entry = entry_of(DecisionKind.RECOMMENDATION, f"recommendation:{recommendation.pk}")
    delay.assert_called_once_with([entry.pk])


def test_a_rolled_back_or_unremembered_decision_enqueues_nothing(
    world, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(memory_remember_decisions_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        try:
            with transaction.atomic():
                decision_record(
                    kind=DecisionKind.POLICY_CHANGE,
                    actor=None,
                    summary="Rolled back",
                    subject="policy:1",
                    portfolio=world.own,
                )
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass
        decision_record(
            kind=DecisionKind.KPI_CHANGE, actor=None, summary="Measured", subject="kpi:1",
            portfolio=world.own,
        )  # fmt: skip

    assert not delay.called


def test_a_broker_outage_at_commit_is_logged_and_not_raised(
    world, django_capture_on_commit_callbacks, caplog
):
    with (
        mock.patch.object(memory_remember_decisions_task, "delay", side_effect=OSError("down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        decision_record(
            kind=DecisionKind.POLICY_CHANGE, actor=None, summary="Changed", subject="policy:1",
            portfolio=world.own,
        )  # fmt: skip

    assert "could not enqueue" in caplog.text


def test_backfill_remembers_missed_decisions_once(world, epics, embedding_model):
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    recommendation_approve(actor=world.executive, recommendation=recommendation, comment="Yes.")
    missed = decisions_not_remembered()

    remembered = memory_backfill_decisions()
    again = memory_backfill_decisions()

    assert len(missed) == remembered == 2  # the proposal and the final approval
    assert again == 0
    assert decisions_not_remembered() == []
