"""Policies: parameters validated per kind, verdicts per kind, provider_allowed, and policy
changes as logged decisions, by PMO leaders only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from governance.models import DecisionKind, DecisionLog, Policy, PolicyKind
from governance.policies import (
    EpicPosition,
    Outcome,
    policy_parameters_clean,
    recommendation_evaluate,
)
from governance.services import PolicyConflict, policy_create, policy_update, provider_allowed
from tests.governance.factories import PolicyFactory

pytestmark = pytest.mark.django_db

CURRENT = [
    EpicPosition(1, "A", "funnel"),
    EpicPosition(2, "B", "ready"),
    EpicPosition(3, "C", "implementing"),
    EpicPosition(4, "D", "funnel"),
    EpicPosition(5, "E", "funnel"),
]


def evaluate(portfolio, order=(2, 1, 3, 4, 5), confidence="0.800", evidence=1, provider=None):
    return recommendation_evaluate(
        portfolio=portfolio,
        current=CURRENT,
        proposed_ids=list(order),
        confidence=Decimal(confidence),
        evidence_count=evidence,
        provider=provider,
    )


# --- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "clean"),
    [
        (PolicyKind.CONFIDENCE_FLOOR, {"minimum": "0.6"}, {"minimum": "0.600"}),
        (PolicyKind.CONFIDENCE_FLOOR, {"minimum": 1}, {"minimum": "1.000"}),
        (PolicyKind.MAX_RANK_MOVE, {"max_places": "3"}, {"max_places": 3}),
        (
            PolicyKind.GATE_FREEZE,
            {"statuses": ["done", "implementing"]},
            {"statuses": ["implementing", "done"]},
        ),
        (PolicyKind.GATE_FREEZE, {"statuses": "done"}, {"statuses": ["done"]}),
        (PolicyKind.EVIDENCE_REQUIRED, {"minimum_links": 2}, {"minimum_links": 2}),
        (
            PolicyKind.PROVIDER_RESTRICTION,
            {"providers": "OpenAI, mistral"},
            {"providers": ["mistral", "openai"]},
        ),
    ],
)
def test_parameters_are_validated_and_normalized_per_kind(kind, raw, clean):
    assert policy_parameters_clean(kind, raw) == clean


@pytest.mark.parametrize(
    ("kind", "raw", "field"),
    [
        (PolicyKind.CONFIDENCE_FLOOR, {}, "minimum"),
        (PolicyKind.CONFIDENCE_FLOOR, {"minimum": "1.5"}, "minimum"),
        (PolicyKind.CONFIDENCE_FLOOR, {"minimum": "0"}, "minimum"),
        (PolicyKind.CONFIDENCE_FLOOR, {"minimum": "high"}, "minimum"),
        (PolicyKind.MAX_RANK_MOVE, {"max_places": 0}, "max_places"),
        (PolicyKind.MAX_RANK_MOVE, {"max_places": "two"}, "max_places"),
        (PolicyKind.MAX_RANK_MOVE, {"max_places": True}, "max_places"),
        (PolicyKind.GATE_FREEZE, {"statuses": ["shipped"]}, "statuses"),
        (PolicyKind.GATE_FREEZE, {"statuses": []}, "statuses"),
        (PolicyKind.EVIDENCE_REQUIRED, {"minimum_links": -1}, "minimum_links"),
        (PolicyKind.PROVIDER_RESTRICTION, {"providers": " , "}, "providers"),
    ],
)
def test_invalid_parameters_are_a_field_error_named_after_the_parameter(kind, raw, field):
    with pytest.raises(ValidationError) as raised:
        policy_parameters_clean(kind, raw)

    assert list(raised.value.message_dict) == [field]


def test_an_unknown_kind_is_a_kind_error():
    with pytest.raises(ValidationError) as raised:
        policy_parameters_clean("budget", {})

    assert "kind" in raised.value.message_dict


# --- verdicts ----------------------------------------------------------------------------------


def test_without_policies_there_are_no_verdicts_and_one_approval_is_needed(world):
    evaluation = evaluate(world.own)

    assert evaluation.verdicts == ()
    assert (evaluation.approvals_required, evaluation.executive_required) == (1, False)


@pytest.mark.parametrize(
    ("confidence", "outcome", "approvals"),
    [("0.599", Outcome.NEEDS_SECOND_REVIEW, 2), ("0.600", Outcome.PASS, 1)],
)
def test_confidence_below_the_floor_needs_a_second_reviewer(world, confidence, outcome, approvals):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)

    evaluation = evaluate(world.own, confidence=confidence)

    assert [v.outcome for v in evaluation.verdicts] == [outcome]
    assert evaluation.approvals_required == approvals


@pytest.mark.parametrize(
    ("order", "outcome"),
    [
        ((2, 1, 3, 4, 5), Outcome.PASS),  # moves of one place
        ((4, 1, 2, 3, 5), Outcome.PASS),  # D up exactly 3 places: not more than 3
        ((5, 1, 2, 3, 4), Outcome.NEEDS_EXECUTIVE),  # E up 4 places
    ],
)
def test_moving_an_epic_more_than_n_places_needs_an_executive(world, order, outcome):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.MAX_RANK_MOVE, parameters={"max_places": 3})

    evaluation = evaluate(world.own, order=order)

    assert [v.outcome for v in evaluation.verdicts] == [outcome]
    assert evaluation.executive_required is (outcome == Outcome.NEEDS_EXECUTIVE)
    if outcome == Outcome.NEEDS_EXECUTIVE:
        assert "E moves 4 places, more than 3" in evaluation.verdicts[0].reason


def test_an_epic_past_the_gate_cannot_change_position(world):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)

    allowed = evaluate(world.own, order=(2, 1, 3, 4, 5))
    blocked = evaluate(world.own, order=(1, 2, 4, 3, 5))  # C (implementing) moves down

    assert [v.outcome for v in allowed.verdicts] == [Outcome.PASS]
    assert blocked.blocked
    assert blocked.blocks[0].field == "proposed_ranking"
    assert "C is past the gate" in blocked.blocks[0].reason


def test_a_recommendation_without_enough_evidence_is_blocked(world):
    PolicyFactory(
        portfolio=world.own, kind=PolicyKind.EVIDENCE_REQUIRED, parameters={"minimum_links": 2}
    )

    evaluation = evaluate(world.own, evidence=1)

    assert evaluation.blocked
    assert evaluation.blocks[0].field == "evidence"


def test_inactive_policies_and_other_portfolios_policies_do_not_apply(world):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR, active=False)
    PolicyFactory(portfolio=world.foreign, kind=PolicyKind.CONFIDENCE_FLOOR)

    assert evaluate(world.own, confidence="0.1").verdicts == ()


def test_provider_restriction_applies_to_agent_recommendations_only(world):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.PROVIDER_RESTRICTION)

    assert evaluate(world.own).verdicts == ()
    assert evaluate(world.own, provider="OpenAI").blocked
    assert [v.outcome for v in evaluate(world.own, provider="mistral").verdicts] == [Outcome.PASS]


def test_provider_allowed_answers_with_a_verdict(world):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.PROVIDER_RESTRICTION)

    refused = provider_allowed(portfolio=world.own, provider="openai")
    allowed = provider_allowed(portfolio=world.own, provider="mistral")
    elsewhere = provider_allowed(portfolio=world.foreign, provider="openai")

    assert (refused.outcome, allowed.outcome, elsewhere.outcome) == (
        Outcome.BLOCK,
        Outcome.PASS,
        Outcome.PASS,
    )
    assert "Payments" in refused.reason
    assert elsewhere.reason == "No provider restriction."


def test_several_policies_give_one_verdict_each(world):
    for kind in (PolicyKind.CONFIDENCE_FLOOR, PolicyKind.EVIDENCE_REQUIRED):
        PolicyFactory(portfolio=world.own, kind=kind)

    evaluation = evaluate(world.own, confidence="0.5", evidence=3)

    assert sorted(v.kind for v in evaluation.verdicts) == [
        PolicyKind.CONFIDENCE_FLOOR,
        PolicyKind.EVIDENCE_REQUIRED,
    ]
    assert all(
        set(v.as_dict()) == {"policy_id", "kind", "outcome", "reason", "field"}
        for v in evaluation.verdicts
    )


# --- writes ------------------------------------------------------------------------------------


def test_pmo_leader_adds_a_policy_and_the_change_is_logged(world):
    policy = policy_create(
        actor=world.pmo_leader,
        portfolio=world.own,
        kind=PolicyKind.CONFIDENCE_FLOOR,
        parameters={"minimum": "0.6"},
        description="Board decision 2026-03",
    )

    entry = DecisionLog.objects.get(kind=DecisionKind.POLICY_CHANGE)
    assert policy.parameters == {"minimum": "0.600"}
    assert (entry.actor, entry.portfolio, entry.subject) == (
        world.pmo_leader,
        world.own,
        f"policy:{policy.pk}",
    )
    assert entry.outputs["old"] is None
    assert entry.outputs["new"]["parameters"] == {"minimum": "0.600"}
    assert "Confidence below 0.600 needs a second reviewer" in entry.summary


def test_a_policy_change_logs_old_and_new_values(world):
    policy = policy_create(
        actor=world.pmo_leader,
        portfolio=world.own,
        kind=PolicyKind.MAX_RANK_MOVE,
        parameters={"max_places": 3},
    )

    updated = policy_update(
        actor=world.pmo_leader, policy=policy, parameters={"max_places": 5}, version=1
    )

    entry = DecisionLog.objects.filter(kind=DecisionKind.POLICY_CHANGE).latest("sequence")
    assert updated.version == 2
    assert entry.outputs["old"]["parameters"] == {"max_places": 3}
    assert entry.outputs["new"]["parameters"] == {"max_places": 5}


def test_an_update_that_changes_nothing_writes_nothing(world):
    policy = policy_create(
        actor=world.pmo_leader,
        portfolio=world.own,
        kind=PolicyKind.MAX_RANK_MOVE,
        parameters={"max_places": 3},
    )
    entries = DecisionLog.objects.count()

    same = policy_update(actor=world.pmo_leader, policy=policy, parameters={"max_places": "3"})

    assert same.version == 1
    assert DecisionLog.objects.count() == entries


def test_deactivating_a_policy_is_logged(world):
    policy = PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)

    policy_update(actor=world.pmo_leader, policy=policy, active=False)

    entry = DecisionLog.objects.get(kind=DecisionKind.POLICY_CHANGE)
    assert (entry.outputs["old"]["active"], entry.outputs["new"]["active"]) == (True, False)
    assert entry.summary.endswith("(inactive)")


def test_a_stale_version_is_refused(world):
    policy = PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    policy_update(actor=world.pmo_leader, policy=policy, active=False)

    with pytest.raises(PolicyConflict):
        policy_update(actor=world.pmo_leader, policy=policy, active=True, version=1)


def test_one_policy_per_kind_and_portfolio(world):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)

    with pytest.raises(ValidationError) as raised:
        policy_create(
            actor=world.pmo_leader,
            portfolio=world.own,
            kind=PolicyKind.GATE_FREEZE,
            parameters={"statuses": ["done"]},
        )

    assert "kind" in raised.value.message_dict


@pytest.mark.parametrize("role", ["viewer", "team_lead", "executive", "outsider"])
def test_only_pmo_leaders_of_the_portfolio_change_policies(world, role, unchanged):
    policy = PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    check = unchanged()

    with pytest.raises(PermissionDenied):
        policy_create(
            actor=world.user(role),
            portfolio=world.own,
            kind=PolicyKind.CONFIDENCE_FLOOR,
            parameters={"minimum": "0.5"},
        )
    with pytest.raises(PermissionDenied):
        policy_update(actor=world.user(role), policy=policy, active=False)

    check()


def test_invalid_parameters_write_nothing(world, unchanged):
    check = unchanged()

    with pytest.raises(ValidationError):
        policy_create(
            actor=world.pmo_leader,
            portfolio=world.own,
            kind=PolicyKind.CONFIDENCE_FLOOR,
            parameters={"minimum": "7"},
        )

    check()
    assert not Policy.objects.exists()
