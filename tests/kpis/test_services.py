"""Writes of KPI measurements: recording and correcting values, every validation rule, the
conflict path, history and audit in the same transaction, and the after-commit event."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from governance.models import DecisionKind, DecisionLog
from metrics.kpis import services
from metrics.kpis.services import (
    MeasurementConflict,
    kpi_measurement_correct,
    kpi_measurement_record,
)
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from tests.factories import SprintFactory
from tests.kpis.conftest import FEBRUARY, JANUARY, MONDAY
from tests.kpis.factories import KPIFactory, MeasurementFactory


def kpi_log(kind: str = DecisionKind.KPI_CHANGE) -> list[DecisionLog]:
    return list(DecisionLog.objects.filter(kind=kind).order_by("id"))


def future_month() -> dt.date:
    today = dt.datetime.now(tz=dt.UTC).date()
    return (today.replace(day=1) + dt.timedelta(days=40)).replace(day=1)


# --- recording -----------------------------------------------------------------------------


def test_team_lead_records_a_value_with_its_revision_audit_entry_and_event(
    world, satisfaction, recorded_events, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        measurement = kpi_measurement_record(
            actor=world.team_lead,
            kpi=satisfaction,
            period_start=JANUARY,
            value="4.2",
            note="January survey, 212 answers",
        )

    # then: the value, who and when
    measurement.refresh_from_db()
    assert (measurement.value, measurement.version, measurement.source) == (
        Decimal("4.2"),
        1,
        "manual",
    )
    assert measurement.entered_by == world.team_lead
    assert measurement.note == "January survey, 212 answers"
    # its history starts with the recording
    (revision,) = measurement.revisions.all()
    assert (revision.change, revision.old_value, revision.new_value, revision.version) == (
        "recorded",
        None,
        Decimal("4.2"),
        1,
    )
    assert revision.changed_by == world.team_lead
    # the decision log says who recorded what, on the project's subject
    (entry,) = kpi_log()
    assert entry.actor == world.team_lead
    assert entry.subject == "project:PAY"
    assert entry.summary == "PAY KPI 'Customer satisfaction' 2026-01-01: recorded 4.2 score (green)"
    assert entry.rationale == "January survey, 212 answers"
    assert entry.outputs["measurement_id"] == measurement.pk
    # and the agents' hook heard about it, once, after the commit
    assert recorded_events == [
        {
            "sender": KPIMeasurement,
            "measurement_id": measurement.pk,
            "kpi_id": satisfaction.pk,
            "project_id": world.own_project.pk,
            "portfolio_id": world.own.pk,
            "status": "green",
        }
    ]


def test_the_event_waits_for_the_commit_and_is_never_sent_for_a_rollback(
    world, satisfaction, recorded_events, django_capture_on_commit_callbacks
):
    def record_then_fail() -> None:
        with transaction.atomic():
            kpi_measurement_record(
                actor=world.team_lead, kpi=satisfaction, period_start=JANUARY, value="3"
            )
            assert recorded_events == []  # not before the commit
            raise RuntimeError("the caller's transaction fails")

    # when: recorded inside a transaction that is rolled back
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        record_then_fail()

    # then: nothing stored, nothing sent
    assert callbacks == []
    assert recorded_events == []
    assert not KPIMeasurement.objects.exists()


def test_the_event_carries_the_status_of_the_recorded_value(
    world, satisfaction, recorded_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        kpi_measurement_record(
            actor=world.team_lead, kpi=satisfaction, period_start=JANUARY, value="3.2"
        )
        kpi_measurement_record(
            actor=world.team_lead, kpi=satisfaction, period_start=FEBRUARY, value="3.8"
        )

    assert [event["status"] for event in recorded_events] == ["red", "amber"]


def test_nothing_is_written_when_the_audit_entry_fails(world, satisfaction, monkeypatch):
    def failing_record(**kwargs):
        raise RuntimeError("decision log unavailable")

    monkeypatch.setattr(services, "decision_record", failing_record)

    with pytest.raises(RuntimeError):
        kpi_measurement_record(
            actor=world.team_lead, kpi=satisfaction, period_start=JANUARY, value="4"
        )

    assert not KPIMeasurement.objects.exists()
    assert not KPIMeasurementRevision.objects.exists()


# --- validation: every rule, with a field message, nothing written ------------------------


@pytest.mark.parametrize(
    ("value", "period", "note", "field", "message"),
    [
        ("abc", JANUARY, "", "value", "The value 'abc' is not a number."),
        ("", JANUARY, "", "value", "The value is empty."),
        ("NaN", JANUARY, "", "value", "The value is not a finite number."),
        ("Infinity", JANUARY, "", "value", "The value is not a finite number."),
        ("4.12345", JANUARY, "", "value", "The value has more than 4 decimal places."),
        ("1e12", JANUARY, "", "value", "The value is too large"),
        ("5.5", JANUARY, "", "value", "5.5 score is outside the allowed range 1 score to 5 score."),
        ("0.9", JANUARY, "", "value", "0.9 score is outside the allowed range"),
        ("4", dt.date(2026, 1, 15), "", "period_start", "first day of a month"),
        ("4", "15/01/2026", "", "period_start", "Enter a date as YYYY-MM-DD."),
        ("4", None, "", "period_start", "is in the future"),
        ("4", JANUARY, "x" * 2_001, "note", "Keep the note under 2,000 characters"),
    ],
    ids=[
        "not-a-number",
        "empty",
        "nan",
        "infinity",
        "too-precise",
        "too-large",
        "above-range",
        "below-range",
        "not-the-cadence",
        "not-a-date",
        "future",
        "note-too-long",
    ],
)
def test_a_bad_value_period_or_note_is_refused_with_a_field_message(
    world, satisfaction, value, period, note, field, message
):
    period = future_month() if period is None else period
    entries = DecisionLog.objects.count()

    with pytest.raises(ValidationError) as refused:
        kpi_measurement_record(
            actor=world.team_lead, kpi=satisfaction, period_start=period, value=value, note=note
        )

    assert set(refused.value.message_dict) == {field}
    assert any(message in text for text in refused.value.message_dict[field])
    assert not KPIMeasurement.objects.exists()
    assert DecisionLog.objects.count() == entries


def test_every_problem_is_reported_at_once(world, satisfaction):
    with pytest.raises(ValidationError) as refused:
        kpi_measurement_record(
            actor=world.team_lead, kpi=satisfaction, period_start=dt.date(2026, 1, 2), value="x"
        )

    assert set(refused.value.message_dict) == {"value", "period_start"}


def test_a_value_on_the_edge_of_the_allowed_range_is_accepted(world, satisfaction):
    low = kpi_measurement_record(
        actor=world.team_lead, kpi=satisfaction, period_start=JANUARY, value="1"
    )
    high = kpi_measurement_record(
        actor=world.team_lead, kpi=satisfaction, period_start=FEBRUARY, value="5.0000"
    )

    assert (low.value, high.value) == (Decimal(1), Decimal(5))


def test_a_kpi_without_a_range_takes_any_value(world):
    kpi = KPIFactory(project=world.own_project, min_value=None, max_value=None)

    measurement = kpi_measurement_record(
        actor=world.team_lead, kpi=kpi, period_start=JANUARY, value="-1234.5"
    )

    assert measurement.value == Decimal("-1234.5")


def test_a_second_value_for_the_same_period_is_refused_and_names_the_first(world, satisfaction):
    kpi_measurement_record(
        actor=world.pmo_leader, kpi=satisfaction, period_start=JANUARY, value="4"
    )

    with pytest.raises(ValidationError) as refused:
        kpi_measurement_record(
            actor=world.team_lead, kpi=satisfaction, period_start=JANUARY, value="3"
        )

    (message,) = refused.value.message_dict["period_start"]
    assert message == (
        "Jan 2026 already has a value (4 score, entered by pmo_leader); correct that value "
        "instead of adding another."
    )
    assert KPIMeasurement.objects.get().value == Decimal(4)


def test_a_weekly_kpi_takes_mondays(world, cycle_time):
    kpi_measurement_record(actor=world.team_lead, kpi=cycle_time, period_start=MONDAY, value="6")

    with pytest.raises(ValidationError) as refused:
        kpi_measurement_record(
            actor=world.team_lead,
            kpi=cycle_time,
            period_start=MONDAY + dt.timedelta(days=2),
            value="6",
        )

    assert "starts on a Monday" in refused.value.message_dict["period_start"][0]


def test_a_per_sprint_kpi_takes_the_local_start_date_of_a_project_sprint(world):
    project = world.own_project
    project.time_zone = "America/New_York"
    project.save()
    # 02:00 UTC on 6 January is still 5 January in New York
    SprintFactory(project=project, start=dt.datetime(2026, 1, 6, 2, tzinfo=dt.UTC))
    kpi = KPIFactory(
        project=project, cadence=KPI.Cadence.PER_SPRINT, min_value=None, max_value=None
    )

    kpi_measurement_record(actor=world.team_lead, kpi=kpi, period_start="2026-01-05", value="30")
    with pytest.raises(ValidationError) as refused:
        kpi_measurement_record(actor=world.team_lead, kpi=kpi, period_start="2026-01-06", value="3")

    assert (
        "start date of one of the project's sprints (latest: 2026-01-05)"
        in (refused.value.message_dict["period_start"][0])
    )


def test_a_computed_kpi_cannot_be_typed_in(world):
    kpi = KPIFactory(
        project=world.own_project,
        computed_from=KPI.FlowMetric.THROUGHPUT,
        cadence=KPI.Cadence.WEEKLY,
        min_value=None,
        max_value=None,
    )

    with pytest.raises(ValidationError) as refused:
        kpi_measurement_record(actor=world.team_lead, kpi=kpi, period_start=MONDAY, value="3")

    assert "updates itself from the work-item history" in refused.value.messages[0]
    assert not KPIMeasurement.objects.exists()


def test_a_retired_kpi_takes_no_new_value_nor_correction(world, satisfaction):
    measurement = MeasurementFactory(kpi=satisfaction)
    satisfaction.active = False
    satisfaction.save()

    with pytest.raises(ValidationError, match="retired"):
        kpi_measurement_record(
            actor=world.team_lead, kpi=satisfaction, period_start=FEBRUARY, value="4"
        )
    with pytest.raises(ValidationError, match="retired"):
        kpi_measurement_correct(
            actor=world.team_lead, measurement=measurement, value="4", version=1
        )


# --- correcting ----------------------------------------------------------------------------


def test_a_correction_keeps_the_old_value_in_the_history_and_logs_old_and_new(
    world, satisfaction, recorded_events, django_capture_on_commit_callbacks
):
    # given
    measurement = kpi_measurement_record(
        actor=world.team_lead, kpi=satisfaction, period_start=JANUARY, value="4.2", note="first"
    )

    # when
    with django_capture_on_commit_callbacks(execute=True):
        corrected = kpi_measurement_correct(
            actor=world.pmo_leader,
            measurement=measurement,
            value="3.4",
            note="late survey answers",
            version=1,
        )

    # then: the current value changed, with its version
    assert (corrected.value, corrected.version, corrected.entered_by) == (
        Decimal("3.4"),
        2,
        world.pmo_leader,
    )
    # the history holds both values, newest first, with who, old -> new and the notes
    newest, first = measurement.revisions.order_by("-version")
    assert (newest.change, newest.old_value, newest.new_value) == (
        "corrected",
        Decimal("4.2"),
        Decimal("3.4"),
    )
    assert (newest.old_note, newest.note, newest.changed_by) == (
        "first",
        "late survey answers",
        world.pmo_leader,
    )
    assert (first.change, first.new_value) == ("recorded", Decimal("4.2"))
    (entry,) = kpi_log(DecisionKind.KPI_CORRECTION)
    assert entry.summary == (
        "PAY KPI 'Customer satisfaction' 2026-01-01: corrected 4.2 score -> 3.4 score (red)"
    )
    assert (entry.outputs["old_value"], entry.outputs["value"]) == ("4.2000", "3.4000")
    assert [event["status"] for event in recorded_events] == ["red"]


def test_the_second_of_two_editors_gets_a_conflict_naming_the_current_value_and_its_author(
    world, satisfaction
):
    # given: two people opened the value at version 1
    measurement = kpi_measurement_record(
        actor=world.team_lead, kpi=satisfaction, period_start=JANUARY, value="4.2"
    )
    kpi_measurement_correct(actor=world.pmo_leader, measurement=measurement, value="3.9", version=1)
    entries = DecisionLog.objects.count()

    # when: the second saves with the version they read
    with pytest.raises(MeasurementConflict) as conflict:
        kpi_measurement_correct(
            actor=world.team_lead, measurement=measurement, value="4.4", version=1
        )

    # then: refused with the current value and who changed it; nothing overwritten or lost
    assert conflict.value.current.value == Decimal("3.9")
    assert conflict.value.changed_by == "pmo_leader"
    message = str(conflict.value)
    assert message.startswith("pmo_leader changed this value to 3.9 score at ")
    assert "(version 2); your value 4.4 score was not saved." in message
    measurement.refresh_from_db()
    assert (measurement.value, measurement.version) == (Decimal("3.9"), 2)
    assert measurement.revisions.count() == 2
    assert DecisionLog.objects.count() == entries


def test_a_correction_that_changes_nothing_writes_nothing(world, satisfaction):
    measurement = kpi_measurement_record(
        actor=world.team_lead, kpi=satisfaction, period_start=JANUARY, value="4.2", note="n"
    )
    entries = DecisionLog.objects.count()

    same = kpi_measurement_correct(
        actor=world.team_lead, measurement=measurement, value="4.20", note="n", version=1
    )

    assert same.version == 1
    assert measurement.revisions.count() == 1
    assert DecisionLog.objects.count() == entries


def test_a_correction_is_validated_like_a_new_value(world, satisfaction):
    measurement = MeasurementFactory(kpi=satisfaction)

    with pytest.raises(ValidationError) as refused:
        kpi_measurement_correct(
            actor=world.team_lead, measurement=measurement, value="9", version=1
        )

    assert "outside the allowed range" in refused.value.message_dict["value"][0]
    measurement.refresh_from_db()
    assert measurement.version == 1


# --- who may write -------------------------------------------------------------------------

WRITERS = {
    # role: which projects' KPIs it may record (own = PAY, sibling = CARD, foreign = SHIP)
    "team_lead": {"own"},
    "pmo_leader": {"own", "sibling"},
    "admin": {"own", "sibling", "foreign"},
    "viewer": set(),
    "executive": set(),
    "outsider": {"foreign"},  # PMO leader of the foreign portfolio only
}


@pytest.mark.parametrize("role", WRITERS)
@pytest.mark.parametrize("scope", ["own", "sibling", "foreign"])
def test_only_team_leads_of_the_project_and_pmo_leaders_of_its_portfolio_record_values(
    world, satisfaction, sibling_kpi, foreign_kpi, role, scope
):
    kpi = {"own": satisfaction, "sibling": sibling_kpi, "foreign": foreign_kpi}[scope]
    actor = world.admin if role == "admin" else world.user(role)

    if scope in WRITERS[role]:
        kpi_measurement_record(actor=actor, kpi=kpi, period_start=JANUARY, value="4")
        assert KPIMeasurement.objects.filter(kpi=kpi).count() == 1
    else:
        with pytest.raises(PermissionDenied):
            kpi_measurement_record(actor=actor, kpi=kpi, period_start=JANUARY, value="4")
        assert not KPIMeasurement.objects.exists()
        assert not DecisionLog.objects.filter(kind=DecisionKind.KPI_CHANGE).exists()


@pytest.mark.parametrize("role", ["viewer", "executive", "outsider"])
def test_readers_and_strangers_cannot_correct_a_value(world, satisfaction, role):
    measurement = MeasurementFactory(kpi=satisfaction, value=Decimal(4))

    with pytest.raises(PermissionDenied):
        kpi_measurement_correct(
            actor=world.user(role), measurement=measurement, value="1", version=1
        )

    measurement.refresh_from_db()
    assert (measurement.value, measurement.version) == (Decimal(4), 1)
