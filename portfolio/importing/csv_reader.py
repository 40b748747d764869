"""Reading the CSV files of a history import into typed rows, every bad row located.

Pure Python, no database: the whole input is read and checked (cells, duplicates, references
between files) before a transaction opens, so a bad file costs no lock and no rollback, and
every error of the input is reported at once instead of one per attempt. The format itself
is described in the package docstring (`portfolio/importing/__init__.py`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import IO, Any

from portfolio.importing.report import ImportProgress, ImportReport, ProgressCallback
from portfolio.models import project_key_validator

PROJECTS, SPRINTS, ISSUES, EVENTS = "projects.csv", "sprints.csv", "issues.csv", "events.csv"
FILE_NAMES = (PROJECTS, SPRINTS, ISSUES, EVENTS)
REQUIRED_FILES = (PROJECTS, ISSUES)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    PROJECTS: ("project", "name"),
    SPRINTS: ("sprint_id", "project", "name", "start", "end"),
    ISSUES: ("key", "project", "created", "status"),
    EVENTS: ("key", "at", "field", "from", "to"),
}
SPRINT_STATES = ("closed", "active", "future")
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})
EVENT_FIELDS = ("status", "sprint", "points")
MAX_POINTS = Decimal("99999.9")  # WorkItem.story_points: 6 digits, 1 decimal place
MAX_TITLE = 300  # WorkItem.title
PROGRESS_EVERY = 1000  # rows between two progress reports while reading a file

Source = str | os.PathLike[str] | IO[Any]
Sources = str | os.PathLike[str] | Mapping[str, Source] | Iterable[str | os.PathLike[str]]


@dataclass(frozen=True)
class ProjectRow:
    line: int
    key: str
    name: str
    time_zone: str
    data_as_of: dt.datetime | None


@dataclass(frozen=True)
class SprintRow:
    line: int
    sprint_id: str
    project: str
    name: str
    start: dt.datetime
    end: dt.datetime
    completed_at: dt.datetime | None
    state: str | None  # None: derived from the dates and the project's data_as_of
    membership_known: bool = True


@dataclass(frozen=True)
class IssueRow:
    line: int
    key: str
    project: str
    type: str
    title: str
    story_points: Decimal | None
    created: dt.datetime | None
    resolved: dt.datetime | None
    status: str
    sprint_ids: tuple[str, ...]


@dataclass(frozen=True)
class EventRow:
    line: int
    key: str
    at: dt.datetime
    field: str  # status | sprint | points
    from_value: str | Decimal | None  # status name, sprint id, or points; None = empty cell
    to_value: str | Decimal | None


@dataclass
class ImportData:
    """Every valid row of the input, plus what the decision record says about the files."""

    projects: list[ProjectRow] = field(default_factory=list)
    sprints: list[SprintRow] = field(default_factory=list)
    issues: list[IssueRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of its bytes


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class _Cells:
    """One CSV row being converted; each failed conversion adds a located error to the row."""

    def __init__(self, file: str, line: int, cells: dict[str, str]) -> None:
        self.file, self.line, self.cells = file, line, cells
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def text(self, column: str, *, required: bool = False, max_length: int | None = None) -> str:
        value = self.cells.get(column, "").strip()
        if required and not value:
            self.errors.append(f"{column} is empty")
        elif max_length is not None and len(value) > max_length:
            self.errors.append(f"{column} is longer than {max_length} characters")
        return value

    def boolean(self, column: str, *, default: bool) -> bool:
        value = self.text(column).lower()
        if not value:
            return default
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        self.errors.append(f"{column} {value!r} is not true or false")
        return default

    def timestamp(self, column: str, *, required: bool = False) -> dt.datetime | None:
        return self.parse_timestamp(column, self.text(column, required=required))

    def parse_timestamp(self, column: str, value: str) -> dt.datetime | None:
        if not value:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            self.errors.append(
                f"{column} {value!r} is not an ISO 8601 timestamp (e.g. 2023-07-12T09:30:00Z)"
            )
            return None
        if parsed.tzinfo is None:
            self.errors.append(f"{column} {value!r} has no time zone: end it with Z or +hh:mm")
            return None
        return parsed.astimezone(dt.UTC)

    def points(self, column: str, value: str | None = None) -> Decimal | None:
        value = self.text(column) if value is None else value
        if not value:
            return None
        try:
            points = Decimal(value)
        except InvalidOperation:
            self.errors.append(f"{column} {value!r} is not a number")
            return None
        if not points.is_finite():
            self.errors.append(f"{column} {value!r} is not a number")
        elif points < 0:
            self.errors.append(f"{column} {value!r} is negative")
        elif points > MAX_POINTS:
            self.errors.append(f"{column} {value!r} is above {MAX_POINTS}")
        elif points != points.quantize(Decimal("0.1")):
            self.errors.append(f"{column} {value!r} has more than one decimal place")
        else:
            return points
        return None


def _sources(directory_or_files: Sources, report: ImportReport) -> dict[str, Source]:
    """The input files by name: a directory's known files, or the files given (paths or
    open files, by name), so the command and an upload form share one entry point."""
    if isinstance(directory_or_files, str | os.PathLike):
        path = Path(directory_or_files)
        if path.is_dir():
            return {name: path / name for name in FILE_NAMES if (path / name).is_file()}
        if not path.is_file():
            report.error(str(path), None, "no such directory or file")
            return {}
        found: dict[str, Source] = {path.name: path}
    elif isinstance(directory_or_files, Mapping):
        found = {Path(name).name: source for name, source in directory_or_files.items()}
    else:
        found = {Path(path).name: path for path in directory_or_files}
    for name in found:
        if name not in FILE_NAMES:
            report.error(name, None, f"unknown file name; expected {', '.join(FILE_NAMES)}")
    return {name: source for name, source in found.items() if name in FILE_NAMES}


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, str | os.PathLike):
        return Path(source).read_bytes()
    content = source.read()
    return content.encode() if isinstance(content, str) else bytes(content)


def _rows(name: str, content: bytes, report: ImportReport) -> list[tuple[int, dict[str, str]]]:
    """(line, cells by lower-case column) for each non-blank data row; the header is line 1."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        report.error(name, None, f"not UTF-8 text ({error.reason} at byte {error.start})")
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        header = [column.strip().lower() for column in next(reader, [])]
        missing = [column for column in REQUIRED_COLUMNS[name] if column not in header]
        if missing:
            report.error(name, 1, f"missing column(s): {', '.join(missing)}")
            return []
        previous_line = reader.line_num
        for cells in reader:
            line, previous_line = previous_line + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                # Extra cells are ignored, missing trailing cells read as empty.
                rows.append((line, dict(zip(header, cells, strict=False))))
    except csv.Error as error:
        report.error(name, reader.line_num, f"unreadable CSV: {error}")
        return []
    return rows


def _project(cells: _Cells) -> ProjectRow:
    key = cells.text("project", required=True, max_length=10)
    if key and project_key_validator.regex.match(key) is None:
        cells.errors.append(f"project key {key!r} is not 2-10 capital letters or digits")
    time_zone = cells.text("timezone") or "UTC"
    if time_zone not in _time_zones():
        cells.errors.append(f"timezone {time_zone!r} is not an IANA time zone")
    return ProjectRow(
        line=cells.line,
        key=key,
        name=cells.text("name", required=True, max_length=120),
        time_zone=time_zone,
        data_as_of=cells.timestamp("data_as_of"),
    )


def _sprint(cells: _Cells) -> SprintRow:
    start = cells.timestamp("start", required=True)
    end = cells.timestamp("end", required=True)
    completed_at = cells.timestamp("complete_date")
    if start and end and end <= start:
        cells.errors.append(f"end {end:%Y-%m-%dT%H:%M:%SZ} is not after start")
    if start and completed_at and completed_at <= start:
        cells.errors.append(f"complete_date {completed_at:%Y-%m-%dT%H:%M:%SZ} is not after start")
    state = cells.text("state").lower() or None
    if state is not None and state not in SPRINT_STATES:
        cells.errors.append(f"state {state!r} is not one of {', '.join(SPRINT_STATES)}")
    return SprintRow(
        line=cells.line,
        sprint_id=cells.text("sprint_id", required=True, max_length=64),
        project=cells.text("project", required=True),
        name=cells.text("name", required=True, max_length=120),
        start=start,  # type: ignore[arg-type]  # None only when the row has errors
        end=end,  # type: ignore[arg-type]
        completed_at=completed_at,
        state=state,
        membership_known=cells.boolean("membership_known", default=True),
    )


def _issue(cells: _Cells) -> IssueRow:
    created = cells.timestamp("created")
    resolved = cells.timestamp("resolved")
    if created and resolved and resolved < created:
        cells.errors.append("resolved is before created")
    sprint_ids = [part.strip() for part in cells.text("sprint_ids").split(";")]
    title = cells.text("summary")
    if len(title) > MAX_TITLE:
        # Titles are display text: a long one is cut and reported, not refused.
        cells.warnings.append(f"summary cut to its first {MAX_TITLE} characters")
    return IssueRow(
        line=cells.line,
        key=cells.text("key", required=True, max_length=32),
        project=cells.text("project", required=True),
        type=cells.text("type", max_length=40) or "Story",
        title=title[:MAX_TITLE],
        story_points=cells.points("story_points"),
        created=created,
        resolved=resolved,
        status=cells.text("status", required=True, max_length=60),
        sprint_ids=tuple(dict.fromkeys(part for part in sprint_ids if part)),
    )


def _event(cells: _Cells) -> EventRow:
    kind = cells.text("field", required=True).lower()
    raw_from, raw_to = cells.text("from"), cells.text("to")
    values: tuple[str | Decimal | None, str | Decimal | None] = (raw_from or None, raw_to or None)
    if kind == "status":
        if not raw_to:
            cells.errors.append("a status event needs the status it goes to")
        if max(len(raw_from), len(raw_to)) > 60:
            cells.errors.append("a status name is longer than 60 characters")
    elif kind == "sprint":
        if not raw_from and not raw_to:
            cells.errors.append("a sprint event needs a from or a to sprint id")
    elif kind == "points":
        values = (cells.points("from", raw_from), cells.points("to", raw_to))
    elif kind:
        cells.errors.append(f"field {kind!r} is not one of {', '.join(EVENT_FIELDS)}")
    return EventRow(
        line=cells.line,
        key=cells.text("key", required=True),
        at=cells.timestamp("at", required=True),  # type: ignore[arg-type]
        field=kind,
        from_value=values[0],
        to_value=values[1],
    )


PARSERS = {PROJECTS: _project, SPRINTS: _sprint, ISSUES: _issue, EVENTS: _event}


def _natural_key(name: str, row: Any) -> tuple[str, ...]:
    if name == PROJECTS:
        return (row.key,)
    if name == SPRINTS:
        return (row.project, row.sprint_id)
    if name == ISSUES:
        return (row.key,)
    return ()  # events have no natural key: two changes may share an instant


def _parse_file(
    name: str,
    rows: list[tuple[int, dict[str, str]]],
    report: ImportReport,
    failed: set[tuple[str, ...]],
    progress: ProgressCallback | None,
) -> list[Any]:
    """Typed rows of one file. Keys of refused rows go to `failed`, so that rows of other
    files pointing at them are not reported a second time as unknown references."""
    parsed: list[Any] = []
    first_line: dict[tuple[str, ...], int] = {}
    for number, (line, raw) in enumerate(rows, start=1):
        cells = _Cells(name, line, raw)
        row = PARSERS[name](cells)
        key = _natural_key(name, row)
        if key and key in first_line:
            cells.errors.append(f"duplicate {'/'.join(key)} (first at line {first_line[key]})")
        elif key:
            first_line[key] = line
        for warning in cells.warnings:
            report.warn(name, line, warning)
        if cells.errors:
            report.error(name, line, "; ".join(cells.errors))
            if key:
                failed.add(key)
        else:
            parsed.append(row)
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress(ImportProgress(f"Reading {name}", number, len(rows)))
    return parsed


def _check_references(data: ImportData, report: ImportReport, failed: set[tuple[str, ...]]) -> None:
    """Drop, with a located error, every row that points at a project, sprint or item that
    the input does not define (rows pointing at a refused row are dropped silently)."""
    projects = {row.key for row in data.projects}
    sprint_projects: dict[str, set[str]] = {}
    for sprint in data.sprints:
        sprint_projects.setdefault(sprint.sprint_id, set()).add(sprint.project)
    for failed_key in failed:
        if len(failed_key) == 2:
            sprint_projects.setdefault(failed_key[1], set()).add(failed_key[0])

    def project_known(name: str, row: SprintRow | IssueRow) -> bool:
        if row.project in projects or (row.project,) in failed:
            return row.project in projects
        report.error(name, row.line, f"unknown project {row.project!r} (not in {PROJECTS})")
        return False

    data.sprints = [row for row in data.sprints if project_known(SPRINTS, row)]
    sprints = {(row.project, row.sprint_id) for row in data.sprints}

    def sprints_known(row: IssueRow) -> bool:
        if not project_known(ISSUES, row):
            return False
        for sprint_id in row.sprint_ids:
            if (row.project, sprint_id) in sprints:
                continue
            if (row.project, sprint_id) not in failed:
                others = sorted(sprint_projects.get(sprint_id, set()) - {row.project})
                reason = f"belongs to project {others[0]}" if others else f"not in {SPRINTS}"
                report.error(ISSUES, row.line, f"unknown sprint id {sprint_id!r} ({reason})")
            return False
        return True

    data.issues = [row for row in data.issues if sprints_known(row)]
    issues = {row.key: row.project for row in data.issues}

    def event_known(row: EventRow) -> bool:
        if row.key not in issues:
            if (row.key,) not in failed:
                report.error(EVENTS, row.line, f"unknown key {row.key!r} (not in {ISSUES})")
            return False
        if row.field == "sprint":
            for sprint_id in (row.from_value, row.to_value):
                if sprint_id is not None and (issues[row.key], sprint_id) not in sprints:
                    report.error(EVENTS, row.line, f"unknown sprint id {sprint_id!r}")
                    return False
        return True

    data.events = [row for row in data.events if event_known(row)]


def read_import(
    directory_or_files: Sources, *, report: ImportReport, progress: ProgressCallback | None = None
) -> ImportData:
    """Read and check every file; errors go to `report.errors` and their rows are left out."""
    sources = _sources(directory_or_files, report)
    for name in REQUIRED_FILES:
        if name not in sources and not report.errors:
            report.error(name, None, "missing: an import needs projects.csv and issues.csv")
    data = ImportData()
    failed: set[tuple[str, ...]] = set()
    for name in FILE_NAMES:
        if name not in sources:
            continue
        try:
            content = _read_bytes(sources[name])
        except OSError as error:
            report.error(name, None, f"cannot be read: {error.strerror or error}")
            continue
        data.digests[name] = hashlib.sha256(content).hexdigest()
        file_errors = len(report.errors)
        rows = _rows(name, content, report)
        if len(report.errors) > file_errors:
            continue
        report.files[name] = len(rows)
        parsed = _parse_file(name, rows, report, failed, progress)
        setattr(data, name.removesuffix(".csv"), parsed)
    if all(name in report.files for name in (*REQUIRED_FILES, *sources)):
        # Without a whole file, every reference to it would be reported once more.
        _check_references(data, report, failed)
    return data
