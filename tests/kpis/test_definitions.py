"""KPI definitions: PMO leaders define and change them, validated as a whole, version-checked,
logged with old and new values; seed 000's and 001's KPIs are expressible."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError

from governance.models import DecisionKind, DecisionLog
from metrics.kpis.services import KpiConflict, kpi_create, kpi_update
from metrics.models import KPI
from tests.kpis.factories import KPIFactory, MeasurementFactory

SATISFACTION = {
    "name": "Customer satisfaction",
    "unit": "score",
    "direction": "higher_is_better",
    "target": "4.5",
    "amber_threshold": "4",
    "red_threshold": "3.5",
    "min_value": "1",
    "max_value": "5",
    "cadence": "monthly",
    "description": "Mean of the monthly survey (1 to 5).",
}

# The KPIs of the two seed documents, as definitions a PMO leader enters.
SEED_KPIS = [
    # seed 001: cycle time, velocity, customer satisfaction
    {
        "name": "Cycle time",
        "unit": "days",
        "direction": "lower_is_better",
        "target": "5",
        "amber_threshold": "7",
        "red_threshold": "10",
        "min_value": "0",
        "cadence": "weekly",
    },
    {
        "name": "Velocity",
        "unit": "points",
        "direction": "higher_is_better",
        "target": "30",
        "amber_threshold": "24",
        "red_threshold": "18",
        "cadence": "per_sprint",
        "computed_from": "velocity",
    },
    SATISFACTION,
    # seed 000: forecast accuracy, release predictability, cycle time (computed p85)
    {
        "name": "Forecast accuracy",
        "unit": "%",
        "direction": "higher_is_better",
        "target": "90",
        "amber_threshold": "80",
        "red_threshold": "70",
        "min_value": "0",
        "max_value": "100",
        "cadence": "monthly",
    },
    {
        "name": "Release predictability",
        "unit": "%",
        "direction": "higher_is_better",
        "target": "85",
        "amber_threshold": "75",
        "red_threshold": "60",
        "min_value": "0",
        "max_value": "100",
        "cadence": "quarterly",
    },
    {
        "name": "Cycle time p85",
        "unit": "days",
        "direction": "lower_is_better",
        "target": "8",
        "amber_threshold": "10",
        "red_threshold": "14",
        "cadence": "monthly",
        "computed_from": "cycle_time_p85",
    },
]


def test_the_seed_kpis_are_expressible_as_definitions(world):
    created = [
        kpi_create(actor=world.pmo_leader, project=world.own_project, **definition)
        for definition in SEED_KPIS
    ]

    assert [kpi.name for kpi in created] == [d["name"] for d in SEED_KPIS]
    assert KPI.objects.filter(project=world.own_project).count() == 6
    assert {kpi.computed_from for kpi in created} == {"", "velocity", "cycle_time_p85"}


def test_a_pmo_leader_defines_a_project_kpi_and_the_log_says_so(world):
    kpi = kpi_create(
        actor=world.pmo_leader, project=world.own_project, owner=world.team_lead, **SATISFACTION
    )

    assert (kpi.portfolio, kpi.project, kpi.version) == (world.own, world.own_project, 1)
    assert (kpi.target, kpi.amber_threshold, kpi.red_threshold) == (
        Decimal("4.5"),
        Decimal(4),
        Decimal("3.5"),
    )
    entry = DecisionLog.objects.filter(kind=DecisionKind.KPI_CHANGE).get()
    assert entry.summary == "Defined PAY KPI 'Customer satisfaction'"
    assert entry.outputs["owner"] == "team_lead"
    assert entry.subject == "project:PAY"


def test_a_portfolio_kpi_belongs_to_the_portfolio_as_a_whole(world):
    kpi = kpi_create(
        actor=world.pmo_leader,
        portfolio=world.own,
        **{**SATISFACTION, "name": "Portfolio NPS", "cadence": "quarterly"},
    )

    assert (kpi.portfolio, kpi.project) == (world.own, None)
    assert DecisionLog.objects.filter(kind=DecisionKind.KPI_CHANGE).get().subject == (
        "portfolio:payments"
    )


@pytest.mark.parametrize("role", ["team_lead", "viewer", "executive", "outsider"])
def test_only_pmo_leaders_of_the_portfolio_define_kpis(world, role):
    with pytest.raises(PermissionDenied):
        kpi_create(actor=world.user(role), project=world.own_project, **SATISFACTION)

    assert not KPI.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "Give the KPI a name."),
        ({"amber_threshold": "5"}, "amber_threshold", "at or below the target"),
        ({"red_threshold": "4.2"}, "red_threshold", "at or below the amber threshold"),
        (
            {"direction": "lower_is_better"},
            "amber_threshold",
            "amber threshold must be at or above the target",
        ),
        ({"min_value": "6"}, "max_value", "at or above the lowest"),
        ({"target": "lots"}, "target", "'lots' is not a number"),
        ({"direction": "sideways"}, "direction", "Choose higher is better or lower is better."),
        ({"cadence": "daily"}, "cadence", "Choose weekly, per sprint, monthly or quarterly."),
        ({"computed_from": "velocity"}, "cadence", "measured per sprint"),
        (
            {"computed_from": "throughput", "cadence": "per_sprint"},
            "cadence",
            "weekly, monthly or quarterly",
        ),
        ({"computed_from": "happiness"}, "computed_from", "Choose one of the flow metrics"),
    ],
)
def test_a_definition_is_validated_as_a_whole_with_field_messages(world, changes, field, message):
    with pytest.raises(ValidationError) as refused:
        kpi_create(actor=world.pmo_leader, project=world.own_project, **{**SATISFACTION, **changes})

    assert any(message in text for text in refused.value.message_dict[field])
    assert not KPI.objects.exists()


def test_kpi_names_are_unique_in_a_project_whatever_their_case(world):
    kpi_create(actor=world.pmo_leader, project=world.own_project, **SATISFACTION)

    with pytest.raises(ValidationError) as refused:
        kpi_create(
            actor=world.pmo_leader,
            project=world.own_project,
            **{**SATISFACTION, "name": "customer  SATISFACTION"},
        )
    # another project may use the name
    kpi_create(actor=world.pmo_leader, project=world.sibling_project, **SATISFACTION)

    assert "already has a KPI named" in refused.value.message_dict["name"][0]


def test_a_per_sprint_portfolio_kpi_is_refused(world):
    with pytest.raises(ValidationError) as refused:
        kpi_create(
            actor=world.pmo_leader, portfolio=world.own, **{**SATISFACTION, "cadence": "per_sprint"}
        )

    assert "no sprints" in refused.value.message_dict["cadence"][0]


def test_the_database_refuses_thresholds_in_the_wrong_order_whoever_writes(world):
    with pytest.raises(IntegrityError):
        KPIFactory(project=world.own_project, amber_threshold=Decimal(3), red_threshold=Decimal(4))


def test_a_change_is_logged_with_old_and_new_values_and_bumps_the_version(world, satisfaction):
    kpi = kpi_update(actor=world.pmo_leader, kpi=satisfaction, version=1, target="4.8", unit="pts")

    assert (kpi.target, kpi.unit, kpi.version) == (Decimal("4.8"), "pts", 2)
    entry = DecisionLog.objects.filter(kind=DecisionKind.KPI_CHANGE).get()
    assert entry.summary == "Changed PAY KPI 'Customer satisfaction': target, unit"
    assert entry.outputs["old"] == {"target": "4.5000", "unit": "score"}
    assert entry.outputs["new"] == {"target": "4.8000", "unit": "pts"}


def test_a_change_made_on_a_stale_version_is_refused(world, satisfaction):
    kpi_update(actor=world.pmo_leader, kpi=satisfaction, version=1, target="4.8")

    with pytest.raises(KpiConflict, match="Someone changed this KPI"):
        kpi_update(actor=world.pmo_leader, kpi=satisfaction, version=1, target="4.6")

    satisfaction.refresh_from_db()
    assert satisfaction.target == Decimal("4.8")


def test_a_change_that_changes_nothing_writes_nothing(world, satisfaction):
    kpi = kpi_update(actor=world.pmo_leader, kpi=satisfaction, version=1, target="4.50")

    assert kpi.version == 1
    assert not DecisionLog.objects.filter(kind=DecisionKind.KPI_CHANGE).exists()


def test_a_kpi_with_measurements_keeps_its_cadence(world, satisfaction):
    MeasurementFactory(kpi=satisfaction)

    with pytest.raises(ValidationError) as refused:
        kpi_update(actor=world.pmo_leader, kpi=satisfaction, cadence="quarterly")

    assert "define a new KPI instead" in refused.value.message_dict["cadence"][0]


def test_team_leads_cannot_change_a_definition(world, satisfaction):
    with pytest.raises(PermissionDenied):
        kpi_update(actor=world.team_lead, kpi=satisfaction, target="1")

    satisfaction.refresh_from_db()
    assert satisfaction.target == Decimal("4.5")


def test_retiring_a_kpi_keeps_its_measurements(world, satisfaction):
    MeasurementFactory(kpi=satisfaction)

    kpi = kpi_update(actor=world.pmo_leader, kpi=satisfaction, active=False)

    assert kpi.active is False
    assert kpi.measurements.count() == 1
