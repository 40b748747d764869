"""Portfolio pages through the test client, for every role of the `world` fixture."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.roles import Role
from governance.services import role_grant
from portfolio.models import Category, Project, TeamMembership
from tests.factories import (
    EpicFactory,
    ProjectFactory,
    SprintFactory,
    UserFactory,
    WorkItemFactory,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# The dashboards run one permission query plus one SQL query per figure (metrics.selectors):
# more queries than a list page, but as constant as the list page's.
# portfolio-detail: 14 + up to 4 for the agents panel (start right, run visibility, latest runs)
# project-detail: 28 + 8 for the KPI section (two permission sets, the KPIs, their recent
# values, and the project's health: the snapshot's five batched queries)
MAX_QUERIES_PER_PAGE = {"portfolio-list": 8, "portfolio-detail": 18, "project-detail": 36}


def get_as(client, user, url, **extra):
    if user is not None:
        client.force_login(user)
    return client.get(url, **extra)


def page_urls(world) -> dict[str, str]:
    return {
        "portfolio-list": reverse("portfolio:portfolio-list"),
        "portfolio-detail": reverse("portfolio:portfolio-detail", args=[world.own.slug]),
        "project-detail": reverse("portfolio:project-detail", args=[world.own_project.key]),
    }


@pytest.mark.parametrize("page", ["portfolio-list", "portfolio-detail", "project-detail"])
def test_anonymous_user_is_sent_to_login(client, world, page):
    url = page_urls(world)[page]

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_wrong_password_shows_a_clear_error_on_the_login_page(client, world):
    response = client.post(reverse("login"), {"username": "viewer", "password": "wrong"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Please enter a correct username and password" in html
    assert 'role="alert"' in html
    assert "_auth_user_id" not in client.session


def test_correct_login_lands_on_the_portfolio_list(client, world):
    response = client.post(
        reverse("login"), {"username": "viewer", "password": "correct-horse-battery"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("portfolio:portfolio-list")


def test_login_page_labels_its_fields(client, db):
    html = client.get(reverse("login")).content.decode()

    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html


def test_layout_has_navigation_a_logout_form_and_local_htmx(client, world):
    html = get_as(client, world.viewer, reverse("portfolio:portfolio-list")).content.decode()

    assert f'href="{reverse("pmo:system-status")}"' in html
    assert f'<form method="post" action="{reverse("logout")}"' in html
    assert "/static/django_htmx/htmx-2" in html
    assert 'hx-headers=\'{"X-CSRFToken": ' in html
    assert "viewer" in html


def test_logout_is_a_post_that_ends_the_session(client, world):
    client.force_login(world.viewer)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        ("viewer", ["Payments"], ["Logistics"]),
        ("team_lead", ["Payments"], ["Logistics"]),
        ("pmo_leader", ["Payments"], ["Logistics"]),
        ("executive", ["Payments"], ["Logistics"]),
        ("outsider", ["Logistics"], ["Payments"]),
        ("admin", ["Payments", "Logistics"], []),
    ],
)
def test_portfolio_list_shows_only_the_portfolios_the_user_may_see(
    client, world, role, visible, hidden
):
    response = get_as(client, world.user(role), reverse("portfolio:portfolio-list"))

    assert response.status_code == 200
    names = [portfolio.name for portfolio in response.context["portfolios"]]
    assert sorted(names) == sorted(visible)
    for name in hidden:
        assert name not in response.content.decode()


def test_portfolio_list_counts_only_the_projects_a_team_lead_may_see(client, world):
    response = get_as(client, world.team_lead, reverse("portfolio:portfolio-list"))

    [payments] = response.context["portfolios"]
    assert payments.project_count == 1


def test_portfolio_list_tells_a_user_without_roles_how_to_get_one(client, db):
    response = get_as(client, UserFactory(username="newcomer"), reverse("portfolio:portfolio-list"))

    assert response.status_code == 200
    assert "no role on any portfolio" in response.content.decode()


@pytest.mark.parametrize("role", ["viewer", "pmo_leader", "executive", "admin"])
def test_portfolio_roles_see_every_project_of_the_portfolio(client, world, role):
    response = get_as(client, world.user(role), page_urls(world)["portfolio-detail"])

    assert response.status_code == 200
    assert [project.key for project in response.context["projects"]] == ["CARD", "PAY"]


def test_team_lead_sees_only_their_project_in_the_portfolio(client, world):
    response = get_as(client, world.team_lead, page_urls(world)["portfolio-detail"])

    assert response.status_code == 200
    assert [project.key for project in response.context["projects"]] == ["PAY"]
    assert reverse("portfolio:project-detail", args=["CARD"]) not in response.content.decode()


@pytest.mark.parametrize(
    "url_name_and_args",
    [
        ("portfolio:portfolio-detail", ["payments"]),
        ("portfolio:project-detail", ["PAY"]),
        ("portfolio:project-detail", ["CARD"]),
    ],
)
def test_outsider_gets_not_found_on_another_portfolio(client, world, url_name_and_args):
    name, args = url_name_and_args

    response = get_as(client, world.outsider, reverse(name, args=args))

    assert response.status_code == 404
    html = response.content.decode()
    assert "Payments" not in html
    assert "Cards" not in html


def test_team_lead_gets_not_found_on_a_sibling_project(client, world):
    response = get_as(client, world.team_lead, reverse("portfolio:project-detail", args=["CARD"]))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("name", "args"),
    [("portfolio:portfolio-detail", ["no-such-portfolio"]), ("portfolio:project-detail", ["NOPE"])],
)
def test_missing_objects_answer_not_found(client, world, name, args):
    response = get_as(client, world.admin, reverse(name, args=args))

    assert response.status_code == 404


def test_portfolio_detail_shows_project_counts_and_open_points(client, world):
    WorkItemFactory(project=world.own_project, story_points=Decimal(5))
    WorkItemFactory(project=world.own_project, story_points=Decimal("2.5"))
    WorkItemFactory(
        project=world.own_project,
        story_points=Decimal(8),
        status="Done",
        category=Category.DONE,
        done_at=dt.datetime(2026, 1, 9, tzinfo=UTC),
    )

    response = get_as(client, world.viewer, page_urls(world)["portfolio-detail"])

    pay = next(project for project in response.context["projects"] if project.key == "PAY")
    assert (pay.open_items, pay.open_points) == (2, Decimal("7.5"))
    html = response.content.decode()
    assert "Payments core" in html
    assert "31 Dec 2026" in html
    assert "7.5" in html


def test_portfolio_detail_lists_epics_in_rank_order_with_their_wsjf(client, world):
    EpicFactory(
        portfolio=world.own,
        key="EP-LOW",
        rank=2,
        business_value=1,
        time_criticality=1,
        risk_reduction=1,
        job_size=13,
    )
    EpicFactory(
        portfolio=world.own,
        key="EP-TOP",
        rank=1,
        business_value=13,
        time_criticality=8,
        risk_reduction=5,
        job_size=3,
        project=world.own_project,
    )
    EpicFactory(portfolio=world.foreign, key="EP-FOREIGN", rank=1)

    response = get_as(client, world.viewer, page_urls(world)["portfolio-detail"])

    assert [epic.key for epic in response.context["epics"]] == ["EP-TOP", "EP-LOW"]
    html = response.content.decode()
    assert html.index("EP-TOP") < html.index("EP-LOW")
    assert "8.67" in html  # (13 + 8 + 5) / 3
    assert "0.23" in html  # (1 + 1 + 1) / 13
    assert "EP-FOREIGN" not in html


@pytest.mark.parametrize(
    ("role", "sees_link"),
    [
        ("pmo_leader", True),
        ("admin", True),
        ("viewer", False),
        ("executive", False),
        ("team_lead", False),
    ],
)
def test_portfolio_members_link_is_shown_only_to_who_may_manage_members(
    client, world, role, sees_link
):
    response = get_as(client, world.user(role), page_urls(world)["portfolio-detail"])

    members_url = reverse("governance:portfolio-members", args=[world.own.slug])
    assert (members_url in response.content.decode()) is sees_link


def test_project_detail_shows_header_sprints_item_counts_and_team(client, world):
    project = world.own_project
    SprintFactory(
        project=project,
        name="Sprint 1",
        state="closed",
        start=dt.datetime(2026, 1, 5, 9, tzinfo=UTC),
    )
    SprintFactory(
        project=project,
        name="Sprint 2",
        state="active",
        start=dt.datetime(2026, 1, 19, 9, tzinfo=UTC),
    )
    SprintFactory(project=world.sibling_project, name="Other team sprint")
    WorkItemFactory(project=project, category=Category.TO_DO, story_points=Decimal(3))
    WorkItemFactory(
        project=project,
        status="In Progress",
        category=Category.IN_PROGRESS,
        story_points=Decimal(5),
    )
    WorkItemFactory(
        project=project,
        status="Done",
        category=Category.DONE,
        story_points=Decimal(2),
        done_at=dt.datetime(2026, 1, 10, tzinfo=UTC),
    )
    TeamMembership.objects.create(
        project=project, user=world.team_lead, role=TeamMembership.Role.LEAD
    )
    TeamMembership.objects.create(project=project, user=UserFactory(username="dev-ada"))

    response = get_as(client, world.team_lead, page_urls(world)["project-detail"])

    assert response.status_code == 200
    assert [sprint.name for sprint in response.context["sprints"]] == ["Sprint 1", "Sprint 2"]
    counts = {row["category"]: row["item_count"] for row in response.context["category_summary"]}
    assert counts == {"todo": 1, "in_progress": 1, "done": 1}
    assert response.context["item_total"] == 3
    assert response.context["points_total"] == Decimal(10)
    assert [m.user.username for m in response.context["memberships"]] == ["team_lead", "dev-ada"]
    html = response.content.decode()
    for text in [
        "PAY",
        "Payments core",
        "Sprint 2",
        "Active",
        "5 Jan 2026",
        "dev-ada",
        "Team lead",
    ]:
        assert text in html
    assert "Other team sprint" not in html


def test_project_detail_shows_zero_counts_for_a_project_without_items(client, world):
    response = get_as(client, world.viewer, page_urls(world)["project-detail"])

    assert [row["item_count"] for row in response.context["category_summary"]] == [0, 0, 0]
    assert "No sprints yet" in response.content.decode()


def test_project_detail_accepts_a_lower_case_key(client, world):
    response = get_as(client, world.viewer, reverse("portfolio:project-detail", args=["pay"]))

    assert response.status_code == 200
    assert response.context["project"] == world.own_project


@pytest.mark.parametrize(
    ("role", "sees_link"),
    [("pmo_leader", True), ("viewer", False), ("team_lead", False), ("executive", False)],
)
def test_project_members_link_is_shown_only_to_who_may_manage_members(
    client, world, role, sees_link
):
    response = get_as(client, world.user(role), page_urls(world)["project-detail"])

    members_url = reverse("governance:project-members", args=[world.own_project.key])
    assert (members_url in response.content.decode()) is sees_link


# --- Constant number of queries ---------------------------------------------------------


def grow_portfolio(world, *, size: int) -> None:
    """Add `size` projects, each with items, sprints, a team member and an epic, plus extra
    items, sprints and members on own_project, all visible to the PMO leader."""
    for index in range(size):
        project = ProjectFactory(portfolio=world.own)
        WorkItemFactory.create_batch(3, project=project)
        WorkItemFactory(
            project=world.own_project, status="In Progress", category=Category.IN_PROGRESS
        )
        SprintFactory(
            project=world.own_project,
            start=dt.datetime(2026, 1, 5, tzinfo=UTC) + dt.timedelta(days=14 * index),
        )
        EpicFactory(portfolio=world.own, project=project)
        TeamMembership.objects.create(project=world.own_project, user=UserFactory())
        role_grant(actor=world.admin, user=UserFactory(), role=Role.VIEWER, portfolio=world.own)


def query_count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("page", ["portfolio-list", "portfolio-detail", "project-detail"])
@pytest.mark.parametrize("role", ["pmo_leader", "team_lead"])
def test_page_runs_the_same_number_of_queries_as_the_portfolio_grows(
    client, world, django_assert_num_queries, page, role
):
    url = page_urls(world)[page]
    client.force_login(world.user(role))
    grow_portfolio(world, size=1)
    client.get(url)  # warm the per-process caches (content types)
    small = query_count(client, url)

    grow_portfolio(world, size=15)

    assert small <= MAX_QUERIES_PER_PAGE[page]
    with django_assert_num_queries(small):
        response = client.get(url)
    assert response.status_code == 200
    assert Project.objects.count() > 15
