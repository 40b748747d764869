"""Who gets what, on every route, for every role: one explicit table per kind of access.

The `world` fixture (tests/conftest.py) gives portfolio `own` ("payments", projects PAY =
own_project and CARD = sibling_project) and portfolio `foreign` ("logistics", project SHIP).
viewer, pmo_leader and executive hold their role on `own`; team_lead holds Team lead on PAY
only; outsider is PMO leader of `foreign`.

The rule the tables spell out (DESIGN.md, "Permissions"): anonymous callers are sent to the
login page (pages) or refused (API); an object the caller may not see is 404, exactly as if it
did not exist; an object the caller may see but not change is 403 on a write; a refused write
changes nothing, not even the decision log.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from governance.models import DecisionLog, RoleAssignment
from governance.roles import Role
from governance.services import role_grant
from portfolio.models import Portfolio, Project
from tests.conftest import ROLES
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# REST_FRAMEWORK lists TokenAuthentication first, so DRF answers an unauthenticated API request
# with 401 and `WWW-Authenticate: Token` (with SessionAuthentication first it would be 403).
ANONYMOUS_API = 401
ANON = ANONYMOUS_API
LOGIN = "login"  # pages: 302 to the login page, with ?next= back to the page
GRANTED = "granted"  # a write that succeeded: 302 back to the members page, one change logged

SLUGS = {"own": "payments", "foreign": "logistics"}
KEYS = {"own": "PAY", "sibling": "CARD", "foreign": "SHIP"}

# --- Reads -----------------------------------------------------------------------------------
# Columns follow ROLES: anonymous, viewer, team_lead, pmo_leader, executive, outsider.
# Route: (URL name, object). The object is None (no argument), a portfolio ("own", "foreign")
# for slug routes, or a project ("own", "sibling", "foreign") for key routes.

KEY_ROUTES = {
    "project-detail",
    "portfolio:project-detail",
    "governance:project-members",
}

# fmt: off
#                                                 anon   view lead pmo  exec outsider
READ_MATRIX: dict[tuple[str, str | None], tuple[int | str, ...]] = {
    # REST API
    ("portfolio-list", None):                    (ANON,  200, 200, 200, 200, 200),
    ("portfolio-detail", "own"):                 (ANON,  200, 200, 200, 200, 404),
    ("portfolio-detail", "foreign"):             (ANON,  404, 404, 404, 404, 200),
    ("project-list", None):                      (ANON,  200, 200, 200, 200, 200),
    ("project-detail", "own"):                   (ANON,  200, 200, 200, 200, 404),
    ("project-detail", "sibling"):               (ANON,  200, 404, 200, 200, 404),
    ("project-detail", "foreign"):               (ANON,  404, 404, 404, 404, 200),
    ("api-schema", None):                        (ANON,  200, 200, 200, 200, 200),
    ("api-docs", None):                          (ANON,  200, 200, 200, 200, 200),
    # Pages
    ("portfolio:portfolio-list", None):          (LOGIN, 200, 200, 200, 200, 200),
    ("portfolio:portfolio-detail", "own"):       (LOGIN, 200, 200, 200, 200, 404),
    ("portfolio:portfolio-detail", "foreign"):   (LOGIN, 404, 404, 404, 404, 200),
    ("portfolio:project-detail", "own"):         (LOGIN, 200, 200, 200, 200, 404),
    ("portfolio:project-detail", "sibling"):     (LOGIN, 200, 404, 200, 200, 404),
    ("portfolio:project-detail", "foreign"):     (LOGIN, 404, 404, 404, 404, 200),
    ("governance:portfolio-members", "own"):     (LOGIN, 200, 200, 200, 200, 404),
    ("governance:portfolio-members", "foreign"): (LOGIN, 404, 404, 404, 404, 200),
    ("governance:project-members", "own"):       (LOGIN, 200, 200, 200, 200, 404),
    ("governance:project-members", "sibling"):   (LOGIN, 200, 404, 200, 200, 404),
    ("governance:project-members", "foreign"):   (LOGIN, 404, 404, 404, 404, 200),
    ("pmo:system-status", None):                 (LOGIN, 200, 200, 200, 200, 200),
    # History upload: the form only for who may import somewhere (a PMO leader: change right
    # on a portfolio); the job list shows each user their own jobs (tests/portfolio/
    # test_import_upload.py covers one job's page: its requester and superusers only).
    ("imports:job-create", None):                (LOGIN, 404, 404, 200, 404, 200),
    ("imports:job-list", None):                  (LOGIN, 200, 200, 200, 200, 200),
}
# fmt: on

# Members pages: who sees the grant form and revoke buttons (everyone else reads only).
MANAGERS = {("pmo_leader", "own"), ("pmo_leader", "sibling"), ("outsider", "foreign")}


def _portfolio(world, target: str) -> Portfolio:
    return {"own": world.own, "foreign": world.foreign}[target]


def _project(world, target: str) -> Project:
    return {
        "own": world.own_project,
        "sibling": world.sibling_project,
        "foreign": world.foreign_project,
    }[target]


def _args(route: str, target: str | None) -> list[str]:
    if target is None:
        return []
    return [KEYS[target]] if route in KEY_ROUTES else [SLUGS[target]]


def _read_cases() -> list:
    return [
        pytest.param(route, target, role, expected, id=f"{route}-{target or 'none'}-{role}")
        for (route, target), statuses in READ_MATRIX.items()
        for role, expected in zip(ROLES, statuses, strict=True)
    ]


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Production's manifest storage needs a collectstatic run; pages only need static URLs."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _assert_sent_to_login(response, url: str) -> None:
    assert response.status_code == 302
    location = urlsplit(response.url)
    assert location.path == reverse("login")
    assert parse_qs(location.query) == {"next": [url]}


@pytest.mark.parametrize(("route", "target", "role", "expected"), _read_cases())
def test_read_access_matrix(world, client, route, target, role, expected):
    user = world.user(role)
    if user is not None:
        client.force_login(user)
    url = reverse(route, args=_args(route, target))

    response = client.get(url)

    if expected == LOGIN:
        _assert_sent_to_login(response, url)
        return
    assert response.status_code == expected
    if expected == 404 and target is not None:
        # The answer names nothing of the hidden object.
        hidden = _project(world, target) if route in KEY_ROUTES else _portfolio(world, target)
        assert hidden.name not in response.content.decode()


def _visible_members_pages() -> list:
    """The members pages each role may open (200 in READ_MATRIX)."""
    return [
        pytest.param(route, target, role, id=f"{route}-{target}-{role}")
        for (route, target), statuses in READ_MATRIX.items()
        if route.startswith("governance:")
        for role, expected in zip(ROLES, statuses, strict=True)
        if expected == 200
    ]


@pytest.mark.parametrize(("route", "target", "role"), _visible_members_pages())
def test_members_page_offers_grant_and_revoke_only_to_managers(world, client, route, target, role):
    client.force_login(world.user(role))
    url = reverse(route, args=_args(route, target))

    page = client.get(url).content.decode()

    if (role, target) in MANAGERS:
        assert f'action="{url}"' in page
    else:
        assert f'action="{url}"' not in page
        assert "/revoke/" not in page


# --- Writes: granting and revoking roles on the members pages --------------------------------

# fmt: off
#                         anon   view lead pmo      exec outsider
WRITE_MATRIX: dict[str, tuple[int | str, ...]] = {
    "portfolio-own":     (LOGIN, 403, 403, GRANTED, 403, 404),
    "portfolio-foreign": (LOGIN, 404, 404, 404,     404, GRANTED),
    "project-own":       (LOGIN, 403, 403, GRANTED, 403, 404),
    "project-sibling":   (LOGIN, 403, 404, GRANTED, 403, 404),
    "project-foreign":   (LOGIN, 404, 404, 404,     404, GRANTED),
}
# fmt: on

# The roles each kind of scope accepts (governance.roles); every one is tried, so a viewer
# cannot, say, make someone PMO leader where they could not make them a viewer.
GRANTABLE = {
    "portfolio": [Role.PMO_LEADER, Role.EXECUTIVE, Role.VIEWER],
    "project": [Role.TEAM_LEAD, Role.VIEWER],
}


def _scope_objects(world, scope: str) -> tuple[str, list[str], dict]:
    """URL name prefix, URL arguments and RoleAssignment scope fields of a write scope."""
    kind, target = scope.split("-")
    if kind == "portfolio":
        portfolio = _portfolio(world, target)
        return "governance:portfolio-member", [portfolio.slug], {"portfolio": portfolio}
    project = _project(world, target)
    return "governance:project-member", [project.key], {"project": project}


def _grant_cases() -> list:
    return [
        pytest.param(scope, granted, role, expected, id=f"{scope}-{granted}-by-{role}")
        for scope, statuses in WRITE_MATRIX.items()
        for granted in GRANTABLE[scope.split("-")[0]]
        for role, expected in zip(ROLES, statuses, strict=True)
    ]


def _state() -> tuple[list, int]:
    """Everything a role write touches: the assignments and the size of the decision log."""
    assignments = list(
        RoleAssignment.objects.order_by("pk").values_list(
            "pk", "user_id", "role", "portfolio_id", "project_id"
        )
    )
    return assignments, DecisionLog.objects.count()


@pytest.mark.parametrize(("scope", "granted", "role", "expected"), _grant_cases())
def test_grant_role_matrix(world, client, scope, granted, role, expected):
    newcomer = UserFactory(username="newcomer")
    prefix, args, scope_fields = _scope_objects(world, scope)
    url = reverse(f"{prefix}s", args=args)
    user = world.user(role)
    if user is not None:
        client.force_login(user)
    assignments_before, decisions_before = _state()

    response = client.post(url, {"username": "newcomer", "role": granted})

    if expected == GRANTED:
        assert response.status_code == 302
        assert response.url == url
        assert RoleAssignment.objects.filter(user=newcomer, role=granted, **scope_fields).exists()
        assert RoleAssignment.objects.count() == len(assignments_before) + 1
        assert DecisionLog.objects.count() == decisions_before + 1
        assert DecisionLog.objects.latest("pk").actor == user
        return
    if expected == LOGIN:
        _assert_sent_to_login(response, url)
    else:
        assert response.status_code == expected
    assert _state() == (assignments_before, decisions_before)
    assert not newcomer.groups.exists()


def _revoke_cases() -> list:
    return [
        pytest.param(scope, role, expected, id=f"{scope}-by-{role}")
        for scope, statuses in WRITE_MATRIX.items()
        for role, expected in zip(ROLES, statuses, strict=True)
    ]


@pytest.mark.parametrize(("scope", "role", "expected"), _revoke_cases())
def test_revoke_role_matrix(world, client, scope, role, expected):
    prefix, args, scope_fields = _scope_objects(world, scope)
    newcomer = UserFactory(username="newcomer")
    assignment = role_grant(actor=world.admin, user=newcomer, role=Role.VIEWER, **scope_fields)
    url = reverse(f"{prefix}-revoke", args=[*args, assignment.pk])
    user = world.user(role)
    if user is not None:
        client.force_login(user)
    assignments_before, decisions_before = _state()

    response = client.post(url)

    if expected == GRANTED:
        assert response.status_code == 302
        assert response.url == reverse(f"{prefix}s", args=args)
        assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()
        assert DecisionLog.objects.count() == decisions_before + 1
        return
    if expected == LOGIN:
        _assert_sent_to_login(response, url)
    else:
        assert response.status_code == expected
    assert _state() == (assignments_before, decisions_before)


def test_revoke_through_a_scope_one_manages_cannot_reach_another_scopes_role(world, client):
    """The assignment id is checked against the scope in the URL: no revoking a foreign role by
    putting its id under one's own portfolio."""
    foreign_role = RoleAssignment.objects.get(user=world.outsider, portfolio=world.foreign)
    client.force_login(world.pmo_leader)
    before = _state()

    response = client.post(
        reverse("governance:portfolio-member-revoke", args=["payments", foreign_role.pk])
    )

    assert response.status_code == 404
    assert _state() == before


def _portfolio_state() -> tuple[list, list]:
    return (
        list(Portfolio.objects.order_by("pk").values_list("pk", "slug", "name", "description")),
        list(Project.objects.order_by("pk").values_list("pk", "key", "name", "status", "version")),
    )


API_WRITES = [
    ("post", "portfolio-list", None),
    ("put", "portfolio-detail", "own"),
    ("patch", "portfolio-detail", "foreign"),
    ("delete", "portfolio-detail", "own"),
    ("post", "project-list", None),
    ("put", "project-detail", "own"),
    ("patch", "project-detail", "sibling"),
    ("delete", "project-detail", "foreign"),
]


@pytest.mark.parametrize("role", ROLES)
def test_api_refuses_every_write_and_changes_nothing(world, client, role):
    """The API is read-only: signed-in callers get 405 whatever they may see (the method is
    refused before any lookup, so it reveals nothing either); anonymous ones are refused."""
    user = world.user(role)
    if user is not None:
        client.force_login(user)
    before = _portfolio_state(), _state()
    expected = ANONYMOUS_API if user is None else 405

    answers = {
        (method, route, target): getattr(client, method)(
            reverse(route, args=_args(route, target)),
            data={"key": "NEW", "name": "New", "slug": "new"},
            content_type="application/json",
        ).status_code
        for method, route, target in API_WRITES
    }

    assert answers == dict.fromkeys(API_WRITES, expected)
    assert (_portfolio_state(), _state()) == before
