"""The history importer: `portfolio.services.history_import` and `manage.py import_history`.

tests/fixtures/agile-real-sgg holds the SGG rows of shared/data/agile-real (Simpler
Grants.gov, US-government work, CC0): 1 project, 5 sprints, 97 items, with the oddities the
importer must handle (statuses outside the default mapping, 2 items without a created time,
3 done items without a resolved time). The XD and NEXUS rows of that folder are research-only
and are read from ../shared, never copied here.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import DecisionKind, DecisionLog
from portfolio.importing.report import HistoryImportInvalid, ImportReport
from portfolio.models import Portfolio, Project, Sprint, WorkItem, WorkItemEvent
from portfolio.services import history_import
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
REPO = Path(__file__).resolve().parents[2]
SGG = REPO / "tests" / "fixtures" / "agile-real-sgg"
SHARED = (REPO / ".." / "shared" / "data" / "agile-real").resolve()
SGG_AS_OF = dt.datetime(2023, 8, 29, 22, 47, 42, tzinfo=UTC)
SPRINT_5_START = dt.datetime(2023, 8, 23, tzinfo=UTC)


@pytest.fixture
def admin():
    return UserFactory(username="importer", is_superuser=True, is_staff=True)


def _import(actor, source, portfolio: str = "Grants") -> ImportReport:
    return history_import(actor=actor, directory_or_files=source, portfolio_name=portfolio)


def _copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "sgg"
    shutil.copytree(SGG, target)
    return target


def _rewrite(path: Path, change) -> None:
    """Apply `change(rows)` to a CSV file's rows (header included) and write it back."""
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    change(rows)
    with path.open("w", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)


def _write(path: Path, text: str) -> None:
    path.write_text(text.lstrip())


def _row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Portfolio, Project, Sprint, WorkItem, WorkItemEvent)
    }


def _checksum() -> str:
    """Every imported value, ids included, so 'unchanged' means no row was rewritten."""
    parts = [
        list(Project.objects.order_by("pk").values_list()),
        list(Sprint.objects.order_by("pk").values_list()),
        list(WorkItem.objects.order_by("pk").values_list()),
        list(WorkItemEvent.objects.order_by("pk").values_list()),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _assert_columns_follow_events() -> None:
    """METRICS.md computes from events: each item's columns must say what its events say."""
    events: dict[int, list[WorkItemEvent]] = {}
    for event in WorkItemEvent.objects.order_by("work_item_id", "at", "id"):
        events.setdefault(event.work_item_id, []).append(event)
    for item in WorkItem.objects.all():
        history = events[item.pk]
        statuses = [event for event in history if event.kind == "status"]
        sprints = [event for event in history if event.kind == "sprint"]
        assert statuses[0].at == item.created_at, item.key
        assert statuses[0].from_status == "", item.key
        assert (statuses[-1].to_status, statuses[-1].to_category) == (item.status, item.category)
        entered = [e.at for e in statuses if e.to_category in ("in_progress", "done")]
        assert item.started_at == (entered[0] if entered else None), item.key
        done = [e.at for e in statuses if e.to_category == "done"]
        assert item.done_at == (done[-1] if item.category == "done" else None), item.key
        assert item.sprint_id == (sprints[-1].to_sprint_id if sprints else None), item.key


# --- the SGG fixture -------------------------------------------------------------------------


def test_sgg_fixture_imports_its_projects_sprints_and_items(admin):
    report = _import(admin, SGG)

    assert report.ok
    assert report.portfolio_created
    assert str(report.projects) == "1 created, 0 updated, 0 unchanged"
    assert str(report.sprints) == "5 created, 0 updated, 0 unchanged"
    assert str(report.items) == "97 created, 0 updated, 0 unchanged"
    project = Project.objects.get(key="SGG")
    assert project.portfolio.name == "Grants"
    assert project.portfolio.slug == "grants"
    assert project.name == "Simpler Grants.gov (HHS)"
    assert project.data_as_of == SGG_AS_OF  # the file's snapshot instant
    assert Sprint.objects.filter(project=project).count() == 5
    assert WorkItem.objects.filter(project=project).count() == 97
    sprint_5 = Sprint.objects.get(project=project, external_id="SGG-S5")
    assert (sprint_5.name, sprint_5.state, sprint_5.completed_at) == ("Sprint 5", "active", None)
    assert sprint_5.start == SPRINT_5_START
    assert WorkItem.objects.filter(sprint=sprint_5).count() == 33
    joined = WorkItemEvent.objects.filter(kind="sprint", to_sprint=sprint_5)
    assert joined.count() == 33
    assert joined.filter(at=SPRINT_5_START).count() == 27  # 6 were created later
    _assert_columns_follow_events()


def test_sgg_statuses_outside_the_mapping_are_reported_and_mapped_to_todo(admin):
    report = _import(admin, SGG)

    assert sorted(report.unknown_statuses["SGG"]) == ["Ready", "Refinement", "Sprint Backlog"]
    project = Project.objects.get(key="SGG")
    for status in ("Ready", "Refinement", "Sprint Backlog"):
        assert project.status_categories[status] == "todo"
    assert project.status_categories["In Review"] == "in_progress"  # defaults kept
    assert WorkItem.objects.get(key="SGG-388").category == "todo"  # Sprint Backlog


def test_sgg_gaps_are_filled_from_the_snapshot_and_warned_about(admin):
    report = _import(admin, SGG)

    warned = {(warning.file, warning.line) for warning in report.warnings}
    lines = {row["key"]: n for n, row in enumerate(csv.DictReader((SGG / "issues.csv").open()), 2)}
    # 2 pull requests without a created time; 3 done items without a resolved time.
    assert {("issues.csv", lines[key]) for key in ("SGG-138", "SGG-405")} <= warned
    assert {("issues.csv", lines[key]) for key in ("SGG-107", "SGG-286")} <= warned
    assert len(report.warnings) == 5
    no_created = WorkItem.objects.get(key="SGG-138")
    assert no_created.created_at == SGG_AS_OF
    never_closed = WorkItem.objects.get(key="SGG-107")
    assert (never_closed.category, never_closed.done_at) == ("done", SGG_AS_OF)
    assert never_closed.started_at == SGG_AS_OF


def test_sgg_items_get_the_minimal_history_their_row_proves(admin):
    _import(admin, SGG)

    sprint_5 = Sprint.objects.get(external_id="SGG-S5")
    in_progress = WorkItem.objects.get(key="SGG-112")  # created 2023-06-30, In Progress in S5
    assert in_progress.started_at == SPRINT_5_START
    assert in_progress.story_points == Decimal(2)
    assert [
        (e.kind, e.at, e.from_status, e.to_status, e.to_sprint_id)
        for e in in_progress.events.order_by("at", "id")
    ] == [
        ("status", dt.datetime(2023, 6, 30, 17, 6, 49, tzinfo=UTC), "", "To Do", None),
        ("sprint", SPRINT_5_START, "", "", sprint_5.pk),
        ("status", SPRINT_5_START, "To Do", "In Progress", None),
    ]
    done = WorkItem.objects.get(key="SGG-397")  # resolved 2023-08-25T18:20:12Z
    resolved = dt.datetime(2023, 8, 25, 18, 20, 12, tzinfo=UTC)
    assert (done.category, done.done_at, done.started_at) == ("done", resolved, resolved)
    planned = WorkItem.objects.get(key="SGG-322")  # Backlog, in SGG-S6 (future)
    assert planned.sprint.external_id == "SGG-S6"
    assert planned.events.get(kind="sprint").at == SGG_AS_OF  # in S6 at the snapshot
    assert not WorkItemEvent.objects.filter(at__gt=SGG_AS_OF).exists()
    backlog = WorkItem.objects.get(key="SGG-5")  # no sprint, Backlog
    assert list(backlog.events.values_list("kind", "to_status")) == [("status", "Backlog")]
    assert not WorkItemEvent.objects.filter(kind="points").exists()


def test_import_writes_one_decision_record_with_the_counts(admin):
    before = DecisionLog.objects.count()

    _import(admin, SGG)

    entry = DecisionLog.objects.filter(kind=DecisionKind.HISTORY_IMPORT).get()
    assert DecisionLog.objects.count() == before + 1
    assert entry.actor == admin
    assert entry.portfolio == Portfolio.objects.get(slug="grants")
    assert entry.outputs["counts"]["work_items"]["created"] == 97
    assert entry.inputs["files"]["issues.csv"]["rows"] == 97
    assert len(entry.inputs["files"]["issues.csv"]["sha256"]) == 64


def test_second_import_of_the_same_files_changes_nothing(admin):
    _import(admin, SGG)
    counts, checksum = _row_counts(), _checksum()

    report = _import(admin, SGG)

    assert (_row_counts(), _checksum()) == (counts, checksum)
    assert str(report.projects) == "0 created, 0 updated, 1 unchanged"
    assert str(report.sprints) == "0 created, 0 updated, 5 unchanged"
    assert str(report.items) == "0 created, 0 updated, 97 unchanged"
    assert report.events.created == report.events.deleted == 0
    assert report.events.unchanged == counts["WorkItemEvent"]
    assert not report.portfolio_created
    assert DecisionLog.objects.filter(kind=DecisionKind.HISTORY_IMPORT).count() == 2


def test_reimport_updates_changed_rows_in_place(admin, tmp_path):
    _import(admin, SGG)
    source = _copy_fixture(tmp_path)
    item = WorkItem.objects.get(key="SGG-5")

    def close_sgg_5(rows: list[list[str]]) -> None:
        header = rows[0]
        for row in rows[1:]:
            if row[header.index("key")] == "SGG-5":
                row[header.index("status")] = "Done"
                row[header.index("resolved")] = "2023-08-28T10:00:00Z"
                row[header.index("story_points")] = "3"

    _rewrite(source / "issues.csv", close_sgg_5)

    report = _import(admin, source)

    assert str(report.items) == "0 created, 1 updated, 96 unchanged"
    changed = WorkItem.objects.get(key="SGG-5")
    assert changed.pk == item.pk
    assert changed.version == item.version + 1
    assert (changed.category, changed.story_points) == ("done", Decimal(3))
    assert changed.done_at == dt.datetime(2023, 8, 28, 10, tzinfo=UTC)
    assert WorkItem.objects.count() == 97
    _assert_columns_follow_events()


def test_portfolio_is_found_by_name_whatever_the_case(admin):
    _import(admin, SGG, portfolio="Grants")

    report = _import(admin, SGG, portfolio="GRANTS")

    assert not report.portfolio_created
    assert Portfolio.objects.count() == 1


# --- data_as_of --------------------------------------------------------------------------------


def test_empty_data_as_of_becomes_the_end_of_the_history(admin, tmp_path):
    _write(tmp_path / "projects.csv", "project,name,data_as_of\nOLD,Old project,\n")
    _write(
        tmp_path / "issues.csv",
        """
key,project,created,resolved,status
OLD-1,OLD,2020-01-01T09:00:00Z,2020-03-05T10:00:00+01:00,Done
OLD-2,OLD,2020-02-01T09:00:00Z,,To Do
OLD-3,OLD,2020-02-03T09:00:00Z,,In Progress
""",
    )

    _import(admin, tmp_path)

    # The latest instant the rows record: OLD-1's resolved time (its done event), in UTC.
    assert Project.objects.get(key="OLD").data_as_of == dt.datetime(2020, 3, 5, 9, tzinfo=UTC)


def test_empty_data_as_of_counts_sprint_ends_and_a_second_import_changes_nothing(admin, tiny):
    _rewrite(tiny / "projects.csv", _set_cell("project", "TINY", "data_as_of", ""))

    _import(admin, tiny)

    project = Project.objects.get(key="TINY")
    assert project.data_as_of == dt.datetime(2024, 1, 29, 8, tzinfo=UTC)  # end of sprint T-2
    assert Sprint.objects.get(external_id="T-2").state == "closed"  # historical: all closed
    counts, checksum = _row_counts(), _checksum()

    again = _import(admin, tiny)

    assert (_row_counts(), _checksum()) == (counts, checksum)
    assert str(again.projects) == "0 created, 0 updated, 1 unchanged"


def test_a_new_data_as_of_in_the_file_updates_the_project(admin, tiny):
    _import(admin, tiny)
    before = Project.objects.get(key="TINY")
    _rewrite(tiny / "projects.csv", _set_cell("project", "TINY", "data_as_of", ""))

    report = _import(admin, tiny)

    assert str(report.projects) == "0 created, 1 updated, 0 unchanged"
    after = Project.objects.get(key="TINY")
    assert before.data_as_of == dt.datetime(2024, 1, 25, tzinfo=UTC)
    assert after.data_as_of == dt.datetime(2024, 1, 29, 8, tzinfo=UTC)
    assert after.version == before.version + 1


# --- bad input -------------------------------------------------------------------------------


def _set_cell(key_column: str, key: str, column: str, value: str):
    def change(rows: list[list[str]]) -> None:
        header = rows[0]
        for row in rows[1:]:
            if row[header.index(key_column)] == key:
                row[header.index(column)] = value

    return change


def _line_of(path: Path, column: str, key: str) -> int:
    with path.open(newline="") as file:
        for line, row in enumerate(csv.DictReader(file), start=2):
            if row[column] == key:
                return line
    raise AssertionError(f"{key} not in {path}")


@pytest.mark.parametrize(
    ("file", "key_column", "key", "column", "value", "reason"),
    [
        ("issues.csv", "key", "SGG-299", "created", "last tuesday", "not an ISO 8601 timestamp"),
        ("issues.csv", "key", "SGG-299", "created", "2023-07-19T20:10:35", "has no time zone"),
        ("issues.csv", "key", "SGG-299", "project", "NOPE", "unknown project 'NOPE'"),
        ("issues.csv", "key", "SGG-299", "sprint_ids", "SGG-S9", "unknown sprint id 'SGG-S9'"),
        ("issues.csv", "key", "SGG-299", "story_points", "-3", "story_points '-3' is negative"),
        ("issues.csv", "key", "SGG-299", "story_points", "2.25", "more than one decimal place"),
        ("issues.csv", "key", "SGG-299", "key", "SGG-357", "duplicate SGG-357 (first at line 2)"),
        ("issues.csv", "key", "SGG-299", "resolved", "2023-01-01T00:00:00Z", "before created"),
        ("sprints.csv", "sprint_id", "SGG-S4", "end", "2023-08-01T00:00:00Z", "is not after start"),
        ("sprints.csv", "sprint_id", "SGG-S4", "state", "running", "state 'running' is not one"),
        ("projects.csv", "project", "SGG", "timezone", "Mars/Olympus", "not an IANA time zone"),
    ],
)
def test_one_bad_row_among_many_writes_nothing_and_is_located(
    admin, tmp_path, file, key_column, key, column, value, reason
):
    source = _copy_fixture(tmp_path)
    line = _line_of(source / file, key_column, key)
    _rewrite(source / file, _set_cell(key_column, key, column, value))
    decisions = DecisionLog.objects.count()

    with pytest.raises(HistoryImportInvalid) as raised:
        _import(admin, source)

    messages = [str(error) for error in raised.value.report.errors]
    assert any(m.startswith(f"{file}:{line}: ") and reason in m for m in messages), messages
    assert _row_counts() == dict.fromkeys(_row_counts(), 0)
    assert DecisionLog.objects.count() == decisions


def test_a_bad_row_leaves_a_previous_import_untouched(admin, tmp_path):
    _import(admin, SGG)
    counts, checksum = _row_counts(), _checksum()
    source = _copy_fixture(tmp_path)
    _rewrite(source / "issues.csv", _set_cell("key", "SGG-5", "status", "Done"))  # no dates
    _rewrite(source / "projects.csv", _set_cell("project", "SGG", "data_as_of", ""))

    with pytest.raises(HistoryImportInvalid) as raised:
        _import(admin, source)

    line = _line_of(source / "issues.csv", "key", "SGG-5")
    assert any(str(e).startswith(f"issues.csv:{line}:") for e in raised.value.report.errors)
    assert (_row_counts(), _checksum()) == (counts, checksum)


def test_a_sprint_referring_to_a_refused_row_is_not_reported_twice(admin, tmp_path):
    source = _copy_fixture(tmp_path)
    _rewrite(source / "sprints.csv", _set_cell("sprint_id", "SGG-S5", "start", "soon"))

    with pytest.raises(HistoryImportInvalid) as raised:
        _import(admin, source)

    assert [error.file for error in raised.value.report.errors] == ["sprints.csv"]


def test_missing_files_and_columns_are_reported(admin, tmp_path):
    source = _copy_fixture(tmp_path)
    (source / "projects.csv").unlink()
    status = (source / "issues.csv").read_text().splitlines()[0].split(",").index("status")
    _rewrite(source / "issues.csv", lambda rows: [row.pop(status) for row in rows])

    with pytest.raises(HistoryImportInvalid) as raised:
        _import(admin, source)

    assert [str(error) for error in raised.value.report.errors] == [
        "projects.csv: missing: an import needs projects.csv and issues.csv",
        "issues.csv:1: missing column(s): status",
    ]


def test_a_key_of_another_project_is_refused(admin, tmp_path):
    _import(admin, SGG)
    source = tmp_path / "other"
    source.mkdir()
    _write(source / "projects.csv", "project,name\nOTH,Other\n")
    _write(
        source / "issues.csv", "key,project,created,status\nSGG-5,OTH,2023-01-01T00:00:00Z,New\n"
    )

    with pytest.raises(HistoryImportInvalid) as raised:
        _import(admin, source)

    assert [str(e) for e in raised.value.report.errors] == [
        "issues.csv:2: key SGG-5 belongs to project SGG, not OTH"
    ]
    assert not Project.objects.filter(key="OTH").exists()


def test_unknown_columns_are_ignored(admin, tmp_path):
    source = _copy_fixture(tmp_path)
    _rewrite(source / "issues.csv", lambda rows: [row.insert(0, "x") for row in rows])
    _rewrite(source / "sprints.csv", lambda rows: [row.append("y") for row in rows])

    report = _import(admin, source)

    assert str(report.items) == "97 created, 0 updated, 0 unchanged"


# --- events.csv --------------------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """One project, two sprints, two items; events.csv gives TINY-1 a full history."""
    _write(
        tmp_path / "projects.csv",
        "project,name,timezone,data_as_of\nTINY,Tiny,Europe/Paris,2024-01-25T00:00:00Z\n",
    )
    _write(
        tmp_path / "sprints.csv",
        """
sprint_id,project,name,start,end,complete_date,state
T-1,TINY,Sprint 1,2024-01-01T08:00:00Z,2024-01-15T08:00:00Z,2024-01-15T07:00:00Z,closed
T-2,TINY,Sprint 2,2024-01-15T08:00:00Z,2024-01-29T08:00:00Z,,
""",
    )
    _write(
        tmp_path / "issues.csv",
        """
key,project,type,summary,story_points,created,resolved,status,sprint_ids
TINY-1,TINY,Story,Pay by card,5,2023-12-20T10:00:00Z,2024-01-20T12:00:00Z,Done,T-1;T-2
TINY-2,TINY,Bug,Crash,,2024-01-16T09:00:00Z,,In Progress,T-2
""",
    )
    _write(
        tmp_path / "events.csv",
        """
key,at,field,from,to
TINY-1,2023-12-28T09:00:00Z,points,,3
TINY-1,2024-01-02T09:00:00Z,status,To Do,In Progress
TINY-1,2023-12-31T09:00:00Z,sprint,,T-1
TINY-1,2024-01-15T07:30:00Z,sprint,T-1,T-2
TINY-1,2024-01-16T10:00:00Z,points,3,5
TINY-1,2024-01-20T12:00:00Z,status,,Done
""",
    )
    return tmp_path


def test_events_csv_gives_the_history(admin, tiny):
    report = _import(admin, tiny)

    assert report.ok, report.errors
    item = WorkItem.objects.get(key="TINY-1")
    history = [
        (
            e.kind,
            e.at.isoformat(),
            e.to_status,
            e.to_sprint and e.to_sprint.external_id,
            e.to_points,
        )
        for e in item.events.order_by("at", "id")
    ]
    assert history == [
        ("status", "2023-12-20T10:00:00+00:00", "To Do", None, None),
        ("points", "2023-12-28T09:00:00+00:00", "", None, Decimal(3)),
        ("sprint", "2023-12-31T09:00:00+00:00", "", "T-1", None),
        ("status", "2024-01-02T09:00:00+00:00", "In Progress", None, None),
        ("sprint", "2024-01-15T07:30:00+00:00", "", "T-2", None),
        ("points", "2024-01-16T10:00:00+00:00", "", None, Decimal(5)),
        ("status", "2024-01-20T12:00:00+00:00", "Done", None, None),
    ]
    assert item.started_at == dt.datetime(2024, 1, 2, 9, tzinfo=UTC)
    assert item.done_at == dt.datetime(2024, 1, 20, 12, tzinfo=UTC)
    assert (item.sprint.external_id, item.story_points) == ("T-2", Decimal(5))
    points = item.events.filter(kind="points").order_by("at")
    assert [(e.from_points, e.to_points) for e in points] == [(None, 3), (3, 5)]
    # TINY-2 has no events: derived, in progress since its sprint started (it was created later).
    other = WorkItem.objects.get(key="TINY-2")
    assert other.started_at == dt.datetime(2024, 1, 16, 9, tzinfo=UTC)
    sprint_2 = Sprint.objects.get(external_id="T-2")
    assert sprint_2.state == "active"  # empty state: started before data_as_of, not ended
    assert Sprint.objects.get(external_id="T-1").completed_at == dt.datetime(
        2024, 1, 15, 7, tzinfo=UTC
    )
    assert Project.objects.get(key="TINY").time_zone == "Europe/Paris"
    _assert_columns_follow_events()

    again = _import(admin, tiny)

    assert str(again.items) == "0 created, 0 updated, 2 unchanged"
    assert again.events.created == 0


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("TINY-1,2024-01-21T00:00:00Z,status,,In Progress", "goes to 'In Progress' but"),
        ("TINY-1,2024-01-21T00:00:00Z,points,,8", "gives 8 but issues.csv line 2 says"),
        ("TINY-1,2023-12-01T00:00:00Z,sprint,,T-1", "is before TINY-1 was created"),
        ("TINY-1,2024-01-21T00:00:00Z,sprint,,T-9", "unknown sprint id 'T-9'"),
        ("TINY-9,2024-01-21T00:00:00Z,status,,Done", "unknown key 'TINY-9'"),
        ("TINY-1,2024-01-21T00:00:00Z,colour,,red", "field 'colour' is not one of"),
    ],
)
def test_events_that_disagree_are_located_errors(admin, tiny, event, reason):
    with (tiny / "events.csv").open("a") as file:
        file.write(event + "\n")

    with pytest.raises(HistoryImportInvalid) as raised:
        _import(admin, tiny)

    messages = [str(error) for error in raised.value.report.errors]
    assert any(m.startswith("events.csv:8: ") and reason in m for m in messages), messages
    assert WorkItem.objects.count() == 0


def test_files_can_be_given_one_by_one_or_as_uploads(admin, tiny):
    names = ("projects.csv", "sprints.csv", "issues.csv")

    report = _import(admin, {name: io.BytesIO((tiny / name).read_bytes()) for name in names})

    assert str(report.items) == "2 created, 0 updated, 0 unchanged"
    assert not WorkItemEvent.objects.filter(kind="points").exists()  # no events.csv given
    report = _import(admin, [tiny / name for name in names])
    assert str(report.items) == "0 created, 0 updated, 2 unchanged"


# --- who may import ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "team_lead", "executive", "outsider"])
def test_only_change_right_on_the_portfolio_may_import(world, role):
    counts, decisions = _row_counts(), DecisionLog.objects.count()

    with pytest.raises(PermissionDenied):
        _import(world.user(role), SGG, portfolio=world.own.name)

    assert (_row_counts(), DecisionLog.objects.count()) == (counts, decisions)


def test_pmo_leader_imports_into_their_portfolio(world):
    report = _import(world.pmo_leader, SGG, portfolio=world.own.name)

    assert report.ok
    assert Project.objects.get(key="SGG").portfolio == world.own


def test_only_a_superuser_creates_a_portfolio(world):
    counts = _row_counts()

    with pytest.raises(PermissionDenied) as raised:
        _import(world.pmo_leader, SGG, portfolio="Brand new")

    assert "superuser" in str(raised.value)
    assert _row_counts() == counts


def test_a_project_of_another_portfolio_is_not_moved(world, tmp_path):
    source = tmp_path / "pay"
    source.mkdir()
    _write(source / "projects.csv", "project,name\nPAY,Payments core\n")
    _write(
        source / "issues.csv", "key,project,created,status\nPAY-1,PAY,2024-01-01T00:00:00Z,New\n"
    )

    with pytest.raises(HistoryImportInvalid) as raised:
        _import(world.admin, source, portfolio=world.foreign.name)

    assert [str(e) for e in raised.value.report.errors] == [
        "projects.csv:2: project PAY belongs to portfolio 'Payments'; import it into that portfolio"
    ]


# --- the command -----------------------------------------------------------------------------


def test_command_prints_the_report(admin, capsys):
    call_command("import_history", str(SGG), "--portfolio", "Grants", "--as", "importer")

    output = capsys.readouterr().out
    assert "Checked; writing: 97/97" in output  # progress
    assert "Work items: 97 created, 0 updated, 0 unchanged" in output
    assert "SGG: statuses not in the mapping, added as todo:" in output
    assert "Imported into portfolio Grants." in output


def test_command_errors_name_the_file_and_line(admin, tmp_path):
    source = _copy_fixture(tmp_path)
    line = _line_of(source / "issues.csv", "key", "SGG-299")
    _rewrite(source / "issues.csv", _set_cell("key", "SGG-299", "story_points", "-1"))

    with pytest.raises(CommandError, match=rf"issues\.csv:{line}: story_points '-1' is negative"):
        call_command("import_history", str(source), "--portfolio", "Grants")

    assert WorkItem.objects.count() == 0


def test_command_without_a_superuser_says_what_to_do(db):
    with pytest.raises(CommandError, match="No superuser to import as"):
        call_command("import_history", str(SGG), "--portfolio", "Grants")


def test_command_as_a_user_without_the_right_is_refused(world):
    with pytest.raises(CommandError, match="You may not import"):
        call_command("import_history", str(SGG), "--portfolio", "Payments", "--as", "viewer")


# --- the whole shared folder -----------------------------------------------------------------


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data/agile-real is not here")
def test_whole_shared_folder_imports_and_a_second_run_changes_nothing(admin):
    report = _import(admin, SHARED, portfolio="Agile real")

    assert report.ok
    assert report.files == {"projects.csv": 3, "sprints.csv": 89, "issues.csv": 3608}
    assert Project.objects.count() == 3
    assert Sprint.objects.count() == 89
    assert WorkItem.objects.count() == 3608
    assert WorkItem.objects.filter(category="done").count() == 2407 + 1104 + 31
    _assert_columns_follow_events()
    counts, checksum = _row_counts(), _checksum()

    again = _import(admin, SHARED, portfolio="Agile real")

    assert (_row_counts(), _checksum()) == (counts, checksum)
    assert str(again.items) == "0 created, 0 updated, 3608 unchanged"
    assert again.events.created == 0
    print(f"\nagile-real import: {report.seconds:.2f} s, again: {again.seconds:.2f} s")
    _assert_window_velocity_is_the_points_resolved_in_each_window()


def _assert_window_velocity_is_the_points_resolved_in_each_window() -> None:
    """XD and NEXUS have sprint windows but no membership: each closed sprint's velocity is
    the points of the issues resolved in [start, close), counted here from issues.csv."""
    from metrics.flow import sprint_figures_unsafe

    with (SHARED / "issues.csv").open(newline="") as file:
        resolved = [
            (
                row["project"],
                dt.datetime.fromisoformat(row["resolved"]),
                Decimal(row["story_points"] or 0),
            )
            for row in csv.DictReader(file)
            if row["resolved"] and row["project"] != "SGG"
        ]
    window_projects = Project.objects.exclude(key="SGG")
    figures = sprint_figures_unsafe(project_ids=[p.pk for p in window_projects], states=["closed"])
    keys = {project.pk: project.key for project in window_projects}
    assert len(figures) == 84
    for row in figures:
        expected = sum(
            (
                points
                for key, at, points in resolved
                if key == keys[row.project_id] and row.start <= at < row.close
            ),
            Decimal(0),
        )
        assert (row.membership_known, row.completed_points, row.committed_points) == (
            False,
            expected,
            None,
        ), row.name
    assert sum(1 for row in figures if row.completed_points > 0) >= 80


# --- sprint membership, stored figures and the sprint-closed event ---------------------------


def test_membership_known_column_marks_window_only_sprints(admin, tiny):
    _rewrite(
        tiny / "sprints.csv",
        lambda rows: [
            row.append(value)
            for row, value in zip(rows, ("membership_known", "false", ""), strict=True)
        ],
    )

    _import(admin, tiny)

    assert Sprint.objects.get(external_id="T-1").membership_known is False
    assert Sprint.objects.get(external_id="T-2").membership_known is True  # empty: true


def test_a_membership_known_cell_that_is_not_a_boolean_is_a_located_error(admin, tiny):
    _rewrite(
        tiny / "sprints.csv",
        lambda rows: [
            row.append(value)
            for row, value in zip(rows, ("membership_known", "maybe", ""), strict=True)
        ],
    )

    with pytest.raises(HistoryImportInvalid) as refused:
        _import(admin, tiny)

    first = refused.value.report.errors[0]
    assert (first.file, first.line) == ("sprints.csv", 2)
    assert "membership_known 'maybe' is not true or false" in first.message
    assert Sprint.objects.count() == 0


def test_import_stores_the_figures_of_closed_sprints(admin, tiny):
    _import(admin, tiny)

    closed = Sprint.objects.get(external_id="T-1")
    assert closed.frozen_figures is not None
    assert Sprint.objects.get(external_id="T-2").frozen_figures is None  # active: replayed live


def test_a_sprint_the_import_closes_is_announced_after_commit(
    admin, tiny, django_capture_on_commit_callbacks
):
    from portfolio.events import sprint_closed

    _import(admin, tiny)  # T-2 is active as at data_as_of
    heard = []

    def receiver(sender, signal, **event):
        heard.append(event)

    sprint_closed.connect(receiver)
    try:
        _rewrite(tiny / "sprints.csv", _set_cell("sprint_id", "T-2", "state", "closed"))
        with django_capture_on_commit_callbacks(execute=True):
            _import(admin, tiny)
        with django_capture_on_commit_callbacks(execute=True):
            _import(admin, tiny)  # already closed: no news
    finally:
        sprint_closed.disconnect(receiver)

    project = Project.objects.get(key="TINY")
    t2 = Sprint.objects.get(external_id="T-2")
    assert heard == [
        {"sprint_id": t2.pk, "project_id": project.pk, "portfolio_id": project.portfolio_id}
    ]
