"""Who may do what with KPIs in the pages, as a matrix: role x action x project (own, a
sibling in the same portfolio, a foreign one). A KPI the user may not see answers 404 like a
missing one; a visible one the user may not change answers 403; nothing changes on refusal."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from governance.models import DecisionLog
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from tests.kpis.conftest import JANUARY
from tests.kpis.factories import KPIFactory, MeasurementFactory

SCOPES = {"own": "own_project", "sibling": "sibling_project", "foreign": "foreign_project"}


@dataclass(frozen=True)
class Action:
    name: str
    kind: str  # read, record or define
    method: str = "get"
    htmx: bool = False


ACTIONS = [
    Action("kpi-page", "read"),
    Action("history", "read"),
    Action("csv", "read"),
    Action("trend", "read", htmx=True),
    Action("add-form", "record"),
    Action("add", "record", "post"),
    Action("edit", "record", "post"),
    Action("import", "record", "post"),
    Action("define", "define", "post"),
    Action("redefine", "define", "post"),
]

READERS = {"viewer", "executive", "team_lead", "pmo_leader", "admin"}
# role -> scopes it may see / record in / define in
VISIBLE = {
    "viewer": {"own", "sibling"},
    "executive": {"own", "sibling"},
    "team_lead": {"own"},
    "pmo_leader": {"own", "sibling"},
    "outsider": {"foreign"},
    "admin": {"own", "sibling", "foreign"},
}
RECORD = {
    "team_lead": {"own"},
    "pmo_leader": {"own", "sibling"},
    "outsider": {"foreign"},
    "admin": {"own", "sibling", "foreign"},
}
DEFINE = {
    "pmo_leader": {"own", "sibling"},
    "outsider": {"foreign"},
    "admin": {"own", "sibling", "foreign"},
}


def request_for(action: Action, kpi: KPI, measurement: KPIMeasurement):
    key = kpi.project.key
    if action.name == "kpi-page":
        return reverse("metrics:kpi-detail", args=[kpi.pk]), None
    if action.name == "history":
        return reverse("metrics:kpi-history", args=[kpi.pk]), None
    if action.name == "csv":
        return reverse("metrics:kpi-csv", args=[kpi.pk]), None
    if action.name == "trend":
        return reverse("metrics:project-kpi-trend", args=[key]) + f"?kpi={kpi.pk}", None
    if action.name == "add-form":
        return reverse("metrics:measurement-add", args=[kpi.pk]), None
    if action.name == "add":
        return reverse("metrics:measurement-add", args=[kpi.pk]), {
            "period_start": "2026-03-01",
            "value": "2",
        }
    if action.name == "edit":
        return reverse("metrics:measurement-edit", args=[measurement.pk]), {
            "value": "1",
            "version": "1",
        }
    if action.name == "import":
        upload = SimpleUploadedFile(
            "values.csv", f"kpi,period_start,value\n{kpi.name},2026-04-01,2\n".encode()
        )
        return reverse("metrics:kpi-import", args=[key]), {"file": upload}
    if action.name == "define":
        return reverse("metrics:kpi-create", args=[key]), {
            "name": "Sneaky",
            "direction": "higher_is_better",
            "cadence": "monthly",
            "target": "5",
            "amber_threshold": "4",
            "red_threshold": "3",
            "active": "on",
        }
    if action.name == "redefine":
        return reverse("metrics:kpi-edit", args=[kpi.pk]), {
            "name": kpi.name,
            "direction": "higher_is_better",
            "cadence": "monthly",
            "target": "1",
            "amber_threshold": "1",
            "red_threshold": "1",
            "active": "on",
        }
    raise AssertionError(action)


def expected_status(role: str, action: Action, scope: str) -> int:
    if role == "anonymous":
        return 302  # to the login page
    if scope not in VISIBLE[role]:
        return 404
    allowed = {"read": VISIBLE, "record": RECORD, "define": DEFINE}[action.kind]
    if scope not in allowed.get(role, set()):
        return 403
    return 302 if action.method == "post" else 200


def state() -> tuple:
    return (
        KPI.objects.count(),
        sorted(KPI.objects.values_list("target", flat=True)),
        sorted(KPIMeasurement.objects.values_list("value", "version")),
        KPIMeasurementRevision.objects.count(),
        DecisionLog.objects.count(),
    )


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("action", ACTIONS, ids=[a.name for a in ACTIONS])
@pytest.mark.parametrize(
    "role", ["anonymous", "viewer", "executive", "team_lead", "pmo_leader", "outsider", "admin"]
)
def test_kpi_pages_permission_matrix(client, world, role, action, scope):
    # given: a KPI with a value on each project
    kpis = {
        name: KPIFactory(project=getattr(world, attribute), name="Satisfaction")
        for name, attribute in SCOPES.items()
    }
    measurements = {
        name: MeasurementFactory(kpi=kpi, period_start=JANUARY, value=Decimal(4))
        for name, kpi in kpis.items()
    }
    url, data = request_for(action, kpis[scope], measurements[scope])
    user = world.admin if role == "admin" else world.user(role)
    if user is not None:
        client.force_login(user)
    before = state()
    extra = {"HTTP_HX_REQUEST": "true"} if action.htmx else {}

    # when
    if action.method == "post":
        response = client.post(url, data, **extra)
    else:
        response = client.get(url, **extra)

    # then
    expected = expected_status(role, action, scope)
    assert response.status_code == expected, response.content[:300]
    if expected == 302 and role == "anonymous":
        assert response["Location"].startswith("/accounts/login/")
    if expected != 302 or role == "anonymous":
        assert state() == before  # a refusal (or a read) changes nothing
    else:
        assert state() != before


@pytest.mark.parametrize("role", ["team_lead", "viewer"])
def test_another_teams_kpi_does_not_appear_on_the_portfolio_or_its_project_page(
    client, world, role, sibling_kpi
):
    MeasurementFactory(kpi=sibling_kpi, value=Decimal("1.5"))
    client.force_login(world.user(role))

    project_page = client.get(reverse("portfolio:project-detail", args=["CARD"]))

    if role == "team_lead":
        assert project_page.status_code == 404
    else:
        assert project_page.status_code == 200
        assert "1.5 score" in project_page.content.decode()


def test_portfolio_kpis_are_for_roles_held_on_the_portfolio(client, world):
    kpi = KPIFactory(project=None, portfolio=world.own, name="Portfolio NPS", cadence="quarterly")
    url = reverse("metrics:portfolio-kpis", args=["payments"])

    client.force_login(world.team_lead)
    lead = client.get(url)
    lead_kpi = client.get(reverse("metrics:kpi-detail", args=[kpi.pk]))
    client.force_login(world.viewer)
    viewer = client.get(url)

    assert (lead.status_code, lead_kpi.status_code) == (404, 404)
    assert viewer.status_code == 200
