"""The governance REST API for every role: recommendations (list, detail, propose, approve /
reject / request changes), the decision log (read-only, filtered, verification) and policies.
A refused request changes nothing. The schema is generated without a warning."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from governance.models import DecisionKind, PolicyKind, Recommendation, RecommendationState
from governance.roles import Role
from governance.services import decision_record, recommendation_reject, role_grant
from portfolio.models import Epic
from tests.conftest import ROLES
from tests.factories import PortfolioFactory
from tests.governance.factories import (
    PolicyFactory,
    make_epics,
    moved_last_to_first,
    propose,
    ranking,
    swapped_first_two,
)

pytestmark = pytest.mark.django_db

RECOMMENDATIONS = "/api/recommendations/"
DECISIONS = "/api/decisions/"
POLICIES = "/api/policies/"
LAST_FIRST = ["PAYMEN-5", "PAYMEN-1", "PAYMEN-2", "PAYMEN-3", "PAYMEN-4"]
ORIGINAL = ["PAYMEN-1", "PAYMEN-2", "PAYMEN-3", "PAYMEN-4", "PAYMEN-5"]


@pytest.fixture(autouse=True)
def _governance_api_routes(settings):
    """The governance routes, whether or not pmo/api_urls.py includes them yet."""
    settings.ROOT_URLCONF = "tests.governance.urls"


@pytest.fixture
def api(world):
    def signed_in(role: str) -> APIClient:
        client = APIClient()
        if world.user(role) is not None:
            client.force_login(world.user(role))
        return client

    return signed_in


@pytest.fixture
def pending(world, epics) -> Recommendation:
    return propose(world.pmo_leader, world.own, moved_last_to_first(epics))


def action_url(recommendation, action: str) -> str:
    return f"{RECOMMENDATIONS}{recommendation.pk}/{action}/"


# --- recommendations: reading ------------------------------------------------------------------

LIST_SEES = {
    "viewer": False,
    "team_lead": False,
    "pmo_leader": True,
    "executive": True,
    "outsider": False,
}


@pytest.mark.parametrize("role", ROLES)
def test_recommendations_are_listed_to_proposers_and_approvers_of_the_portfolio(
    api, world, pending, role
):
    response = api(role).get(RECOMMENDATIONS)

    if role == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == ([pending.pk] if LIST_SEES[role] else [])


@pytest.mark.parametrize("role", ROLES)
def test_a_recommendation_is_404_to_whoever_may_not_see_it(api, world, pending, role):
    response = api(role).get(f"{RECOMMENDATIONS}{pending.pk}/")

    expected = 401 if role == "anonymous" else (200 if LIST_SEES[role] else 404)
    assert response.status_code == expected
    if expected == 404:
        assert response.json() == api(role).get(f"{RECOMMENDATIONS}999999/").json()


def test_a_recommendation_has_its_diff_verdicts_and_decisions(api, world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)
    recommendation = propose(
        world.pmo_leader, world.own, moved_last_to_first(epics), confidence="0.5"
    )
    api("executive").post(action_url(recommendation, "approve"), {"comment": "First."})

    body = api("executive").get(f"{RECOMMENDATIONS}{recommendation.pk}/").json()

    assert body["portfolio"] == "payments"
    assert body["state"] == "proposed"
    assert (body["approval_count"], body["required_approvals"]) == (1, 2)
    assert body["proposed_by"] == body["proposer"] == "pmo_leader"
    assert body["confidence"] == 0.5
    assert body["ranking"][0] == {
        "epic_id": epics[4].pk,
        "key": "PAYMEN-5",
        "title": epics[4].title,
        "status": "funnel",
        "current_position": 5,
        "proposed_position": 1,
        "moved": 4,
    }
    assert body["policy_verdicts"][0]["outcome"] == "needs_second_review"
    assert body["approvals"][0]["approver"] == "executive"
    assert body["approvals"][0]["comment"] == "First."
    assert body["evidence"] == [{"label": "Velocity", "url": "/projects/PAY/"}]


def test_the_list_filters_by_portfolio_state_and_pending(api, world, epics, foreign_epics):
    role_grant(
        actor=world.admin, user=world.executive, role=Role.EXECUTIVE, portfolio=world.foreign
    )
    first = propose(world.pmo_leader, world.own, swapped_first_two(epics))
    second = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    other = propose(world.outsider, world.foreign, moved_last_to_first(foreign_epics))
    client = api("executive")

    def ids(**params):
        return [row["id"] for row in client.get(RECOMMENDATIONS, params).json()["results"]]

    assert ids() == [other.pk, second.pk, first.pk]
    assert ids(portfolio="payments") == [second.pk, first.pk]
    assert ids(state="superseded") == [first.pk]
    assert ids(pending="true") == [other.pk, second.pk]
    assert ids(pending="false") == [first.pk]
    assert client.get(RECOMMENDATIONS, {"state": "maybe"}).status_code == 400


# --- recommendations: proposing ----------------------------------------------------------------


def payload(epics, **change) -> dict:
    return {
        "portfolio": "payments",
        "proposed_ranking": moved_last_to_first(epics),
        "expected_current": [epic.pk for epic in epics],
        "rationale": "Cards first.",
        "evidence": [{"label": "Burndown", "url": "/projects/PAY/"}],
        "expected_impact": "Q3 compliance.",
        "confidence": 0.7,
        **change,
    }


def test_a_pmo_leader_proposes_through_the_api(api, world, epics):
    response = api("pmo_leader").post(RECOMMENDATIONS, payload(epics), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "proposed"
    assert [row["key"] for row in body["ranking"]] == LAST_FIRST
    assert Recommendation.objects.get().proposed_by == world.pmo_leader


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 401),
        ("viewer", 403),
        ("team_lead", 403),
        ("executive", 403),
        ("outsider", 400),  # the portfolio does not exist, as far as they can tell
    ],
)
def test_others_cannot_propose_and_nothing_changes(api, world, epics, role, status, unchanged):
    check = unchanged()

    response = api(role).post(RECOMMENDATIONS, payload(epics), format="json")

    assert response.status_code == status
    if role == "outsider":
        assert "portfolio" in response.json()
    check()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rationale": ""}, "rationale"),
        ({"confidence": 1.5}, "confidence"),
        ({"proposed_ranking": []}, "proposed_ranking"),
        ({"evidence": [{"url": "file:///etc/passwd"}]}, "evidence"),
    ],
)
def test_invalid_proposals_are_400_naming_the_field(api, world, epics, change, field, unchanged):
    check = unchanged()

    response = api("pmo_leader").post(RECOMMENDATIONS, payload(epics, **change), format="json")

    assert response.status_code == 400
    assert field in response.json()
    check()


def test_a_blocked_proposal_is_400_with_the_policy_reason(api, world, epics):
    Epic.objects.filter(pk=epics[0].pk).update(status="done")
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)

    response = api("pmo_leader").post(RECOMMENDATIONS, payload(epics), format="json")

    assert response.status_code == 400
    assert response.json()["proposed_ranking"][0].startswith("Blocked by policy: PAYMEN-1")


# --- recommendations: deciding -----------------------------------------------------------------


def test_an_executive_approves_with_a_comment_and_the_ranking_changes(api, world, pending):
    response = api("executive").post(
        action_url(pending, "approve"), {"comment": "Go.", "version": 1}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["state"] == "approved"
    assert response.json()["version"] == 2
    assert ranking(world.own) == LAST_FIRST


@pytest.mark.parametrize(
    ("action", "state"), [("reject", "rejected"), ("request-changes", "changes_requested")]
)
def test_reject_and_request_changes(api, world, pending, action, state):
    response = api("executive").post(action_url(pending, action), {"comment": "No."})

    assert (response.status_code, response.json()["state"]) == (200, state)
    assert ranking(world.own) == ORIGINAL


@pytest.mark.parametrize("action", ["approve", "reject", "request-changes"])
def test_a_decision_without_comment_is_400(api, world, pending, action, unchanged):
    check = unchanged()

    response = api("executive").post(action_url(pending, action), {"comment": "  "})

    assert response.status_code == 400
    assert "comment" in response.json()
    check()


def test_the_proposer_approving_their_own_is_403(api, world, epics, unchanged):
    role_grant(actor=world.admin, user=world.pmo_leader, role=Role.EXECUTIVE, portfolio=world.own)
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    check = unchanged()

    response = api("pmo_leader").post(action_url(recommendation, "approve"), {"comment": "Mine."})

    assert response.status_code == 403
    assert "separation of duties" in response.json()["detail"]
    check()


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 401),
        ("viewer", 404),
        ("team_lead", 404),
        ("pmo_leader", 403),
        ("outsider", 404),
    ],
)
def test_who_may_not_decide_is_refused_and_nothing_changes(
    api, world, pending, role, status, unchanged
):
    check = unchanged()

    responses = [
        api(role).post(action_url(pending, action), {"comment": "x"})
        for action in ("approve", "reject", "request-changes")
    ]

    assert {response.status_code for response in responses} == {status}
    check()


def test_deciding_twice_is_409_and_the_first_outcome_stands(api, world, pending):
    other = api("executive")
    assert other.post(action_url(pending, "reject"), {"comment": "No."}).status_code == 200

    response = api("executive").post(action_url(pending, "approve"), {"comment": "Yes."})

    assert response.status_code == 409
    assert "already rejected" in response.json()["detail"]
    assert ranking(world.own) == ORIGINAL


def test_an_outdated_version_is_409(api, world, pending, unchanged):
    check = unchanged()

    response = api("executive").post(
        action_url(pending, "approve"), {"comment": "ok", "version": 9}, format="json"
    )

    assert response.status_code == 409
    check()


def test_a_stale_recommendation_is_409(api, world, epics, pending):
    Epic.objects.filter(pk=epics[0].pk).delete()

    response = api("executive").post(action_url(pending, "approve"), {"comment": "ok"})

    assert response.status_code == 409
    assert response.json()["detail"].startswith("Stale")
    pending.refresh_from_db()
    assert pending.state == RecommendationState.PROPOSED


# --- decision log ------------------------------------------------------------------------------


@pytest.fixture
def corrections(world):
    for project in (world.own_project, world.sibling_project, world.foreign_project):
        decision_record(
            kind=DecisionKind.KPI_CORRECTION,
            actor=world.admin,
            portfolio=project.portfolio,
            subject=f"project:{project.key}",
            summary=f"Corrected the velocity of {project.key}",
            rationale="Double counted sprint",
        )


@pytest.mark.parametrize("role", ROLES)
def test_the_decision_log_is_filtered_by_permission(api, world, corrections, role):
    response = api(role).get(DECISIONS, {"kind": "kpi_correction"})

    if role == "anonymous":
        assert response.status_code == 401
        return
    subjects = {row["subject"] for row in response.json()["results"]}
    expected = {
        "viewer": {"project:PAY", "project:CARD"},
        "team_lead": {"project:PAY"},
        "pmo_leader": {"project:PAY", "project:CARD"},
        "executive": {"project:PAY", "project:CARD"},
        "outsider": {"project:SHIP"},
    }[role]
    assert subjects == expected


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"q": "velocity"}, 2),
        ({"q": "double counted", "portfolio": "payments"}, 2),
        ({"actor": "admin", "kind": "kpi_correction"}, 2),
        ({"kind": "role_change"}, 4),
        ({"since": "2999-01-01"}, 0),
    ],
)
def test_the_decision_log_filters(api, world, corrections, params, count):
    response = api("pmo_leader").get(DECISIONS, params)

    assert response.json()["count"] == count


@pytest.mark.parametrize("params", [{"kind": "nope"}, {"since": "yesterday"}])
def test_invalid_decision_filters_are_400(api, world, params):
    assert api("pmo_leader").get(DECISIONS, params).status_code == 400


def test_a_decision_has_its_chain_fields_and_hashes(api, world, corrections):
    row = api("pmo_leader").get(DECISIONS, {"q": "PAY"}).json()["results"][0]

    assert set(row) >= {"sequence", "previous_hash", "entry_hash", "inputs", "policy_verdicts"}
    assert len(row["entry_hash"]) == 64
    assert api("pmo_leader").get(f"{DECISIONS}{row['id']}/").status_code == 200
    assert api("outsider").get(f"{DECISIONS}{row['id']}/").status_code == 404


def test_decisions_are_read_only(api, world, corrections):
    row = api("admin").get(DECISIONS).json()["results"][0]

    assert api("admin").delete(f"{DECISIONS}{row['id']}/").status_code == 405
    assert api("admin").post(DECISIONS, {}).status_code == 405


def test_verification_lists_the_chains_the_caller_reads(api, world, corrections):
    response = api("pmo_leader").get(f"{DECISIONS}verification/")

    assert response.status_code == 200
    (chain,) = response.json()
    assert (chain["portfolio"], chain["verified"], chain["fault"]) == ("payments", True, None)
    assert chain["entries"] == chain["head_sequence"] > 0


# --- policies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_policies_are_read_by_everyone_who_sees_the_portfolio(api, world, role):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)

    response = api(role).get(POLICIES)

    if role == "anonymous":
        assert response.status_code == 401
        return
    portfolios = {row["portfolio"] for row in response.json()["results"]}
    assert portfolios == (set() if role == "outsider" else {"payments"})


def test_a_pmo_leader_adds_and_changes_a_policy(api, world):
    client = api("pmo_leader")

    created = client.post(
        POLICIES,
        {"portfolio": "payments", "kind": "max_rank_move", "parameters": {"max_places": 3}},
        format="json",
    )
    changed = client.patch(
        f"{POLICIES}{created.json()['id']}/",
        {"parameters": {"max_places": 5}, "version": 1},
        format="json",
    )

    assert created.status_code == 201
    assert changed.status_code == 200
    assert changed.json()["parameters"] == {"max_places": 5}
    assert changed.json()["rule"] == "Moving an epic more than 5 places needs an executive."
    assert changed.json()["version"] == 2


@pytest.mark.parametrize(
    ("role", "create_status", "update_status"),
    [
        ("anonymous", 401, 401),
        ("viewer", 403, 403),
        ("team_lead", 403, 403),
        ("executive", 403, 403),
        ("outsider", 400, 404),
    ],
)
def test_others_cannot_change_policies(api, world, role, create_status, update_status, unchanged):
    policy = PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    check = unchanged()
    client = api(role)

    created = client.post(
        POLICIES,
        {"portfolio": "payments", "kind": "confidence_floor", "parameters": {"minimum": 0.5}},
        format="json",
    )
    updated = client.patch(f"{POLICIES}{policy.pk}/", {"active": False}, format="json")

    assert (created.status_code, updated.status_code) == (create_status, update_status)
    check()


def test_invalid_policy_parameters_are_400_naming_the_parameter(api, world, unchanged):
    check = unchanged()

    response = api("pmo_leader").post(
        POLICIES,
        {"portfolio": "payments", "kind": "confidence_floor", "parameters": {"minimum": 3}},
        format="json",
    )

    assert response.status_code == 400
    assert "minimum" in response.json()
    check()


def test_policy_update_conflict_and_put_not_allowed(api, world):
    policy = PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE, version=2)
    client = api("pmo_leader")

    conflict = client.patch(
        f"{POLICIES}{policy.pk}/", {"active": False, "version": 1}, format="json"
    )
    put = client.put(f"{POLICIES}{policy.pk}/", {"active": False}, format="json")

    assert conflict.status_code == 409
    assert put.status_code == 405


# --- schema and query counts --------------------------------------------------------------------


def test_the_schema_documents_the_governance_api_without_a_warning(tmp_path):
    target = tmp_path / "schema.yml"

    call_command("spectacular", validate=True, fail_on_warn=True, file=str(target))

    schema = target.read_text()
    for path in (
        "/api/recommendations/{id}/approve/",
        "/api/recommendations/{id}/request-changes/",
        "/api/decisions/verification/",
        "/api/policies/{id}/",
    ):
        assert path in schema


def _more_recommendations(world, count: int) -> None:
    for _ in range(count):
        portfolio = PortfolioFactory()
        role_grant(
            actor=world.admin, user=world.executive, role=Role.EXECUTIVE, portfolio=portfolio
        )
        role_grant(
            actor=world.admin, user=world.pmo_leader, role=Role.PMO_LEADER, portfolio=portfolio
        )
        epics = make_epics(portfolio, 4, prefix=f"Q{portfolio.pk}")
        first = propose(world.pmo_leader, portfolio, swapped_first_two(epics))
        recommendation_reject(actor=world.executive, recommendation=first, comment="no")
        propose(world.pmo_leader, portfolio, moved_last_to_first(epics))
        PolicyFactory(portfolio=portfolio, kind=PolicyKind.GATE_FREEZE)


@pytest.mark.parametrize("url", [RECOMMENDATIONS, DECISIONS, POLICIES, f"{DECISIONS}verification/"])
def test_lists_run_a_constant_number_of_queries(api, world, url, django_assert_num_queries):
    client = api("executive")
    _more_recommendations(world, 1)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _more_recommendations(world, 4)

    with django_assert_num_queries(len(small)):
        client.get(url)
