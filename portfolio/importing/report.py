"""What a history import tells its caller: counts, warnings, located row errors, progress.

Kept apart from the reading and writing code so that the command, a future upload form and a
Celery task can all render the same report without importing the machinery behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class RowIssue:
    """One problem found in the input, located so that a person can open the file and fix it.

    `line` is the physical line of the CSV file where the row starts (the header is line 1);
    it is None for problems about a whole file or about the database as a whole.
    """

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}" if where else self.message


@dataclass
class Counts:
    """Rows of one table: inserted, changed in place, left exactly as they were, deleted."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        text = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return f"{text}, {self.deleted} deleted" if self.deleted else text

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
        }


@dataclass
class ImportReport:
    """The outcome of one import. With any error, nothing was written (`errors` says why)."""

    portfolio: str
    portfolio_created: bool = False
    files: dict[str, int] = field(default_factory=dict)  # file name -> data rows read
    projects: Counts = field(default_factory=Counts)
    sprints: Counts = field(default_factory=Counts)
    items: Counts = field(default_factory=Counts)
    events: Counts = field(default_factory=Counts)
    # Per project key: status names the project did not map, added to its mapping as `todo`.
    unknown_statuses: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[RowIssue] = field(default_factory=list)
    errors: list[RowIssue] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, file: str, line: int | None, message: str) -> None:
        self.errors.append(RowIssue(file, line, message))

    def warn(self, file: str, line: int | None, message: str) -> None:
        self.warnings.append(RowIssue(file, line, message))

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "projects": self.projects.as_dict(),
            "sprints": self.sprints.as_dict(),
            "work_items": self.items.as_dict(),
            "events": self.events.as_dict(),
        }

    def summary_lines(self) -> list[str]:
        """The report as a person reads it, one fact per line, errors and warnings last."""
        created = " (created)" if self.portfolio_created else ""
        lines = [f"Portfolio: {self.portfolio}{created}"]
        lines += [f"Read {name}: {rows} rows" for name, rows in self.files.items()]
        lines += [
            f"Projects: {self.projects}",
            f"Sprints: {self.sprints}",
            f"Work items: {self.items}",
            f"Events: {self.events}",
        ]
        for key, names in self.unknown_statuses.items():
            lines.append(f"{key}: statuses not in the mapping, added as todo: {', '.join(names)}")
        lines += [f"Warning: {warning}" for warning in self.warnings]
        lines += [f"Error: {error}" for error in self.errors]
        if self.seconds:
            lines.append(f"Took {self.seconds:.2f} s")
        return lines


@dataclass(frozen=True)
class ImportProgress:
    """A step of a long import: `done` of `total` rows (total None when not known yet)."""

    stage: str
    done: int = 0
    total: int | None = None

    def __str__(self) -> str:
        if self.total is None:
            return f"{self.stage}: {self.done}" if self.done else self.stage
        return f"{self.stage}: {self.done}/{self.total}"


ProgressCallback = Callable[[ImportProgress], None]


class HistoryImportInvalid(ValidationError):
    """The input has errors; nothing was written. `report.errors` locates each one.

    A ValidationError, so a form or an API answers 400 with the messages instead of a 500.
    """

    def __init__(self, report: ImportReport) -> None:
        super().__init__([str(error) for error in report.errors] or ["The import failed."])
        self.report = report
