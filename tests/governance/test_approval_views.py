"""Approvals inbox, recommendation page, deciding and proposing, through the test client, for
every role; a refused request changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.models import PolicyKind, Recommendation, RecommendationState
from governance.roles import Role
from governance.services import recommendation_reject, role_grant
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

HTMX = {"HTTP_HX_REQUEST": "true"}
LAST_FIRST = ["PAYMEN-5", "PAYMEN-1", "PAYMEN-2", "PAYMEN-3", "PAYMEN-4"]
ORIGINAL = ["PAYMEN-1", "PAYMEN-2", "PAYMEN-3", "PAYMEN-4", "PAYMEN-5"]


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def pending(world, epics) -> Recommendation:
    return propose(world.pmo_leader, world.own, moved_last_to_first(epics))


def login(client, world, role):
    user = world.user(role)
    if user is not None:
        client.force_login(user)
    return user


def detail_url(recommendation) -> str:
    return reverse("governance:recommendation-detail", args=[recommendation.pk])


def decide_url(recommendation) -> str:
    return reverse("governance:recommendation-decide", args=[recommendation.pk])


def approve(client, recommendation, *, comment="Agreed.", confirmed=True, **extra):
    data = {"decision": "approve", "comment": comment, "version": recommendation.version}
    if confirmed:
        data["confirmed"] = "1"
    return client.post(decide_url(recommendation), data, **extra)


# --- who may open what -------------------------------------------------------------------------

INBOX = dict(zip(ROLES, ["login", 404, 404, 200, 200, 200], strict=True))
DETAIL = dict(zip(ROLES, ["login", 404, 404, 200, 200, 404], strict=True))
CREATE = dict(zip(ROLES, ["login", 403, 403, 200, 403, 404], strict=True))


@pytest.mark.parametrize("role", ROLES)
def test_inbox_is_only_for_those_who_propose_or_decide(client, world, role):
    login(client, world, role)

    response = client.get(reverse("governance:inbox"))

    if INBOX[role] == "login":
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    else:
        assert response.status_code == INBOX[role]


@pytest.mark.parametrize("role", ROLES)
def test_a_recommendation_page_is_404_outside_its_portfolios_proposers_and_approvers(
    client, world, pending, role
):
    login(client, world, role)

    response = client.get(detail_url(pending))

    if DETAIL[role] == "login":
        assert response.status_code == 302
        return
    assert response.status_code == DETAIL[role]
    if DETAIL[role] == 404:
        assert "Payments" not in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_only_pmo_leaders_open_the_proposal_page(client, world, epics, role):
    login(client, world, role)

    response = client.get(reverse("governance:recommendation-create", args=["payments"]))

    if CREATE[role] == "login":
        assert response.status_code == 302
    else:
        assert response.status_code == CREATE[role]


def test_executive_sees_the_pending_recommendation_to_decide(client, world, pending):
    client.force_login(world.executive)

    response = client.get(reverse("governance:inbox"))

    inbox = response.context["inbox"]
    assert inbox.to_decide == [pending]
    assert inbox.waiting_on_others == []
    page = response.content.decode()
    assert f'id="recommendation-{pending.pk}"' in page
    assert f'hx-get="{detail_url(pending)}"' in page
    assert f'href="{detail_url(pending)}"' in page


def test_the_proposer_follows_their_proposal_without_deciding(client, world, pending):
    client.force_login(world.pmo_leader)

    inbox = client.get(reverse("governance:inbox")).context["inbox"]
    page = client.get(detail_url(pending)).content.decode()

    assert (inbox.to_decide, inbox.waiting_on_others) == ([], [pending])
    assert (
        "Propose a ranking for Payments" in client.get(reverse("governance:inbox")).content.decode()
    )
    assert "Approve" not in page
    assert "someone else must decide" in page


def test_a_pmo_leader_of_another_portfolio_sees_nothing_of_this_one(client, world, pending):
    client.force_login(world.outsider)

    response = client.get(reverse("governance:inbox"))

    assert response.context["inbox"].to_decide == []
    assert response.context["inbox"].waiting_on_others == []
    assert "Payments" not in response.content.decode()


def test_the_page_shows_the_diff_evidence_verdicts_and_past_decisions(client, world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)
    earlier = propose(world.pmo_leader, world.own, swapped_first_two(epics))
    recommendation = propose(
        world.pmo_leader, world.own, moved_last_to_first(epics), confidence="0.4"
    )
    client.force_login(world.executive)

    page = client.get(detail_url(recommendation)).content.decode()

    assert "▲ up 4" in page
    assert "▼ down 1" in page
    assert '<a href="/projects/PAY/" rel="noopener noreferrer">Velocity</a>' in page
    assert "Needs a second reviewer" in page
    assert "0 of 2 approvals" in page
    assert f'#{earlier.pk}</a> <span class="state state-superseded">' in page


# --- deciding ----------------------------------------------------------------------------------


def test_approving_asks_for_confirmation_before_changing_anything(
    client, world, pending, unchanged
):
    client.force_login(world.executive)
    check = unchanged()

    response = approve(client, pending, confirmed=False)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Confirm approval" in page
    assert "applies the proposed ranking to <strong>Payments</strong> now: 5 epics" in page
    check()


def test_confirmed_approval_applies_the_ranking_and_says_so(client, world, pending):
    client.force_login(world.executive)

    response = approve(client, pending)

    assert response.status_code == 302
    assert response.url == detail_url(pending)
    assert ranking(world.own) == LAST_FIRST
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Approved: the new ranking of Payments is in effect."
    ]


def test_with_htmx_the_region_is_swapped_for_its_new_state(client, world, pending):
    client.force_login(world.executive)

    confirm = approve(client, pending, confirmed=False, **HTMX)
    done = approve(client, pending, **HTMX)

    assert "<html" not in confirm.content.decode()
    assert 'name="confirmed" value="1"' in confirm.content.decode()
    region = done.content.decode()
    assert done.status_code == 200
    assert "<html" not in region
    assert region.lstrip().startswith("<article") or f'id="recommendation-{pending.pk}"' in region
    assert "state state-approved" in region
    assert "Approved: the new ranking of Payments is in effect." in region
    assert done["Vary"]
    assert "HX-Request" in done["Vary"]


@pytest.mark.parametrize("decision", ["approve", "reject", "request_changes"])
def test_a_decision_without_comment_is_a_field_error(client, world, pending, decision, unchanged):
    client.force_login(world.executive)
    check = unchanged()

    response = client.post(
        decide_url(pending),
        {"decision": decision, "comment": " ", "version": 1, "confirmed": "1"},
        **HTMX,
    )

    assert response.status_code == 200
    assert "Explain your decision: a comment is required." in response.content.decode()
    check()


@pytest.mark.parametrize(
    ("decision", "state"),
    [("reject", RecommendationState.REJECTED), ("request_changes", "changes_requested")],
)
def test_reject_and_request_changes_take_one_step(client, world, pending, decision, state):
    client.force_login(world.executive)

    response = client.post(
        decide_url(pending), {"decision": decision, "comment": "Not yet.", "version": 1}
    )

    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.state == state
    assert ranking(world.own) == ORIGINAL


def test_the_proposer_cannot_approve_their_own_on_the_page(client, world, epics, unchanged):
    role_grant(actor=world.admin, user=world.pmo_leader, role=Role.EXECUTIVE, portfolio=world.own)
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    client.force_login(world.pmo_leader)
    check = unchanged()

    page = client.get(detail_url(recommendation)).content.decode()
    response = approve(client, recommendation)

    assert "Approve…" not in page
    assert "separation of duties" in page
    assert response.status_code == 403
    check()


@pytest.mark.parametrize(
    ("role", "status"),
    [("viewer", 404), ("team_lead", 404), ("pmo_leader", 403), ("outsider", 404)],
)
def test_who_may_not_decide_gets_403_or_404_and_nothing_changes(
    client, world, pending, role, status, unchanged
):
    client.force_login(world.user(role))
    check = unchanged()

    response = approve(client, pending)

    assert response.status_code == status
    check()


def test_anonymous_decision_is_sent_to_login(client, world, pending, unchanged):
    check = unchanged()

    response = approve(client, pending)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    check()


def test_a_decision_on_a_changed_recommendation_is_refused_with_the_fresh_state(
    client, world, pending
):
    other = propose(world.pmo_leader, world.own, list(reversed(pending.proposed_ranking)))
    client.force_login(world.executive)

    page_response = approve(client, pending)
    htmx_response = approve(client, pending, **HTMX)

    assert page_response.status_code == 302
    assert "already superseded" in str(list(get_messages(page_response.wsgi_request))[0])
    assert "already superseded" in htmx_response.content.decode()
    assert "state state-superseded" in htmx_response.content.decode()
    assert ranking(world.own) == ORIGINAL
    assert other.state == RecommendationState.PROPOSED


def test_a_first_of_two_approvals_says_another_is_needed(client, world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.CONFIDENCE_FLOOR)
    recommendation = propose(
        world.pmo_leader, world.own, moved_last_to_first(epics), confidence="0.2"
    )
    client.force_login(world.executive)

    confirm = approve(client, recommendation, confirmed=False, **HTMX).content.decode()
    done = approve(client, recommendation, **HTMX).content.decode()

    assert "records approval 1 of 2" in confirm
    assert "Approved (1 of 2): another approver must approve too." in done
    assert "1 of 2 approvals" in done
    assert ranking(world.own) == ORIGINAL


# --- proposing ---------------------------------------------------------------------------------


def proposal(epics, positions: dict[int, int] | None = None, **fields) -> dict:
    data = {
        "snapshot": ",".join(str(epic.pk) for epic in epics),
        "rationale": "Cards before payouts: regulator deadline.",
        "evidence": "Velocity /projects/PAY/\nhttps://example.org/report",
        "expected_impact": "Compliant by Q3.",
        "confidence": "0.75",
        **fields,
    }
    for index, epic in enumerate(epics, start=1):
        data[f"position_{epic.pk}"] = (positions or {}).get(index, index)
    return data


def create_url() -> str:
    return reverse("governance:recommendation-create", args=["payments"])


def test_the_proposal_page_lists_the_epics_with_a_position_each(client, world, epics):
    client.force_login(world.pmo_leader)

    page = client.get(create_url()).content.decode()

    for index, epic in enumerate(epics, start=1):
        assert f'name="position_{epic.pk}"' in page
        assert f'value="{index}"' in page


def test_typing_1_for_the_last_epic_proposes_it_first(client, world, epics):
    client.force_login(world.pmo_leader)

    response = client.post(create_url(), proposal(epics, {5: 1}))

    recommendation = Recommendation.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(recommendation)
    assert recommendation.proposed_ranking == moved_last_to_first(epics)
    assert recommendation.evidence == [
        {"label": "Velocity", "url": "/projects/PAY/"},
        {"label": "https://example.org/report", "url": "https://example.org/report"},
    ]
    assert str(recommendation.confidence) == "0.750"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rationale": ""}, "This field is required."),
        ({"confidence": "2"}, "Ensure this value is less than or equal to 1."),
        ({"evidence": "Report ftp://example.org/x"}, "is not an http(s) URL"),
        ({}, "This is the current ranking: move at least one epic."),
    ],
)
def test_invalid_proposals_show_the_error_and_write_nothing(
    client, world, epics, change, message, unchanged
):
    client.force_login(world.pmo_leader)
    check = unchanged()

    response = client.post(create_url(), proposal(epics, {5: 1} if change else None, **change))

    assert response.status_code == 200
    assert message in response.content.decode()
    check()


def test_a_proposal_made_on_an_outdated_page_is_refused(client, world, epics, unchanged):
    client.force_login(world.pmo_leader)
    data = proposal(epics, {5: 1})
    data["snapshot"] = ",".join(str(epic.pk) for epic in reversed(epics))
    check = unchanged()

    response = client.post(create_url(), data)

    assert "changed while you edited it" in response.content.decode()
    check()


def test_a_blocking_policy_shows_its_reason(client, world, epics):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.EVIDENCE_REQUIRED)
    client.force_login(world.pmo_leader)

    response = client.post(create_url(), proposal(epics, {5: 1}, evidence=""))

    assert "Blocked by policy: Cites 0 evidence links" in response.content.decode()
    assert not Recommendation.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"), [("viewer", 403), ("executive", 403), ("outsider", 404)]
)
def test_others_cannot_propose_and_nothing_changes(client, world, epics, role, status, unchanged):
    client.force_login(world.user(role))
    check = unchanged()

    response = client.post(create_url(), proposal(epics, {5: 1}))

    assert response.status_code == status
    check()


# --- query counts ------------------------------------------------------------------------------


def _portfolios_with_pending(world, count: int) -> None:
    """`count` more portfolios, each with a decided and a pending recommendation."""
    for _ in range(count):
        portfolio = PortfolioFactory()
        role_grant(
            actor=world.admin, user=world.pmo_leader, role=Role.PMO_LEADER, portfolio=portfolio
        )
        role_grant(
            actor=world.admin, user=world.executive, role=Role.EXECUTIVE, portfolio=portfolio
        )
        epics = make_epics(portfolio, 4, prefix=f"X{portfolio.pk}")
        first = propose(world.pmo_leader, portfolio, swapped_first_two(epics))
        recommendation_reject(actor=world.executive, recommendation=first, comment="no")
        propose(world.pmo_leader, portfolio, moved_last_to_first(epics))


def _queries(client, url: str, **extra) -> int:
    client.get(url, **extra)  # warm guardian's content-type cache
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, **extra).status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", ["executive", "pmo_leader"])
def test_the_inbox_runs_a_constant_number_of_queries(
    client, world, role, django_assert_num_queries
):
    client.force_login(world.user(role))
    _portfolios_with_pending(world, 1)
    small = _queries(client, reverse("governance:inbox"))
    _portfolios_with_pending(world, 4)

    with django_assert_num_queries(small):
        client.get(reverse("governance:inbox"))


def test_the_recommendation_page_runs_a_constant_number_of_queries(
    client, world, epics, django_assert_num_queries
):
    client.force_login(world.executive)
    first = propose(world.pmo_leader, world.own, swapped_first_two(epics))
    small = _queries(client, detail_url(first))
    for _ in range(4):
        propose(world.pmo_leader, world.own, swapped_first_two(epics))
    latest = Recommendation.objects.latest("pk")
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)

    with django_assert_num_queries(small):
        client.get(detail_url(latest))


# --- the nav link --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "shown"),
    [
        ("viewer", False),
        ("team_lead", False),
        ("pmo_leader", True),
        ("executive", True),
        ("outsider", True),
        ("admin", True),
    ],
)
def test_the_approvals_link_is_for_those_the_inbox_is_for(rf, world, role, shown):
    from django.template import Context, Template

    request = rf.get("/")
    request.user = getattr(world, role)
    template = Template("{% load governance_nav %}{% approvals_inbox_available as a %}{{ a }}")
    template.render(Context({"request": request}))  # guardian caches content types once

    with CaptureQueriesContext(connection) as queries:
        rendered = template.render(Context({"request": request}))

    assert rendered == str(shown)
    assert len(queries) <= (0 if role == "admin" else 1)
