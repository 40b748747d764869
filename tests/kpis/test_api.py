"""The KPI API: definitions, values and history, filtered by permission, with the forms'
validation messages (400), conflicts on stale versions (409) and the OpenAPI schema."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from governance.models import DecisionLog
from metrics.kpis.services import kpi_measurement_correct
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from portfolio.permissions import forget_cached_permissions
from tests.kpis.conftest import FEBRUARY, JANUARY
from tests.kpis.factories import CycleTimeKPIFactory, KPIFactory, MeasurementFactory


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def as_user(api: APIClient, user) -> APIClient:
    if user is not None:
        api.force_login(user)
    return api


@pytest.fixture
def everywhere(world):
    """A satisfaction KPI with a January value on PAY (own), CARD (sibling), SHIP (foreign)."""
    found = {}
    for name, project in {
        "own": world.own_project,
        "sibling": world.sibling_project,
        "foreign": world.foreign_project,
    }.items():
        kpi = KPIFactory(project=project, name="Satisfaction")
        found[name] = MeasurementFactory(kpi=kpi, period_start=JANUARY, value=Decimal(4))
    return found


def state() -> tuple:
    return (
        KPI.objects.count(),
        sorted(KPI.objects.values_list("target", "version")),
        sorted(KPIMeasurement.objects.values_list("value", "version")),
        KPIMeasurementRevision.objects.count(),
        DecisionLog.objects.count(),
    )


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "projects"),
    [
        ("team_lead", ["PAY"]),
        ("viewer", ["CARD", "PAY"]),
        ("executive", ["CARD", "PAY"]),
        ("pmo_leader", ["CARD", "PAY"]),
        ("outsider", ["SHIP"]),
    ],
)
def test_the_kpi_list_holds_only_what_the_caller_may_read(api, world, everywhere, role, projects):
    response = as_user(api, world.user(role)).get("/api/kpis/")

    assert response.status_code == 200
    assert sorted(kpi["project"] for kpi in response.json()["results"]) == projects


def test_anonymous_callers_are_asked_to_authenticate(api, world, everywhere):
    response = api.get("/api/kpis/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_kpi_shows_its_latest_value_and_status(api, world, satisfaction):
    MeasurementFactory(kpi=satisfaction, period_start=JANUARY, value=Decimal("4.6"))
    MeasurementFactory(kpi=satisfaction, period_start=FEBRUARY, value=Decimal("3.7"))

    body = as_user(api, world.viewer).get(f"/api/kpis/{satisfaction.pk}/").json()

    assert body["latest"]["period_start"] == "2026-02-01"
    assert body["latest"]["value"] == "3.7000"
    assert body["status"] == "amber"
    assert (body["project"], body["portfolio"], body["direction"]) == (
        "PAY",
        "payments",
        "higher_is_better",
    )


@pytest.mark.parametrize("path", ["", "measurements/", "history/"])
def test_another_teams_kpi_is_not_found_for_a_team_lead(api, world, everywhere, path):
    sibling = everywhere["sibling"].kpi

    response = as_user(api, world.team_lead).get(f"/api/kpis/{sibling.pk}/{path}")

    assert response.status_code == 404


def test_filtering_on_an_invisible_project_is_a_400_naming_the_parameter(api, world, everywhere):
    response = as_user(api, world.team_lead).get("/api/kpis/", {"project": "CARD"})

    assert response.status_code == 400
    assert response.json() == {"project": ["No project 'CARD' visible to you."]}


def test_values_and_history_are_listed(api, world, satisfaction):
    measurement = MeasurementFactory(kpi=satisfaction, period_start=JANUARY, value=Decimal(4))
    kpi_measurement_correct(
        actor=world.team_lead, measurement=measurement, value="3", note="recount", version=1
    )
    client = as_user(api, world.viewer)

    values = client.get(f"/api/kpis/{satisfaction.pk}/measurements/").json()["results"]
    history = client.get(f"/api/kpis/{satisfaction.pk}/history/").json()["results"]
    own = client.get(f"/api/kpi-measurements/{measurement.pk}/history/").json()["results"]

    assert [(v["period_start"], v["value"], v["status"], v["version"]) for v in values] == [
        ("2026-01-01", "3.0000", "red", 2)
    ]
    assert [(h["change"], h["old_value"], h["new_value"], h["changed_by"]) for h in history] == [
        ("corrected", "4.0000", "3.0000", "team_lead"),
        ("recorded", None, "4.0000", None),
    ]
    assert history[0]["note"] == "recount"
    assert own == history


@pytest.mark.parametrize(
    "path", ["/api/kpis/", "/api/kpis/{kpi}/measurements/", "/api/kpis/{kpi}/history/"]
)
def test_lists_run_a_constant_number_of_queries(
    api, world, satisfaction, django_assert_num_queries, path
):
    url = path.format(kpi=satisfaction.pk)
    client = as_user(api, world.pmo_leader)
    MeasurementFactory(kpi=satisfaction, period_start=JANUARY)
    client.get(url)
    forget_cached_permissions(world.pmo_leader)
    with CaptureQueriesContext(connection) as small:
        client.get(url)

    for month in range(2, 9):
        MeasurementFactory(kpi=satisfaction, period_start=JANUARY.replace(month=month))
    for number in range(5):
        CycleTimeKPIFactory(project=world.own_project, name=f"More {number}")

    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200


# --- definitions -------------------------------------------------------------------------------

DEFINITION = {
    "project": "PAY",
    "name": "Release predictability",
    "unit": "%",
    "direction": "higher_is_better",
    "target": 85,
    "amber_threshold": "75",
    "red_threshold": 60,
    "min_value": 0,
    "max_value": 100,
    "cadence": "quarterly",
    "owner": "team_lead",
}


def test_a_pmo_leader_defines_a_kpi(api, world):
    response = as_user(api, world.pmo_leader).post("/api/kpis/", DEFINITION, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["owner"], body["target"], body["status"], body["latest"]) == (
        "Release predictability",
        "team_lead",
        "85.0000",
        "grey",
        None,
    )


@pytest.mark.parametrize("role", ["team_lead", "viewer", "executive"])
def test_only_pmo_leaders_define_kpis_through_the_api(api, world, role):
    response = as_user(api, world.user(role)).post("/api/kpis/", DEFINITION, format="json")

    assert response.status_code == 403
    assert not KPI.objects.exists()


def test_a_bad_definition_is_a_400_with_field_messages(api, world):
    response = as_user(api, world.pmo_leader).post(
        "/api/kpis/",
        {**DEFINITION, "red_threshold": 80, "cadence": "per_sprint", "owner": "nobody"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"owner": ["No active user 'nobody'."]}
    response = as_user(api, world.pmo_leader).post(
        "/api/kpis/", {**DEFINITION, "red_threshold": 80, "target": "high"}, format="json"
    )
    assert set(response.json()) == {"target"}


def test_a_definition_for_an_invisible_project_is_refused_as_unknown(api, world):
    response = as_user(api, world.outsider).post("/api/kpis/", DEFINITION, format="json")

    assert response.status_code == 400
    assert response.json() == {"project": ["No project 'PAY' visible to you."]}


def test_a_stale_definition_change_is_a_409(api, world, satisfaction):
    client = as_user(api, world.pmo_leader)
    first = client.patch(
        f"/api/kpis/{satisfaction.pk}/", {"target": 4.8, "version": 1}, format="json"
    )

    second = client.patch(
        f"/api/kpis/{satisfaction.pk}/", {"target": 4.7, "version": 1}, format="json"
    )

    assert first.status_code == 200
    assert first.json()["version"] == 2
    assert second.status_code == 409
    satisfaction.refresh_from_db()
    assert satisfaction.target == Decimal("4.8")


# --- values ------------------------------------------------------------------------------------


def test_a_team_lead_adds_a_value(api, world, satisfaction):
    response = as_user(api, world.team_lead).post(
        f"/api/kpis/{satisfaction.pk}/measurements/",
        {"period_start": "2026-03-01", "value": 4.3, "note": "survey"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["value"], body["status"], body["entered_by"], body["version"]) == (
        "4.3000",
        "green",
        "team_lead",
        1,
    )


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"period_start": "2026-03-01", "value": "x"}, "value", "The value 'x' is not a number."),
        ({"period_start": "2026-03-01", "value": 7}, "value", "outside the allowed range"),
        ({"period_start": "2026-03-02", "value": 4}, "period_start", "first day of a month"),
        ({"period_start": "2999-01-01", "value": 4}, "period_start", "is in the future"),
        ({"period_start": "2026-01-01", "value": 4}, "period_start", "already has a value"),
        ({"period_start": "2026-03-01", "value": True}, "value", "Send a number"),
    ],
)
def test_a_bad_value_is_a_400_with_the_forms_message(
    api, world, satisfaction, payload, field, message
):
    MeasurementFactory(kpi=satisfaction, period_start=JANUARY)
    before = state()

    response = as_user(api, world.team_lead).post(
        f"/api/kpis/{satisfaction.pk}/measurements/", payload, format="json"
    )

    assert response.status_code == 400
    assert any(message in text for text in response.json()[field])
    assert state() == before


def test_a_correction_with_the_version_read_succeeds(api, world, satisfaction):
    measurement = MeasurementFactory(kpi=satisfaction, value=Decimal(4))

    response = as_user(api, world.team_lead).patch(
        f"/api/kpi-measurements/{measurement.pk}/", {"value": "4.9", "version": 1}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["value"], response.json()["version"]) == ("4.9000", 2)


def test_a_correction_on_a_stale_version_is_a_409_with_the_current_value(api, world, satisfaction):
    measurement = MeasurementFactory(kpi=satisfaction, value=Decimal(4))
    kpi_measurement_correct(actor=world.pmo_leader, measurement=measurement, value="3.1", version=1)
    before = state()

    response = as_user(api, world.team_lead).patch(
        f"/api/kpi-measurements/{measurement.pk}/", {"value": "4.9", "version": 1}, format="json"
    )

    assert response.status_code == 409
    body = response.json()
    assert body["detail"].startswith("pmo_leader changed this value to 3.1 score at ")
    assert (body["current"]["value"], body["current"]["version"]) == ("3.1000", 2)
    assert body["current"]["entered_by"] == "pmo_leader"
    assert state() == before


def test_a_correction_without_a_version_is_a_400(api, world, satisfaction):
    measurement = MeasurementFactory(kpi=satisfaction)

    response = as_user(api, world.team_lead).patch(
        f"/api/kpi-measurements/{measurement.pk}/", {"value": "4.9"}, format="json"
    )

    assert response.status_code == 400
    assert "version" in response.json()


# --- who may write: role x action x project -------------------------------------------------

WRITE_ACTIONS = ["add", "correct", "define", "redefine"]
RECORD = {
    "team_lead": {"own"},
    "pmo_leader": {"own", "sibling"},
    "outsider": {"foreign"},
}
DEFINE = {"pmo_leader": {"own", "sibling"}, "outsider": {"foreign"}}
VISIBLE = {
    "viewer": {"own", "sibling"},
    "executive": {"own", "sibling"},
    "team_lead": {"own"},
    "pmo_leader": {"own", "sibling"},
    "outsider": {"foreign"},
}


def call(client: APIClient, action: str, measurement: KPIMeasurement):
    kpi = measurement.kpi
    if action == "read":
        return client.get(f"/api/kpis/{kpi.pk}/")
    if action == "add":
        return client.post(
            f"/api/kpis/{kpi.pk}/measurements/",
            {"period_start": "2026-02-01", "value": 2},
            format="json",
        )
    if action == "correct":
        return client.patch(
            f"/api/kpi-measurements/{measurement.pk}/", {"value": 1, "version": 1}, format="json"
        )
    if action == "define":
        return client.post(
            "/api/kpis/", {**DEFINITION, "project": kpi.project.key, "owner": ""}, format="json"
        )
    return client.patch(f"/api/kpis/{kpi.pk}/", {"target": 4.9}, format="json")


def expected(role: str, action: str, scope: str) -> int:
    if role == "anonymous":
        return 401
    if scope not in VISIBLE[role]:
        return 400 if action == "define" else 404
    if action == "read":
        return 200
    allowed = DEFINE if action in ("define", "redefine") else RECORD
    if scope not in allowed.get(role, set()):
        return 403
    return 201 if action in ("add", "define") else 200


@pytest.mark.parametrize("scope", ["own", "sibling", "foreign"])
@pytest.mark.parametrize("action", ["read", *WRITE_ACTIONS])
@pytest.mark.parametrize(
    "role", ["anonymous", "viewer", "executive", "team_lead", "pmo_leader", "outsider"]
)
def test_kpi_api_permission_matrix(api, world, everywhere, role, action, scope):
    client = as_user(api, world.user(role))
    before = state()

    response = call(client, action, everywhere[scope])

    status = expected(role, action, scope)
    assert response.status_code == status, response.content[:300]
    if status >= 400 or action == "read":
        assert state() == before
    else:
        assert state() != before


# --- schema ------------------------------------------------------------------------------------


def test_every_kpi_endpoint_is_in_the_openapi_schema_without_a_warning(tmp_path):
    call_command("spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "s.yml"))

    schema = (tmp_path / "s.yml").read_text()
    for path in (
        "/api/kpis/:",
        "/api/kpis/{id}/:",
        "/api/kpis/{id}/measurements/:",
        "/api/kpis/{id}/history/:",
        "/api/kpi-measurements/{id}/:",
        "/api/kpi-measurements/{id}/history/:",
    ):
        assert path in schema
    assert "KpiMeasurementConflict" in schema
