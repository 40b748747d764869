"""Bulk upload of KPI values from CSV: the whole file or nothing, every bad row reported with
its line and reason, idempotent, audited once; the same through `manage.py import_kpis` and
the upload page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from governance.models import DecisionKind, DecisionLog
from metrics.kpis.importing import KpiImportInvalid, file_hash
from metrics.kpis.services import kpi_measurements_import
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from tests.kpis.factories import KPIFactory, MeasurementFactory

FIRST_MONDAY = dt.date(2024, 1, 1)


def hundred_rows(kpi_name: str = "Cycle time", bad_row: int | None = None) -> bytes:
    """A header and 100 weekly values (lines 2 to 101); `bad_row` (a line number) gets a
    value that is not a number."""
    lines = ["kpi,period_start,value,note"]
    for number in range(100):
        line = number + 2
        value = "soon" if line == bad_row else f"{4 + number % 5}.5"
        monday = FIRST_MONDAY + dt.timedelta(weeks=number)
        lines.append(f"{kpi_name},{monday.isoformat()},{value},week {number + 1}")
    return ("\n".join(lines) + "\n").encode()


def state() -> tuple:
    return (
        sorted(KPIMeasurement.objects.values_list("kpi_id", "period_start", "value", "version")),
        KPIMeasurementRevision.objects.count(),
        DecisionLog.objects.count(),
    )


def problems_of(data: bytes, world) -> list[str]:
    with pytest.raises(KpiImportInvalid) as invalid:
        kpi_measurements_import(actor=world.team_lead, project=world.own_project, data=data)
    return [str(problem) for problem in invalid.value.problems]


def test_one_bad_row_among_100_changes_nothing_and_names_its_line(
    world, cycle_time, recorded_events, django_capture_on_commit_callbacks
):
    before = state()

    with django_capture_on_commit_callbacks(execute=True):
        problems = problems_of(hundred_rows(bad_row=57), world)

    assert problems == ["line 57: the value 'soon' is not a number."]
    assert state() == before
    assert recorded_events == []


def test_a_good_file_is_applied_whole_with_one_log_entry_and_one_event(
    world, cycle_time, recorded_events, django_capture_on_commit_callbacks
):
    data = hundred_rows()

    with django_capture_on_commit_callbacks(execute=True):
        report = kpi_measurements_import(
            actor=world.team_lead, project=world.own_project, data=data, filename="weeks.csv"
        )

    assert (report.rows, report.created, report.corrected, report.unchanged) == (100, 100, 0, 0)
    assert KPIMeasurement.objects.filter(kpi=cycle_time, source="import").count() == 100
    assert KPIMeasurementRevision.objects.filter(change="imported").count() == 100
    (entry,) = DecisionLog.objects.filter(kind=DecisionKind.KPI_CHANGE)
    assert entry.summary == (
        "PAY KPI values imported from CSV: 100 row(s) for PAY: 100 added, 0 replaced, 0 unchanged."
    )
    assert entry.inputs == {"file": "weeks.csv", "sha256": file_hash(data), "rows": 100}
    latest = KPIMeasurement.objects.get(kpi=cycle_time, period_start=dt.date(2025, 11, 24))
    assert recorded_events == [
        {
            "sender": KPIMeasurement,
            "measurement_id": latest.pk,
            "kpi_id": cycle_time.pk,
            "project_id": world.own_project.pk,
            "portfolio_id": world.own.pk,
            "status": "amber",  # the last week's 8.5 days is above the amber threshold 7
        }
    ]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(world, cycle_time):
    kpi_measurements_import(actor=world.team_lead, project=world.own_project, data=hundred_rows())
    before = state()

    report = kpi_measurements_import(
        actor=world.team_lead, project=world.own_project, data=hundred_rows()
    )

    assert (report.created, report.corrected, report.unchanged) == (0, 0, 100)
    assert state() == before


def test_a_row_for_a_stored_period_replaces_the_value_and_keeps_the_old_one(world, cycle_time):
    stored = MeasurementFactory(kpi=cycle_time, period_start=FIRST_MONDAY, value=Decimal(9))
    data = b"kpi,period_start,value\ncycle TIME,2024-01-01,6\n"

    report = kpi_measurements_import(actor=world.team_lead, project=world.own_project, data=data)

    stored.refresh_from_db()
    assert report.corrected == 1
    assert (stored.value, stored.version, stored.source) == (Decimal(6), 2, "import")
    newest = stored.revisions.order_by("-version").first()
    assert (newest.change, newest.old_value, newest.new_value) == (
        "imported",
        Decimal(9),
        Decimal(6),
    )


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        (
            "kpi,period_start,value\nCycle time,2024-01-01,5\nCycle time,2024-01-01,6\n",
            ["line 3: Cycle time 2024-01-01 is already on line 2."],
        ),
        (
            "kpi,value\nCycle time,5\n",
            [
                "line 1: the header lacks period_start (it has kpi, value); the columns are "
                "kpi, period_start, value and optionally note."
            ],
        ),
        (
            "kpi,period_start,value\nVelocity,2024-01-01,5\n",
            [
                "line 2: no KPI named 'Velocity' in this project (its KPIs: Customer "
                "satisfaction, Cycle time)."
            ],
        ),
        (
            "kpi,period_start,value\nCycle time,2024-01-02,5\n",
            [
                "line 2: a weekly KPI's period starts on a Monday; 2024-01-02 is a Tuesday. "
                "Did you mean 2024-01-01?"
            ],
        ),
        (
            "kpi,period_start,value\nCycle time,02/01/2024,-1\n",
            [
                "line 2: period_start '02/01/2024' is not a date as YYYY-MM-DD; -1 days is "
                "below the lowest allowed value 0 days."
            ],
        ),
        (
            "kpi,period_start,value\nCustomer satisfaction,2999-01-01,9\n",
            [
                "line 2: 2999-01-01 is in the future (today is {today}); enter values for "
                "periods that have started; 9 score is outside the allowed range 1 score to "
                "5 score."
            ],
        ),
        ("kpi,period_start,value\n", ["The file has a header but no rows."]),
        ("", ["The file is empty."]),
    ],
    ids=[
        "duplicate",
        "missing-column",
        "unknown-kpi",
        "cadence",
        "bad-date-and-range",
        "future-and-range",
        "no-rows",
        "empty",
    ],
)
def test_every_bad_row_is_reported_with_its_line_and_reason(
    world, cycle_time, satisfaction, csv, expected
):
    today = dt.datetime.now(tz=dt.UTC).date().isoformat()

    problems = problems_of(csv.encode(), world)

    assert problems == [text.format(today=today) for text in expected]
    assert not KPIMeasurement.objects.exists()


def test_line_numbers_count_physical_lines_of_quoted_notes(world, cycle_time):
    data = (
        b'kpi,period_start,value,note\nCycle time,2024-01-01,5,"two\nlines"\n'
        b"Cycle time,2024-01-08,x,\n"
    )

    assert problems_of(data, world) == ["line 4: the value 'x' is not a number."]


def test_computed_and_retired_kpis_take_no_imported_values(world):
    KPIFactory(
        project=world.own_project,
        name="Velocity",
        computed_from=KPI.FlowMetric.VELOCITY,
        cadence=KPI.Cadence.PER_SPRINT,
        min_value=None,
        max_value=None,
    )
    KPIFactory(project=world.own_project, name="Old", active=False)
    data = b"kpi,period_start,value\nVelocity,2024-01-01,30\nOld,2024-01-01,3\n"

    problems = problems_of(data, world)

    assert problems[0].startswith("line 2: Velocity is computed from the work-item history")
    assert problems[1].startswith("line 3: Old is retired")


def test_a_file_that_is_not_utf8_is_refused_as_a_whole(world, cycle_time):
    data = "kpi,period_start,value,note\nCycle time,2024-01-01,5,caf\u00e9\n".encode("latin-1")

    assert problems_of(data, world) == [
        "The file is not UTF-8 text (byte 0xe9 at position 55); save it as CSV UTF-8."
    ]


def test_a_utf8_file_with_a_byte_order_mark_and_any_header_case_is_read(world, cycle_time):
    data = "\ufeffKPI,Period_Start,VALUE\nCycle time,2024-01-01,5\n".encode()

    report = kpi_measurements_import(actor=world.team_lead, project=world.own_project, data=data)

    assert report.created == 1


@pytest.mark.parametrize("role", ["viewer", "executive", "outsider"])
def test_only_those_who_update_the_projects_kpis_may_import(world, cycle_time, role):
    with pytest.raises(PermissionDenied):
        kpi_measurements_import(
            actor=world.user(role), project=world.own_project, data=hundred_rows()
        )

    assert not KPIMeasurement.objects.exists()


# --- the command -------------------------------------------------------------------------------


def test_the_command_imports_a_file_as_the_named_user(world, cycle_time, tmp_path, capsys):
    path = tmp_path / "weeks.csv"
    path.write_bytes(hundred_rows())

    call_command("import_kpis", str(path), "--project", "pay", "--as", "team_lead")

    assert "Imported weeks.csv: 100 row(s) for PAY: 100 added" in capsys.readouterr().out
    assert KPIMeasurement.objects.filter(entered_by=world.team_lead).count() == 100


def test_the_command_fails_with_every_bad_line_and_imports_nothing(world, cycle_time, tmp_path):
    path = tmp_path / "weeks.csv"
    path.write_bytes(hundred_rows(bad_row=57))

    with pytest.raises(CommandError) as failed:
        call_command("import_kpis", str(path), "--project", "PAY", "--as", "team_lead")

    assert str(failed.value) == (
        "Nothing was imported: 1 problem(s).\nweeks.csv: line 57: the value 'soon' is not a number."
    )
    assert not KPIMeasurement.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--project", "NOPE", "--as", "team_lead"], "No project 'NOPE'."),
        (["--project", "PAY", "--as", "ghost"], "No user 'ghost'."),
        (["--project", "PAY", "--as", "viewer"], "viewer may not change PAY's KPIs."),
    ],
)
def test_the_command_explains_what_it_cannot_do(world, cycle_time, tmp_path, arguments, message):
    path = tmp_path / "weeks.csv"
    path.write_bytes(hundred_rows())

    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("import_kpis", str(path), *arguments)


def test_the_command_reports_a_missing_file(world, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_kpis", str(tmp_path / "none.csv"), "--project", "PAY")


# --- the upload page ---------------------------------------------------------------------------


def test_the_upload_page_lists_every_bad_line_and_imports_nothing(client, world, cycle_time):
    client.force_login(world.team_lead)
    upload = SimpleUploadedFile("weeks.csv", hundred_rows(bad_row=57), "text/csv")

    response = client.post(reverse("metrics:kpi-import", args=["PAY"]), {"file": upload})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was imported: 1 problem." in html
    assert "line 57: the value &#x27;soon&#x27; is not a number." in html
    assert not KPIMeasurement.objects.exists()


def test_the_upload_page_imports_a_good_file_and_goes_back_to_the_kpis(client, world, cycle_time):
    client.force_login(world.pmo_leader)
    upload = SimpleUploadedFile("weeks.csv", hundred_rows(), "text/csv")

    response = client.post(reverse("metrics:kpi-import", args=["PAY"]), {"file": upload})

    assert response.status_code == 302
    assert response["Location"] == "/projects/PAY/#kpis"
    assert KPIMeasurement.objects.count() == 100


def test_the_upload_page_asks_for_a_file(client, world, cycle_time):
    client.force_login(world.team_lead)

    response = client.post(reverse("metrics:kpi-import", args=["PAY"]), {})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
