"""Members pages (grant and revoke roles) through the test client, for every role."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.models import DecisionKind, DecisionLog, RoleAssignment
from governance.roles import Role
from governance.services import role_grant
from portfolio.permissions import ProjectPermission, has_project_permission
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
MAX_QUERIES_PER_PAGE = 8


def portfolio_members_url(world) -> str:
    return reverse("governance:portfolio-members", args=[world.own.slug])


def project_members_url(world, project=None) -> str:
    return reverse("governance:project-members", args=[(project or world.own_project).key])


def revoke_url(assignment) -> str:
    if assignment.project_id is not None:
        return reverse(
            "governance:project-member-revoke", args=[assignment.project.key, assignment.pk]
        )
    return reverse(
        "governance:portfolio-member-revoke", args=[assignment.portfolio.slug, assignment.pk]
    )


def state() -> tuple[list[tuple], int]:
    """Everything a denied request must leave untouched: assignments and the decision log."""
    assignments = list(
        RoleAssignment.objects.order_by("pk").values_list(
            "pk", "user_id", "role", "portfolio_id", "project_id"
        )
    )
    return assignments, DecisionLog.objects.count()


@pytest.fixture
def newcomer(db):
    return UserFactory(username="newcomer")


# --- Who may open the page ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("page", ["portfolio", "project"])
def test_anonymous_user_is_sent_to_login(client, world, method, page):
    url = portfolio_members_url(world) if page == "portfolio" else project_members_url(world)
    before = state()

    response = getattr(client, method)(url, {"username": "viewer", "role": Role.VIEWER})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert state() == before


@pytest.mark.parametrize(
    ("role", "page", "status"),
    [
        ("outsider", "portfolio", 404),
        ("outsider", "project", 404),
        ("viewer", "portfolio", 200),
        ("viewer", "project", 200),
        ("executive", "portfolio", 200),
        ("team_lead", "portfolio", 200),
        ("team_lead", "project", 200),
        ("team_lead", "sibling", 404),
        ("pmo_leader", "portfolio", 200),
        ("pmo_leader", "sibling", 200),
    ],
)
def test_members_page_answers_not_found_outside_what_the_user_may_see(
    client, world, role, page, status
):
    url = {
        "portfolio": portfolio_members_url(world),
        "project": project_members_url(world),
        "sibling": project_members_url(world, world.sibling_project),
    }[page]
    client.force_login(world.user(role))

    response = client.get(url)

    assert response.status_code == status


def test_portfolio_members_page_lists_who_holds_which_role(client, world):
    client.force_login(world.viewer)

    response = client.get(portfolio_members_url(world))

    holders = {(a.user.username, a.role) for a in response.context["assignments"]}
    assert holders == {
        ("pmo_leader", Role.PMO_LEADER),
        ("executive", Role.EXECUTIVE),
        ("viewer", Role.VIEWER),
    }
    html = response.content.decode()
    assert "PMO leader" in html
    assert "outsider" not in html


@pytest.mark.parametrize("role", ["viewer", "executive", "team_lead"])
def test_user_without_the_right_gets_a_read_only_list(client, world, role):
    client.force_login(world.user(role))

    response = client.get(portfolio_members_url(world))

    assert response.context["form"] is None
    html = response.content.decode()
    assert "Grant a role" not in html
    assert "Revoke" not in html
    assert "not grant or revoke" in html


def test_team_lead_sees_the_members_of_their_project_with_inherited_roles_marked(client, world):
    client.force_login(world.team_lead)

    response = client.get(project_members_url(world))

    assert response.status_code == 200
    rows = {
        (a.user.username, a.role, a.portfolio_id is not None)
        for a in response.context["assignments"]
    }
    assert ("team_lead", Role.TEAM_LEAD, False) in rows
    assert ("pmo_leader", Role.PMO_LEADER, True) in rows
    html = response.content.decode()
    assert "Inherited" in html
    assert "Grant a role" not in html


def test_pmo_leader_sees_the_grant_form_with_only_the_roles_of_the_scope(client, world):
    client.force_login(world.pmo_leader)

    portfolio_page = client.get(portfolio_members_url(world)).content.decode()
    project_page = client.get(project_members_url(world)).content.decode()

    assert 'value="pmo_leader"' in portfolio_page
    assert 'value="team_lead"' not in portfolio_page
    assert 'value="team_lead"' in project_page
    assert 'value="executive"' not in project_page
    assert '<label for="id_username">Username</label>' in portfolio_page


# --- Granting ----------------------------------------------------------------------------


def test_pmo_leader_grants_a_role_without_javascript_and_the_grant_is_audited(
    client, world, newcomer
):
    client.force_login(world.pmo_leader)

    response = client.post(
        project_members_url(world), {"username": "newcomer", "role": Role.TEAM_LEAD}
    )

    assert response.status_code == 302
    assert response["Location"] == project_members_url(world)
    assert RoleAssignment.objects.filter(
        user=newcomer, role=Role.TEAM_LEAD, project=world.own_project
    ).exists()
    assert has_project_permission(newcomer, ProjectPermission.UPDATE_KPIS, world.own_project)
    entry = DecisionLog.objects.filter(kind=DecisionKind.ROLE_CHANGE, actor=world.pmo_leader).get()
    assert "newcomer" in entry.summary
    assert entry.portfolio == world.own
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages == ["newcomer holds Team lead on PAY Payments core."]


def test_htmx_grant_swaps_only_the_members_table(client, world, newcomer):
    client.force_login(world.pmo_leader)

    response = client.post(
        portfolio_members_url(world), {"username": "newcomer", "role": Role.VIEWER}, **HTMX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="members-table"')
    assert "<html" not in html
    assert "newcomer holds Viewer on Payments." in html
    assert "newcomer" in {a.user.username for a in response.context_data["assignments"]}
    assert "HX-Request" in response["Vary"]
    assert RoleAssignment.objects.filter(user=newcomer, portfolio=world.own).exists()


def test_granting_a_role_already_held_changes_nothing(client, world):
    client.force_login(world.pmo_leader)
    before = state()

    response = client.post(portfolio_members_url(world), {"username": "viewer", "role": "viewer"})

    assert response.status_code == 302
    assert state() == before


def test_unknown_username_is_a_field_error_and_nothing_changes(client, world):
    client.force_login(world.pmo_leader)
    before = state()

    response = client.post(portfolio_members_url(world), {"username": "nobody", "role": "viewer"})

    assert response.status_code == 200
    assert "No active user is called nobody" in response.context["form"].errors["username"][0]
    assert "No active user is called nobody" in response.content.decode()
    assert state() == before


@pytest.mark.parametrize(
    ("page", "role", "message"),
    [
        ("portfolio", Role.TEAM_LEAD, "cannot be granted on a portfolio"),
        ("project", Role.PMO_LEADER, "cannot be granted on a project"),
        ("project", Role.EXECUTIVE, "cannot be granted on a project"),
    ],
)
def test_role_not_allowed_on_the_scope_is_a_field_error_and_nothing_changes(
    client, world, newcomer, page, role, message
):
    url = portfolio_members_url(world) if page == "portfolio" else project_members_url(world)
    client.force_login(world.pmo_leader)
    before = state()

    response = client.post(url, {"username": "newcomer", "role": role})

    assert response.status_code == 200
    assert message in response.context["form"].errors["role"][0]
    assert message in response.content.decode()
    assert state() == before


def test_htmx_grant_with_errors_shows_them_in_the_swapped_region(client, world):
    client.force_login(world.pmo_leader)

    response = client.post(
        portfolio_members_url(world), {"username": "", "role": "not-a-role"}, **HTMX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert set(response.context_data["form"].errors) == {"username", "role"}
    assert "This field is required." in html


@pytest.mark.parametrize(
    ("role", "page"),
    [
        ("viewer", "portfolio"),
        ("viewer", "project"),
        ("executive", "portfolio"),
        ("team_lead", "project"),
        ("team_lead", "portfolio"),
    ],
)
def test_grant_without_the_right_is_forbidden_and_nothing_changes(
    client, world, newcomer, role, page
):
    url = portfolio_members_url(world) if page == "portfolio" else project_members_url(world)
    client.force_login(world.user(role))
    before = state()

    response = client.post(url, {"username": "newcomer", "role": Role.VIEWER})

    assert response.status_code == 403
    assert state() == before


@pytest.mark.parametrize("page", ["portfolio", "project"])
def test_grant_on_a_scope_the_user_may_not_see_is_not_found(client, world, newcomer, page):
    url = portfolio_members_url(world) if page == "portfolio" else project_members_url(world)
    client.force_login(world.outsider)
    before = state()

    response = client.post(url, {"username": "newcomer", "role": Role.VIEWER})

    assert response.status_code == 404
    assert state() == before


# --- Revoking ----------------------------------------------------------------------------


def test_pmo_leader_revokes_a_role_without_javascript_and_the_revocation_is_audited(client, world):
    assignment = RoleAssignment.objects.get(user=world.team_lead, project=world.own_project)
    client.force_login(world.pmo_leader)

    response = client.post(revoke_url(assignment))

    assert response.status_code == 302
    assert response["Location"] == project_members_url(world)
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()
    assert not has_project_permission(world.team_lead, ProjectPermission.VIEW, world.own_project)
    entry = DecisionLog.objects.filter(kind=DecisionKind.ROLE_CHANGE, actor=world.pmo_leader).get()
    assert entry.summary.startswith("Revoked Team lead on project:PAY from team_lead")
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages == ["team_lead no longer holds Team lead on PAY Payments core."]


def test_htmx_revoke_swaps_only_the_members_table(client, world):
    assignment = RoleAssignment.objects.get(user=world.viewer, portfolio=world.own)
    client.force_login(world.pmo_leader)

    response = client.post(revoke_url(assignment), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="members-table"')
    assert "viewer no longer holds Viewer on Payments." in html
    assert assignment.pk not in {a.pk for a in response.context_data["assignments"]}
    assert "HX-Request" in response["Vary"]
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()


@pytest.mark.parametrize("role", ["viewer", "executive", "team_lead"])
def test_revoke_without_the_right_is_forbidden_and_nothing_changes(client, world, role):
    assignment = RoleAssignment.objects.get(user=world.pmo_leader, portfolio=world.own)
    client.force_login(world.user(role))
    before = state()

    response = client.post(revoke_url(assignment))

    assert response.status_code == 403
    assert state() == before


def test_revoke_on_a_portfolio_the_user_may_not_see_is_not_found(client, world):
    assignment = RoleAssignment.objects.get(user=world.viewer, portfolio=world.own)
    client.force_login(world.outsider)
    before = state()

    response = client.post(revoke_url(assignment))

    assert response.status_code == 404
    assert state() == before


def test_inherited_role_cannot_be_revoked_through_the_project_page(client, world):
    assignment = RoleAssignment.objects.get(user=world.viewer, portfolio=world.own)
    client.force_login(world.pmo_leader)
    before = state()

    response = client.post(
        reverse("governance:project-member-revoke", args=[world.own_project.key, assignment.pk])
    )

    assert response.status_code == 404
    assert state() == before


def test_assignment_of_another_portfolio_is_not_found_through_this_one(client, world):
    foreign = RoleAssignment.objects.get(user=world.outsider, portfolio=world.foreign)
    client.force_login(world.admin)
    before = state()

    response = client.post(
        reverse("governance:portfolio-member-revoke", args=[world.own.slug, foreign.pk])
    )

    assert response.status_code == 404
    assert state() == before


def test_revoke_answers_only_to_post(client, world):
    assignment = RoleAssignment.objects.get(user=world.viewer, portfolio=world.own)
    client.force_login(world.pmo_leader)

    response = client.get(revoke_url(assignment))

    assert response.status_code == 405
    assert RoleAssignment.objects.filter(pk=assignment.pk).exists()


# --- Constant number of queries ----------------------------------------------------------


def query_count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def grant_many(world, *, size: int) -> None:
    for _ in range(size):
        role_grant(actor=world.admin, user=UserFactory(), role=Role.VIEWER, portfolio=world.own)
        role_grant(
            actor=world.admin, user=UserFactory(), role=Role.TEAM_LEAD, project=world.own_project
        )


@pytest.mark.parametrize("page", ["portfolio", "project"])
@pytest.mark.parametrize("role", ["pmo_leader", "team_lead"])
def test_members_page_runs_the_same_number_of_queries_as_members_are_added(
    client, world, django_assert_num_queries, page, role
):
    url = portfolio_members_url(world) if page == "portfolio" else project_members_url(world)
    client.force_login(world.user(role))
    client.get(url)  # warm the per-process caches (content types)
    small = query_count(client, url)

    grant_many(world, size=15)

    assert small <= MAX_QUERIES_PER_PAGE
    with django_assert_num_queries(small):
        response = client.get(url)
    assert len(response.context["assignments"]) > 15
