"""Recommendations and approvals: proposing (rights, validation, snapshot, policies,
superseding), deciding (separation of duties, comment, state machine, second reviewer,
escalation, stale snapshot, expiry), and the ranking applied with its log entry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from governance.decision_log import chains_verify
from governance.models import (
    Approval,
    ApprovalDecision,
    DecisionKind,
    DecisionLog,
    PolicyKind,
    Recommendation,
    RecommendationState,
)
from governance.recommendations import ranking_diff
from governance.roles import Role
from governance.services import (
    RecommendationConflict,
    recommendation_approve,
    recommendation_decide,
    recommendation_expire_due,
    recommendation_propose,
    recommendation_reject,
    recommendation_request_changes,
    role_grant,
)
from portfolio.models import Epic
from tests.factories import EpicFactory, UserFactory
from tests.governance.factories import (
    PolicyFactory,
    moved_last_to_first,
    propose,
    ranking,
    swapped_first_two,
)

pytestmark = pytest.mark.django_db

ORIGINAL = ["PAYMEN-1", "PAYMEN-2", "PAYMEN-3", "PAYMEN-4", "PAYMEN-5"]
LAST_FIRST = ["PAYMEN-5", "PAYMEN-1", "PAYMEN-2", "PAYMEN-3", "PAYMEN-4"]


def second_executive(world):
    user = UserFactory(username="executive2")
    role_grant(actor=world.admin, user=user, role=Role.EXECUTIVE, portfolio=world.own)
    return user


def entries(kind: str) -> list[DecisionLog]:
    return list(DecisionLog.objects.filter(kind=kind).order_by("id"))


# --- propose -----------------------------------------------------------------------------------


def test_pmo_leader_proposes_and_the_snapshot_and_log_entry_are_written(world, epics):
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))

    assert recommendation.state == RecommendationState.PROPOSED
    assert recommendation.proposed_by == world.pmo_leader
    assert [epic["key"] for epic in recommendation.epic_snapshot] == ORIGINAL
    assert recommendation.confidence == Decimal("0.800")
    assert recommendation.required_approvals == 1
    assert recommendation.expires_at - recommendation.created_at == dt.timedelta(days=14)
    assert [row.moved for row in ranking_diff(recommendation)] == [4, -1, -1, -1, -1]
    assert recommendation.moved_count == 5
    assert ranking(world.own) == ORIGINAL  # nothing applied before an approval
    (entry,) = entries(DecisionKind.RECOMMENDATION)
    assert (entry.actor, entry.portfolio, entry.subject) == (
        world.pmo_leader,
        world.own,
        f"recommendation:{recommendation.pk}",
    )
    assert entry.inputs["epic_snapshot_sha256"] == recommendation.snapshot_hash
    assert entry.inputs["current_ranking"] == [epic.pk for epic in epics]
    assert entry.outputs["proposed_ranking"] == moved_last_to_first(epics)
    assert entry.rationale == recommendation.rationale
    assert entry.confidence == Decimal("0.800")


@pytest.mark.parametrize("role", ["viewer", "team_lead", "executive", "outsider"])
def test_only_pmo_leaders_of_the_portfolio_propose(world, epics, role, unchanged):
    check = unchanged()

    with pytest.raises(PermissionDenied):
        propose(world.user(role), world.own, moved_last_to_first(epics))

    check()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rationale": "  "}, "rationale"),
        ({"confidence": "1.5"}, "confidence"),
        ({"confidence": "sure"}, "confidence"),
        ({"evidence": [{"label": "x", "url": "javascript:alert(1)"}]}, "evidence"),
        ({"evidence": [{"label": "x", "url": "//evil.example/"}]}, "evidence"),
        ({"evidence": [{"label": "x", "url": ""}]}, "evidence"),
    ],
)
def test_invalid_input_is_a_field_error_and_writes_nothing(world, epics, change, field, unchanged):
    check = unchanged()

    with pytest.raises(ValidationError) as raised:
        propose(world.pmo_leader, world.own, moved_last_to_first(epics), **change)

    assert field in raised.value.message_dict
    check()


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(lambda e: [e[1].pk, e[0].pk, e[2].pk, e[3].pk], id="missing-epic"),
        pytest.param(lambda e: [e[1].pk, e[1].pk, e[2].pk, e[3].pk, e[4].pk], id="duplicate"),
        pytest.param(lambda e: [e[0].pk, e[1].pk, e[2].pk, e[3].pk, e[4].pk], id="unchanged"),
        pytest.param(lambda e: [*[x.pk for x in e][:4], 999999], id="foreign-id"),
    ],
)
def test_a_ranking_must_reorder_every_epic_exactly_once(world, epics, order, unchanged):
    check = unchanged()

    with pytest.raises(ValidationError) as raised:
        propose(world.pmo_leader, world.own, order(epics))

    assert "proposed_ranking" in raised.value.message_dict
    check()


def test_a_proposal_based_on_an_outdated_ranking_is_refused(world, epics, unchanged):
    seen = [epic.pk for epic in epics]
    EpicFactory(portfolio=world.own, key="NEW-1", rank=6)
    check = unchanged()

    with pytest.raises(ValidationError, match="changed while you edited"):
        propose(world.pmo_leader, world.own, moved_last_to_first(epics), expected_current=seen)

    check()


def test_a_newer_proposal_supersedes_the_pending_ones_of_the_portfolio(world, epics, foreign_epics):
    older = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    elsewhere = propose(world.outsider, world.foreign, moved_last_to_first(foreign_epics))

    newer = propose(world.pmo_leader, world.own, swapped_first_two(epics))

    older.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (older.state, older.superseded_by, older.version) == (
        RecommendationState.SUPERSEDED,
        newer,
        2,
    )
    assert elsewhere.state == RecommendationState.PROPOSED
    assert entries(DecisionKind.RECOMMENDATION)[-1].outputs["supersedes"] == [older.pk]
    with pytest.raises(RecommendationConflict, match="already superseded"):
        recommendation_approve(actor=world.executive, recommendation=older, comment="ok")


def test_an_agent_proposes_through_the_same_service(world, epics):
    recommendation = recommendation_propose(
        portfolio=world.own,
        proposed_ranking=moved_last_to_first(epics),
        rationale="Throughput of PAY fell 30% while CARD's cost of delay doubled.",
        confidence=0.72,
        evidence=["/projects/PAY/"],
        agent_label="prioritizer (openai / gpt-x / prompt v3)",
        agent_provider="openai",
    )

    entry = entries(DecisionKind.RECOMMENDATION)[0]
    assert recommendation.proposed_by is None
    assert recommendation.proposer_label == "prioritizer (openai / gpt-x / prompt v3)"
    assert recommendation.evidence == [{"label": "/projects/PAY/", "url": "/projects/PAY/"}]
    assert (entry.actor, entry.actor_label) == (None, "prioritizer (openai / gpt-x / prompt v3)")
    assert entry.inputs["agent_provider"] == "openai"


def test_an_agent_through_a_restricted_provider_cannot_propose(world, epics, unchanged):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.PROVIDER_RESTRICTION)
    check = unchanged()

    with pytest.raises(ValidationError, match="Blocked by policy: Provider openai"):
        recommendation_propose(
            portfolio=world.own,
            proposed_ranking=moved_last_to_first(epics),
            rationale="r",
            confidence=0.9,
            agent_label="agent",
            agent_provider="openai",
        )

    check()


def test_a_proposer_is_a_user_or_an_agent(world, epics):
    with pytest.raises(ValueError, match="actor"):
        recommendation_propose(
            portfolio=world.own, proposed_ranking=[], rationale="r", confidence=1
        )


def test_a_gate_freeze_blocks_the_proposal_on_the_ranking_field(world, epics, unchanged):
    Epic.objects.filter(pk=epics[0].pk).update(status="implementing")
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    check = unchanged()

    with pytest.raises(ValidationError) as raised:
        propose(world.pmo_leader, world.own, moved_last_to_first(epics))

    assert "PAYMEN-1 is past the gate" in raised.value.message_dict["proposed_ranking"][0]
    check()


def test_evidence_required_blocks_a_proposal_without_evidence(world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.EVIDENCE_REQUIRED)

    with pytest.raises(ValidationError) as raised:
        propose(world.pmo_leader, world.own, moved_last_to_first(epics), evidence=[])

    assert raised.value.message_dict["evidence"][0].startswith("Blocked by policy: Cites 0")


def test_a_big_move_escalates_the_recommendation_with_its_own_log_entry(world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.MAX_RANK_MOVE, parameters={"max_places": 2})

    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))

    assert recommendation.state == RecommendationState.ESCALATED
    assert recommendation.executive_required
    (escalation,) = entries(DecisionKind.ESCALATION)
    assert escalation.actor_label == "policy"
    assert "PAYMEN-5 moves 4 places" in escalation.rationale
    assert escalation.policy_verdicts[0]["outcome"] == "needs_executive"


def test_verdicts_are_stored_with_the_recommendation_and_its_entry(world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)

    recommendation = propose(
        world.pmo_leader, world.own, moved_last_to_first(epics), confidence="0.5"
    )

    assert recommendation.required_approvals == 2
    assert recommendation.policy_verdicts[0]["outcome"] == "needs_second_review"
    assert entries(DecisionKind.RECOMMENDATION)[0].policy_verdicts == recommendation.policy_verdicts


# --- decide ------------------------------------------------------------------------------------


@pytest.fixture
def pending(world, epics) -> Recommendation:
    return propose(world.pmo_leader, world.own, moved_last_to_first(epics))


def test_executive_approval_applies_the_ranking_with_its_log_entry(world, epics, pending):
    approved = recommendation_approve(
        actor=world.executive, recommendation=pending, comment="Agreed with the board.", version=1
    )

    assert ranking(world.own) == LAST_FIRST
    assert sorted(Epic.objects.filter(portfolio=world.own).values_list("rank", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert (approved.state, approved.version) == (RecommendationState.APPROVED, 2)
    assert approved.decided_at is not None
    (entry,) = entries(DecisionKind.APPROVAL)
    assert (entry.actor, entry.rationale) == (world.executive, "Agreed with the board.")
    assert entry.outputs["state"] == "approved"
    assert entry.outputs["rank_changes"][:2] == [
        {"epic": "PAYMEN-5", "from": 5, "to": 1},
        {"epic": "PAYMEN-1", "from": 1, "to": 2},
    ]
    approval = Approval.objects.get()
    assert (approval.approver, approval.decision, approval.log_entry) == (
        world.executive,
        ApprovalDecision.APPROVE,
        entry,
    )
    assert all(result.ok for result in chains_verify().values())


def test_approval_keeps_the_portfolios_rank_numbers_when_they_have_gaps(world):
    epics = [
        EpicFactory(portfolio=world.own, key=f"GAP-{rank}", rank=rank) for rank in (10, 20, 30)
    ]
    recommendation = propose(world.pmo_leader, world.own, [epics[2].pk, epics[0].pk, epics[1].pk])

    recommendation_approve(actor=world.executive, recommendation=recommendation, comment="ok")

    assert list(
        Epic.objects.filter(portfolio=world.own).order_by("rank").values_list("key", "rank")
    ) == [
        ("GAP-30", 10),
        ("GAP-10", 20),
        ("GAP-20", 30),
    ]


@pytest.mark.parametrize(
    ("decide", "state", "kind"),
    [
        (recommendation_reject, RecommendationState.REJECTED, DecisionKind.REJECTION),
        (
            recommendation_request_changes,
            RecommendationState.CHANGES_REQUESTED,
            DecisionKind.CHANGES_REQUEST,
        ),
    ],
)
def test_reject_or_request_changes_closes_it_and_changes_no_rank(
    world, pending, decide, state, kind
):
    closed = decide(actor=world.executive, recommendation=pending, comment="Not now.")

    assert closed.state == state
    assert ranking(world.own) == ORIGINAL
    (entry,) = entries(kind)
    assert (entry.actor, entry.rationale) == (world.executive, "Not now.")
    assert Approval.objects.get().decision in (
        ApprovalDecision.REJECT,
        ApprovalDecision.REQUEST_CHANGES,
    )


def test_the_proposer_cannot_decide_on_their_own_recommendation(world, epics, unchanged):
    """Separation of duties, even for someone who holds both roles."""
    role_grant(actor=world.admin, user=world.pmo_leader, role=Role.EXECUTIVE, portfolio=world.own)
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    check = unchanged()

    for decision in ApprovalDecision.values:
        with pytest.raises(PermissionDenied, match="separation of duties"):
            recommendation_decide(
                actor=world.pmo_leader,
                recommendation=recommendation,
                decision=decision,
                comment="I like it",
            )

    check()


def test_whoever_started_an_agent_cannot_approve_its_recommendation(world, epics):
    role_grant(actor=world.admin, user=world.pmo_leader, role=Role.EXECUTIVE, portfolio=world.own)
    recommendation = recommendation_propose(
        actor=world.pmo_leader,
        agent_label="agent",
        portfolio=world.own,
        proposed_ranking=moved_last_to_first(epics),
        rationale="r",
        confidence=0.9,
    )

    with pytest.raises(PermissionDenied, match="separation of duties"):
        recommendation_approve(actor=world.pmo_leader, recommendation=recommendation, comment="ok")


@pytest.mark.parametrize("role", ["viewer", "team_lead", "pmo_leader", "outsider"])
def test_only_holders_of_the_approve_right_decide(world, pending, role, unchanged):
    other_pmo = UserFactory(username="other-pmo")
    role_grant(actor=world.admin, user=other_pmo, role=Role.PMO_LEADER, portfolio=world.own)
    actor = other_pmo if role == "pmo_leader" else world.user(role)
    check = unchanged()

    with pytest.raises(PermissionDenied, match="Only an executive"):
        recommendation_approve(actor=actor, recommendation=pending, comment="ok")

    check()


@pytest.mark.parametrize("comment", ["", "   \n"])
def test_a_decision_needs_a_comment(world, pending, comment, unchanged):
    check = unchanged()

    with pytest.raises(ValidationError) as raised:
        recommendation_reject(actor=world.executive, recommendation=pending, comment=comment)

    assert "comment" in raised.value.message_dict
    check()


def test_a_decided_recommendation_cannot_be_decided_again(world, pending):
    recommendation_reject(actor=world.executive, recommendation=pending, comment="No.")
    other = second_executive(world)

    with pytest.raises(RecommendationConflict, match="already rejected"):
        recommendation_approve(actor=other, recommendation=pending, comment="Yes.")

    assert ranking(world.own) == ORIGINAL


def test_a_decision_on_an_outdated_version_is_refused(world, pending, unchanged):
    check = unchanged()

    with pytest.raises(RecommendationConflict, match="changed since you opened it"):
        recommendation_approve(
            actor=world.executive, recommendation=pending, comment="ok", version=7
        )

    check()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda world, epics: EpicFactory(portfolio=world.own, rank=9), id="added"),
        pytest.param(
            lambda world, epics: Epic.objects.filter(pk=epics[1].pk).delete(), id="removed"
        ),
        pytest.param(
            lambda world, epics: Epic.objects.filter(pk=epics[0].pk).update(rank=99),
            id="re-ranked",
        ),
    ],
)
def test_a_stale_recommendation_is_refused_and_nothing_changes(world, epics, pending, change):
    change(world, epics)
    before = list(Epic.objects.order_by("pk").values_list("pk", "rank"))

    with pytest.raises(RecommendationConflict, match="Stale"):
        recommendation_approve(actor=world.executive, recommendation=pending, comment="ok")

    assert list(Epic.objects.order_by("pk").values_list("pk", "rank")) == before
    pending.refresh_from_db()
    assert (pending.state, pending.version) == (RecommendationState.PROPOSED, 1)
    assert not entries(DecisionKind.APPROVAL)


def test_low_confidence_needs_two_distinct_approvers(world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)
    recommendation = propose(
        world.pmo_leader, world.own, moved_last_to_first(epics), confidence="0.4"
    )
    other = second_executive(world)

    first = recommendation_approve(
        actor=world.executive, recommendation=recommendation, comment="A"
    )

    assert first.state == RecommendationState.PROPOSED
    assert ranking(world.own) == ORIGINAL
    assert "(1 of 2): waiting for another approver" in entries(DecisionKind.APPROVAL)[0].summary
    with pytest.raises(RecommendationConflict, match="already approved"):
        recommendation_approve(actor=world.executive, recommendation=recommendation, comment="B")

    second = recommendation_approve(actor=other, recommendation=recommendation, comment="C")

    assert second.state == RecommendationState.APPROVED
    assert ranking(world.own) == LAST_FIRST
    assert entries(DecisionKind.APPROVAL)[1].outputs["approvals"] == 2
    assert Approval.objects.count() == 2


def test_a_second_reviewer_can_still_reject_after_a_first_approval(world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)
    recommendation = propose(
        world.pmo_leader, world.own, moved_last_to_first(epics), confidence="0.4"
    )
    recommendation_approve(actor=world.executive, recommendation=recommendation, comment="A")

    rejected = recommendation_reject(
        actor=second_executive(world), recommendation=recommendation, comment="No."
    )

    assert rejected.state == RecommendationState.REJECTED
    assert ranking(world.own) == ORIGINAL


def test_a_policy_added_after_the_proposal_applies_at_approval(world, pending):
    PolicyFactory(
        portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR, parameters={"minimum": "0.9"}
    )

    first = recommendation_approve(actor=world.executive, recommendation=pending, comment="ok")

    assert (first.state, first.required_approvals) == (RecommendationState.PROPOSED, 2)
    assert entries(DecisionKind.APPROVAL)[0].policy_verdicts[0]["outcome"] == "needs_second_review"


def test_a_gate_reached_since_the_proposal_blocks_the_approval(world, epics, pending, unchanged):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    Epic.objects.filter(pk=epics[2].pk).update(status="implementing")
    check = unchanged()

    with pytest.raises(
        RecommendationConflict, match="Blocked by policy: PAYMEN-3 is past the gate"
    ):
        recommendation_approve(actor=world.executive, recommendation=pending, comment="ok")

    check()


def test_an_escalated_recommendation_needs_an_executive_not_just_a_superuser(world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.MAX_RANK_MOVE, parameters={"max_places": 1})
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))

    with pytest.raises(PermissionDenied, match="only an Executive"):
        recommendation_approve(actor=world.admin, recommendation=recommendation, comment="ok")
    approved = recommendation_approve(
        actor=world.executive, recommendation=recommendation, comment="ok"
    )

    assert approved.state == RecommendationState.APPROVED
    assert ranking(world.own) == LAST_FIRST


def test_a_superuser_may_approve_an_ordinary_recommendation(world, pending):
    approved = recommendation_approve(actor=world.admin, recommendation=pending, comment="ok")

    assert approved.state == RecommendationState.APPROVED


def test_an_expired_recommendation_cannot_be_approved_and_is_marked_expired(world, pending):
    Recommendation.objects.filter(pk=pending.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )

    with pytest.raises(RecommendationConflict, match="expired"):
        recommendation_approve(actor=world.executive, recommendation=pending, comment="ok")

    pending.refresh_from_db()
    assert pending.state == RecommendationState.EXPIRED
    assert ranking(world.own) == ORIGINAL
    (entry,) = entries(DecisionKind.EXPIRY)
    assert entry.actor_label == "system"
    assert not Approval.objects.exists()


def test_expire_due_marks_only_pending_recommendations_past_their_expiry(
    world, epics, foreign_epics
):
    late = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    fresh = propose(world.outsider, world.foreign, moved_last_to_first(foreign_epics))
    Recommendation.objects.filter(pk=late.pk).update(expires_at=timezone.now())

    assert recommendation_expire_due() == 1
    assert recommendation_expire_due() == 0

    late.refresh_from_db()
    fresh.refresh_from_db()
    assert (late.state, fresh.state) == (RecommendationState.EXPIRED, RecommendationState.PROPOSED)
    assert len(entries(DecisionKind.EXPIRY)) == 1


def test_the_whole_flow_leaves_every_chain_verifiable(world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)
    first = propose(world.pmo_leader, world.own, moved_last_to_first(epics), confidence="0.3")
    recommendation_request_changes(actor=world.executive, recommendation=first, comment="More data")
    second = propose(world.pmo_leader, world.own, swapped_first_two(epics), confidence="0.3")
    recommendation_approve(actor=world.executive, recommendation=second, comment="ok")
    recommendation_approve(actor=second_executive(world), recommendation=second, comment="ok too")

    assert ranking(world.own)[:2] == ["PAYMEN-2", "PAYMEN-1"]
    assert all(result.ok for result in chains_verify().values())
    kinds = list(
        DecisionLog.objects.filter(portfolio=world.own, subject__startswith="recommendation:")
        .order_by("sequence")
        .values_list("kind", flat=True)
    )
    assert kinds == ["recommendation", "changes_request", "recommendation", "approval", "approval"]


def test_the_expiry_task_calls_the_service(world, pending):
    from governance.tasks import recommendation_expire_due_task

    Recommendation.objects.filter(pk=pending.pk).update(expires_at=timezone.now())

    recommendation_expire_due_task.apply()

    pending.refresh_from_db()
    assert pending.state == RecommendationState.EXPIRED
