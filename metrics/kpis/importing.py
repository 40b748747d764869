"""CSV of KPI measurements: reading and checking every row before anything is written.

Format: UTF-8 (a byte-order mark is fine), comma-separated, a header row naming at least
`kpi`, `period_start` and `value` (any case, any order; `note` optional, other columns
ignored), then one measurement per row:

    kpi,period_start,value,note
    Cycle time,2026-11-16,4.5,after the release freeze
    Customer satisfaction,2026-11-01,4.2,

- `kpi` is the name of one of the project's KPIs (case and spacing ignored);
- `period_start` is YYYY-MM-DD and must match the KPI's cadence, not in the future
  (metrics.kpis.periods); `value` must be a number in the KPI's allowed range; `note` is at
  most 2,000 characters. Computed and retired KPIs cannot be imported.
- Two rows for the same KPI and period are an error. A row for a period that already has a
  value replaces it when the value or note differs (the old one stays in the history, as
  for a correction) and is left alone when it is the same, so importing a file twice
  changes nothing the second time.

Line numbers are the file's physical lines (the header is line 1), so "line 17" is where a
spreadsheet or editor shows it, even with quoted multi-line notes before it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from metrics.kpis import periods
from metrics.kpis.validation import NOTE_MAX_LENGTH, parse_value, range_error
from metrics.models import KPI

REQUIRED_COLUMNS = ("kpi", "period_start", "value")
MAX_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class ImportProblem:
    line: int  # 0 for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class KpiImportInvalid(Exception):
    """The file cannot be imported; `problems` says where and why. Nothing was written."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s): " + "; ".join(map(str, problems[:5])))


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    kpi: KPI
    period_start: dt.date
    value: Decimal
    note: str


@dataclass(frozen=True, slots=True)
class KpiImportReport:
    project_key: str
    rows: int
    created: int
    corrected: int
    unchanged: int
    kpis: tuple[str, ...]
    sha256: str

    def summary(self) -> str:
        return (
            f"{self.rows} row(s) for {self.project_key}: {self.created} added, "
            f"{self.corrected} replaced, {self.unchanged} unchanged."
        )


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise KpiImportInvalid(
            [
                ImportProblem(
                    0,
                    f"The file is not UTF-8 text (byte 0x{data[error.start]:02x} at position "
                    f"{error.start}); save it as CSV UTF-8.",
                )
            ]
        ) from None


def _normalized(name: str) -> str:
    return " ".join(name.split()).casefold()


def read_rows(
    data: bytes,
    *,
    kpis: Sequence[KPI],
    today: dt.date,
    sprint_starts: Sequence[dt.date],
) -> list[CsvRow]:
    """Every row of the file checked against the project's KPIs; KpiImportInvalid listing
    every bad row (with its line number and reason) if any is wrong."""
    text = _text(data)
    if not text.strip():
        raise KpiImportInvalid([ImportProblem(0, "The file is empty.")])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as error:
        raise KpiImportInvalid([ImportProblem(1, f"unreadable CSV ({error})")]) from None
    line = reader.line_num
    columns = [_normalized(name) for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise KpiImportInvalid(
            [
                ImportProblem(
                    1,
                    f"the header lacks {', '.join(missing)} (it has "
                    f"{', '.join(name for name in header if name) or 'no names'}); "
                    "the columns are kpi, period_start, value and optionally note.",
                )
            ]
        )
    index = {name: columns.index(name) for name in (*REQUIRED_COLUMNS, "note") if name in columns}
    by_name: Mapping[str, KPI] = {_normalized(kpi.name): kpi for kpi in kpis}
    known = ", ".join(sorted(kpi.name for kpi in kpis)) or "none"
    problems: list[ImportProblem] = []
    rows: list[CsvRow] = []
    seen: dict[tuple[int, dt.date], int] = {}
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(ImportProblem(reader.line_num, f"unreadable CSV ({error})"))
            break
        line_start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) + len(problems) >= MAX_ROWS:
            problems.append(
                ImportProblem(line_start, f"more than {MAX_ROWS:,} rows; split the file.")
            )
            break

        def cell(name: str, record: list[str] = record) -> str:
            position = index.get(name)
            return (
                record[position].strip() if position is not None and position < len(record) else ""
            )

        reasons: list[str] = []
        name = cell("kpi")
        kpi = by_name.get(_normalized(name)) if name else None
        if not name:
            reasons.append("the kpi cell is empty")
        elif kpi is None:
            reasons.append(f"no KPI named '{name[:80]}' in this project (its KPIs: {known})")
        elif not kpi.active:
            reasons.append(f"{kpi.name} is retired and takes no values")
        elif kpi.is_computed:
            reasons.append(f"{kpi.name} is computed from the work-item history, not imported")
        period_text = cell("period_start")
        period: dt.date | None = None
        try:
            period = dt.date.fromisoformat(period_text)
        except ValueError:
            reasons.append(f"period_start '{period_text[:40]}' is not a date as YYYY-MM-DD")
        if period is not None and kpi is not None:
            problem = periods.period_error(
                cadence=kpi.cadence,
                period_start=period,
                today=today,
                sprint_starts=sprint_starts,
            )
            if problem:
                reasons.append(problem[0].lower() + problem[1:].rstrip("."))
        value: Decimal | None = None
        try:
            value = parse_value(cell("value"))
        except ValueError as error:
            reasons.append(f"the value {error}")
        if value is not None and kpi is not None:
            problem = range_error(kpi, value)
            if problem:
                reasons.append(problem.rstrip("."))
        note = cell("note")
        if len(note) > NOTE_MAX_LENGTH:
            reasons.append(f"the note is longer than {NOTE_MAX_LENGTH:,} characters")
        if kpi is not None and period is not None:
            first = seen.setdefault((kpi.pk, period), line_start)
            if first != line_start:
                reasons.append(f"{kpi.name} {period.isoformat()} is already on line {first}")
        if reasons:
            text = "; ".join(reasons)
            problems.append(ImportProblem(line_start, text if text[-1] in ".?!" else text + "."))
        else:
            rows.append(CsvRow(line_start, kpi, period, value, note))
    if problems:
        raise KpiImportInvalid(problems)
    if not rows:
        raise KpiImportInvalid([ImportProblem(0, "The file has a header but no rows.")])
    return rows
