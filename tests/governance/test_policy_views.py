"""The policies page: read by everyone who sees the portfolio, edited by its PMO leaders
through a form whose parameter errors land on the right field."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.models import DecisionKind, DecisionLog, Policy, PolicyKind
from tests.conftest import ROLES
from tests.governance.factories import PolicyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def list_url(slug: str = "payments") -> str:
    return reverse("governance:policy-list", args=[slug])


def edit_url(policy, slug: str = "payments") -> str:
    return reverse("governance:policy-edit", args=[slug, policy.pk])


READ = dict(zip(ROLES, ["login", 200, 200, 200, 200, 404], strict=True))
WRITE = dict(zip(ROLES, ["login", 403, 403, "ok", 403, 404], strict=True))


@pytest.mark.parametrize("role", ROLES)
def test_everyone_who_sees_the_portfolio_reads_its_policies(client, world, role):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    if world.user(role):
        client.force_login(world.user(role))

    response = client.get(list_url())

    if READ[role] == "login":
        assert response.status_code == 302
        return
    assert response.status_code == READ[role]
    if READ[role] == 200:
        page = response.content.decode()
        assert "Epics implementing or done cannot be reprioritized." in page
        assert ("Add a policy" in page) is (role == "pmo_leader")


@pytest.mark.parametrize("role", ROLES)
def test_only_pmo_leaders_add_or_edit_policies(client, world, role, unchanged):
    policy = PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    if world.user(role):
        client.force_login(world.user(role))
    check = unchanged() if WRITE[role] != "ok" else None

    added = client.post(list_url(), {"kind": "confidence_floor", "minimum": "0.6", "active": "on"})
    edited = client.post(
        edit_url(policy), {"kind": "gate_freeze", "statuses": ["done"], "version": 1}
    )

    if WRITE[role] == "ok":
        assert (added.status_code, edited.status_code) == (302, 302)
        assert Policy.objects.get(kind="confidence_floor").parameters == {"minimum": "0.600"}
        policy.refresh_from_db()
        assert (policy.parameters, policy.active) == ({"statuses": ["done"]}, False)
        assert DecisionLog.objects.filter(kind=DecisionKind.POLICY_CHANGE).count() == 2
        return
    if WRITE[role] == "login":
        assert (added.status_code, edited.status_code) == (302, 302)
    else:
        assert (added.status_code, edited.status_code) == (WRITE[role], WRITE[role])
    check()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "confidence_floor"}, "minimum", "This policy needs this value."),
        ({"kind": "max_rank_move", "max_places": "0"}, "max_places", "greater than or equal to 1"),
        ({"kind": "gate_freeze"}, "statuses", "This policy needs this value."),
        ({"kind": "provider_restriction", "providers": " , "}, "providers", "Name at least one"),
    ],
)
def test_a_missing_or_invalid_parameter_is_an_error_on_its_field(
    client, world, data, field, message, unchanged
):
    client.force_login(world.pmo_leader)
    check = unchanged()

    response = client.post(list_url(), data)

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert message in form.errors[field][0]
    check()


def test_a_second_policy_of_the_same_kind_is_refused_on_the_kind_field(client, world):
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    client.force_login(world.pmo_leader)

    response = client.post(list_url(), {"kind": "gate_freeze", "statuses": ["done"]})

    assert "already has a policy of this kind" in response.context["form"].errors["kind"][0]


def test_an_edit_made_on_an_outdated_page_is_refused(client, world, unchanged):
    policy = PolicyFactory(portfolio=world.own, kind=PolicyKind.MAX_RANK_MOVE, version=3)
    client.force_login(world.pmo_leader)
    check = unchanged()

    response = client.post(
        edit_url(policy), {"kind": "max_rank_move", "max_places": "5", "version": 2, "active": "on"}
    )

    assert response.status_code == 302
    assert response.url == edit_url(policy)
    check()


def test_a_policy_of_another_portfolio_is_404_through_this_one(client, world):
    other = PolicyFactory(portfolio=world.foreign, kind=PolicyKind.GATE_FREEZE)
    client.force_login(world.pmo_leader)

    assert client.get(edit_url(other)).status_code == 404
    assert client.get(edit_url(other, "logistics")).status_code == 404


def test_the_policies_page_runs_a_constant_number_of_queries(
    client, world, django_assert_num_queries
):
    client.force_login(world.pmo_leader)
    PolicyFactory(portfolio=world.own, kind=PolicyKind.GATE_FREEZE)
    client.get(list_url())
    with CaptureQueriesContext(connection) as small:
        client.get(list_url())
    for kind in (
        PolicyKind.CONFIDENCE_FLOOR,
        PolicyKind.MAX_RANK_MOVE,
        PolicyKind.EVIDENCE_REQUIRED,
    ):
        PolicyFactory(portfolio=world.own, kind=kind)

    with django_assert_num_queries(len(small)):
        client.get(list_url())
