"""The portfolio REST API: what each role sees, the fields, filters, token auth, the schema.

Who gets which status on which route is the permission matrix (tests/test_permission_matrix.py);
this file checks the contents of the answers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from governance.roles import Role
from governance.services import role_grant
from portfolio.models import Category, Portfolio, Project
from tests.factories import PortfolioFactory, ProjectFactory, WorkItemFactory
from tests.test_permission_matrix import ANONYMOUS_API  # 401, why: see there

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def _signed_in(api: APIClient, user) -> APIClient:
    """A session login (not force_authenticate), so the queries it costs are counted."""
    api.force_login(user)
    return api


def _warm_up(api: APIClient, url: str) -> None:
    """One request first: guardian caches permission content types per process, so the very
    first request of a run costs extra queries that later ones never pay."""
    assert api.get(url).status_code == 200


# --- Portfolios ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("viewer", {"payments": 2}),
        ("team_lead", {"payments": 1}),
        ("pmo_leader", {"payments": 2}),
        ("executive", {"payments": 2}),
        ("outsider", {"logistics": 1}),
    ],
)
def test_portfolio_list_shows_visible_portfolios_with_visible_project_counts(
    world, api, role, expected
):
    response = _signed_in(api, world.user(role)).get(reverse("portfolio-list"))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(expected)
    assert {row["slug"]: row["project_count"] for row in body["results"]} == expected


def test_portfolio_detail_has_the_documented_fields(world, api):
    world.own.description = "Card acquiring and payouts."
    world.own.save()

    response = _signed_in(api, world.viewer).get(reverse("portfolio-detail", args=["payments"]))

    assert response.status_code == 200
    assert response.json() == {
        "slug": "payments",
        "name": "Payments",
        "description": "Card acquiring and payouts.",
        "project_count": 2,
        "url": "http://testserver/api/portfolios/payments/",
    }


def test_team_lead_sees_the_portfolio_of_their_project_counting_only_that_project(world, api):
    response = _signed_in(api, world.team_lead).get(reverse("portfolio-detail", args=["payments"]))

    assert response.status_code == 200
    assert response.json()["project_count"] == 1


def test_invisible_portfolio_is_404_with_the_same_body_as_a_missing_one(world, api):
    client = _signed_in(api, world.viewer)

    invisible = client.get(reverse("portfolio-detail", args=["logistics"]))
    missing = client.get(reverse("portfolio-detail", args=["no-such-portfolio"]))

    assert invisible.status_code == missing.status_code == 404
    assert invisible.json() == missing.json()
    assert "Logistics" not in invisible.content.decode()


# --- Projects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected_keys"),
    [
        ("viewer", ["CARD", "PAY"]),
        ("team_lead", ["PAY"]),
        ("pmo_leader", ["CARD", "PAY"]),
        ("executive", ["CARD", "PAY"]),
        ("outsider", ["SHIP"]),
    ],
)
def test_project_list_shows_only_visible_projects_by_key(world, api, role, expected_keys):
    response = _signed_in(api, world.user(role)).get(reverse("project-list"))

    assert response.status_code == 200
    assert [row["key"] for row in response.json()["results"]] == expected_keys


def test_project_detail_has_the_documented_fields_and_counts(world, api):
    project = world.own_project
    project.target_date = dt.date(2027, 3, 31)
    project.time_zone = "Europe/Paris"
    project.status_categories = {"Open": "todo", "Doing": "in_progress", "Shipped": "done"}
    project.save()
    WorkItemFactory(project=project, story_points=Decimal(5), status="Open")
    WorkItemFactory(
        project=project, story_points=Decimal("2.5"), status="Doing", category=Category.IN_PROGRESS
    )
    WorkItemFactory(project=project, story_points=None, status="Open")
    WorkItemFactory(
        project=project,
        story_points=Decimal(8),
        status="Shipped",
        category=Category.DONE,
        done_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )

    response = _signed_in(api, world.team_lead).get(reverse("project-detail", args=["PAY"]))

    assert response.status_code == 200
    assert response.json() == {
        "key": "PAY",
        "name": "Payments core",
        "portfolio": "payments",
        "status": "active",
        "target_date": "2027-03-31",
        "time_zone": "Europe/Paris",
        "status_categories": {"Open": "todo", "Doing": "in_progress", "Shipped": "done"},
        "item_count": 4,
        "open_item_count": 3,
        "open_points": 7.5,
        "url": "http://testserver/api/projects/PAY/",
    }


def test_project_with_nothing_open_reports_zero_open_points_not_null(world, api):
    response = _signed_in(api, world.viewer).get(reverse("project-detail", args=["CARD"]))

    assert response.json()["item_count"] == 0
    assert response.json()["open_points"] == 0


@pytest.mark.parametrize("key", ["NOPE", "not-a-key", "TOOLONGAKEY12345"])
def test_unknown_or_malformed_project_key_is_a_json_404(world, api, key):
    response = _signed_in(api, world.viewer).get(f"/api/projects/{key}/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}


def test_project_key_is_case_insensitive_like_the_pages(world, api):
    response = _signed_in(api, world.viewer).get("/api/projects/pay/")

    assert response.status_code == 200
    assert response.json()["key"] == "PAY"


def test_projects_filter_by_portfolio_slug(world, api):
    ProjectFactory(portfolio=world.foreign, key="DOCK", name="Docks")
    client = _signed_in(api, world.admin)

    response = client.get(reverse("project-list"), {"portfolio": "logistics"})

    assert response.status_code == 200
    assert [row["key"] for row in response.json()["results"]] == ["DOCK", "SHIP"]


def test_projects_filter_by_status(world, api):
    world.sibling_project.status = Project.Status.ON_HOLD
    world.sibling_project.save()
    client = _signed_in(api, world.pmo_leader)

    on_hold = client.get(reverse("project-list"), {"status": "on_hold"})
    active = client.get(reverse("project-list"), {"status": "active", "portfolio": "payments"})

    assert [row["key"] for row in on_hold.json()["results"]] == ["CARD"]
    assert [row["key"] for row in active.json()["results"]] == ["PAY"]


def test_filtering_by_an_invisible_portfolio_is_the_same_400_as_an_unknown_one(world, api):
    client = _signed_in(api, world.viewer)

    invisible = client.get(reverse("project-list"), {"portfolio": "logistics"})
    unknown = client.get(reverse("project-list"), {"portfolio": "no-such-portfolio"})

    assert invisible.status_code == unknown.status_code == 400
    assert set(invisible.json()) == {"portfolio"}
    assert "valid choice" in invisible.json()["portfolio"][0]
    assert invisible.json()["portfolio"][0].replace("logistics", "?") == unknown.json()[
        "portfolio"
    ][0].replace("no-such-portfolio", "?")


def test_an_unknown_status_filter_is_a_400_naming_the_parameter(world, api):
    response = _signed_in(api, world.viewer).get(reverse("project-list"), {"status": "archived"})

    assert response.status_code == 400
    assert "archived" in response.json()["status"][0]


def test_team_lead_filtering_their_portfolio_still_sees_only_their_project(world, api):
    response = _signed_in(api, world.team_lead).get(
        reverse("project-list"), {"portfolio": "payments"}
    )

    assert [row["key"] for row in response.json()["results"]] == ["PAY"]


# --- Read-only -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/portfolios/"),
        ("put", "/api/portfolios/payments/"),
        ("patch", "/api/portfolios/payments/"),
        ("delete", "/api/portfolios/payments/"),
        ("post", "/api/projects/"),
        ("put", "/api/projects/PAY/"),
        ("patch", "/api/projects/PAY/"),
        ("delete", "/api/projects/PAY/"),
    ],
)
def test_the_api_is_read_only_and_a_write_attempt_changes_nothing(world, api, method, url):
    client = _signed_in(api, world.pmo_leader)
    before = list(Project.objects.values_list("key", "name", "status", "version"))
    portfolios_before = list(Portfolio.objects.values_list("slug", "name", "description"))

    response = getattr(client, method)(url, {"name": "Renamed", "key": "NEW"}, format="json")

    assert response.status_code == 405
    assert list(Project.objects.values_list("key", "name", "status", "version")) == before
    assert list(Portfolio.objects.values_list("slug", "name", "description")) == portfolios_before


# --- Authentication --------------------------------------------------------------------------


def test_anonymous_request_is_refused_without_data(world, api):
    response = api.get(reverse("project-list"))

    assert response.status_code == ANONYMOUS_API
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_token_from_username_and_password_authenticates_api_calls(world, api):
    response = api.post(
        reverse("api-token"), {"username": "team_lead", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(key=token).user == world.team_lead

    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    projects = api.get(reverse("project-list"))

    assert projects.status_code == 200
    assert [row["key"] for row in projects.json()["results"]] == ["PAY"]


def test_asking_twice_for_a_token_returns_the_same_token(world, api):
    url = reverse("api-token")
    first = api.post(url, {"username": "viewer", "password": PASSWORD})
    second = api.post(url, {"username": "viewer", "password": PASSWORD})

    assert first.json()["token"] == second.json()["token"]
    assert Token.objects.filter(user=world.viewer).count() == 1


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "viewer", "password": "wrong-password"},
        {"username": "nobody", "password": PASSWORD},
    ],
)
def test_wrong_credentials_get_a_400_with_a_clear_message_and_no_token(world, api, credentials):
    response = api.post(reverse("api-token"), credentials, format="json")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert not Token.objects.exists()


def test_missing_password_gets_a_400_naming_the_field(world, api):
    response = api.post(reverse("api-token"), {"username": "viewer"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"password": ["This field is required."]}


def test_a_forged_token_is_refused(world, api):
    api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    response = api.get(reverse("project-list"))

    assert response.status_code == ANONYMOUS_API
    assert response.json() == {"detail": "Invalid token."}


def test_a_session_login_works_for_the_api_too(world, api):
    assert api.login(username="outsider", password=PASSWORD)

    response = api.get(reverse("portfolio-list"))

    assert [row["slug"] for row in response.json()["results"]] == ["logistics"]


# --- Constant number of queries --------------------------------------------------------------


def _grow(world, role: str, size: int) -> tuple[int, int]:
    """Give the role's user `size` more portfolios and 2 * `size` more projects (half of them in
    `own`), and add `size` projects they may not see; each project has an open and a done work
    item. Returns how many portfolios and projects the user then sees."""
    user = world.user(role)
    for index in range(size):
        done_at = dt.datetime(2026, 2, 1, index % 20 + 1, tzinfo=dt.UTC)
        portfolio = PortfolioFactory()
        new_projects = [
            ProjectFactory(portfolio=portfolio),
            ProjectFactory(portfolio=world.own),
            ProjectFactory(portfolio=world.foreign),
        ]
        for project in new_projects:
            WorkItemFactory(project=project)
            WorkItemFactory(project=project, category=Category.DONE, status="Done", done_at=done_at)
        if role == "team_lead":
            for project in new_projects[:2]:
                role_grant(actor=world.admin, user=user, role=Role.TEAM_LEAD, project=project)
        else:
            granted = Role.PMO_LEADER if role == "pmo_leader" else Role.VIEWER
            role_grant(actor=world.admin, user=user, role=granted, portfolio=portfolio)
    base_projects = 1 if role == "team_lead" else 2
    return 1 + size, base_projects + 2 * size


# session, user, COUNT for the pagination, the page itself
LIST_QUERIES = {"portfolio-list": 4, "project-list": 4}


@pytest.mark.parametrize("size", [1, 10])
@pytest.mark.parametrize(("route", "queries"), LIST_QUERIES.items())
@pytest.mark.parametrize("role", ["viewer", "team_lead", "pmo_leader"])
def test_list_endpoints_use_a_constant_number_of_queries(
    world, api, django_assert_num_queries, size, route, queries, role
):
    portfolios, projects = _grow(world, role, size)
    client = _signed_in(api, world.user(role))
    url = reverse(route)
    _warm_up(client, url)

    with django_assert_num_queries(queries):
        response = client.get(url)

    assert response.json()["count"] == (portfolios if route == "portfolio-list" else projects)


@pytest.mark.parametrize("size", [1, 10])
def test_filtered_project_list_uses_a_constant_number_of_queries(
    world, api, django_assert_num_queries, size
):
    _grow(world, "pmo_leader", size)
    client = _signed_in(api, world.pmo_leader)
    url = reverse("project-list")
    _warm_up(client, url)

    # one more than the plain list: the portfolio slug is resolved among the visible ones
    with django_assert_num_queries(LIST_QUERIES["project-list"] + 1):
        response = client.get(url, {"portfolio": "payments", "status": "active"})

    assert response.json()["count"] == 2 + size


# --- Schema and documentation ----------------------------------------------------------------


def test_openapi_schema_is_generated_without_a_warning(tmp_path):
    """Any endpoint added without a typed serializer or a schema annotation fails here."""
    call_command("spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "schema.yml"))

    schema = (tmp_path / "schema.yml").read_text()
    for path in ("/api/portfolios/{slug}/", "/api/projects/{key}/", "/api/auth/token/"):
        assert path in schema


def test_schema_is_served_to_signed_in_callers_and_refused_to_anonymous(world, api):
    url = reverse("api-schema")

    assert api.get(url).status_code == ANONYMOUS_API
    response = _signed_in(api, world.viewer).get(
        url, HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )

    assert response.status_code == 200
    assert "/api/projects/{key}/" in response.json()["paths"]


def test_swagger_ui_is_served_from_our_own_static_files_never_a_cdn(world, api, settings):
    # The manifest storage of production needs collectstatic; the page's URLs are what matters.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    response = _signed_in(api, world.viewer).get(reverse("api-docs"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert "https://" not in page
