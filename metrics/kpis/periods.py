"""Periods of KPI measurements: what a period start must be for each cadence.

A measurement is identified by its KPI and the first day of the period it describes. The
issue asks that "a period that does not match the cadence" and "a period in the future" be
refused; these rules make that exact (each is tested in tests/kpis/test_periods.py):

1. Weekly: the period starts on a Monday (ISO weeks, as throughput in METRICS.md).
2. Monthly: on the first day of a month.
3. Quarterly: on the first day of a calendar quarter (1 January, 1 April, 1 July,
   1 October).
4. Per sprint: on the local start date (in the project's time zone) of one of the project's
   sprints, whatever its state. Only project KPIs can be per sprint.
5. In the future: the period starts after "today", the local date in the project's time
   zone (UTC for a portfolio KPI) on the real clock. The current period (started, not yet
   over) may be entered: a team lead records this week's figure during the week. KPIs are
   about the real world, so even a project imported as a past snapshot takes today's date
   here; a computed KPI's periods are limited by the data instead (metrics.kpis.computed).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection, Sequence

from django.utils import timezone

WEEKLY = "weekly"
PER_SPRINT = "per_sprint"
MONTHLY = "monthly"
QUARTERLY = "quarterly"

QUARTER_MONTHS = (1, 4, 7, 10)


def local_today(time_zone: str, now: dt.datetime | None = None) -> dt.date:
    """Today's date in `time_zone` (rule 5)."""
    instant = now or timezone.now()
    return instant.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def sprint_start_dates(starts: Sequence[dt.datetime], time_zone: str) -> tuple[dt.date, ...]:
    """The local start dates of sprints (rule 4), oldest first, without repeats."""
    zone = zoneinfo.ZoneInfo(time_zone)
    return tuple(sorted({start.astimezone(zone).date() for start in starts}))


def period_error(
    *,
    cadence: str,
    period_start: dt.date,
    today: dt.date,
    sprint_starts: Collection[dt.date] = (),
) -> str | None:
    """Why `period_start` cannot start a period of this cadence, or None if it can."""
    if period_start > today:
        return (
            f"{period_start.isoformat()} is in the future (today is {today.isoformat()}); "
            "enter values for periods that have started."
        )
    if cadence == WEEKLY and period_start.weekday() != 0:
        monday = period_start - dt.timedelta(days=period_start.weekday())
        return (
            f"A weekly KPI's period starts on a Monday; {period_start.isoformat()} is a "
            f"{period_start:%A}. Did you mean {monday.isoformat()}?"
        )
    if cadence == MONTHLY and period_start.day != 1:
        first = period_start.replace(day=1)
        return (
            "A monthly KPI's period starts on the first day of a month; "
            f"did you mean {first.isoformat()}?"
        )
    if cadence == QUARTERLY and (period_start.day != 1 or period_start.month not in QUARTER_MONTHS):
        first = quarter_start(period_start)
        return (
            "A quarterly KPI's period starts on the first day of a quarter (1 Jan, 1 Apr, "
            f"1 Jul, 1 Oct); did you mean {first.isoformat()}?"
        )
    if cadence == PER_SPRINT and period_start not in sprint_starts:
        if not sprint_starts:
            return (
                "A per-sprint KPI's period is a sprint's start date, and this project has no "
                "sprints yet."
            )
        recent = ", ".join(day.isoformat() for day in sorted(sprint_starts)[-3:])
        return (
            "A per-sprint KPI's period is the start date of one of the project's sprints "
            f"(latest: {recent})."
        )
    return None


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, QUARTER_MONTHS[(day.month - 1) // 3], 1)


def current_period_start(
    *, cadence: str, today: dt.date, sprint_starts: Sequence[dt.date] = ()
) -> dt.date | None:
    """The start of the period `today` falls in: what the add form proposes."""
    if cadence == WEEKLY:
        return today - dt.timedelta(days=today.weekday())
    if cadence == MONTHLY:
        return today.replace(day=1)
    if cadence == QUARTERLY:
        return quarter_start(today)
    started = [day for day in sprint_starts if day <= today]
    return max(started) if started else None


def next_period_start(cadence: str, start: dt.date) -> dt.date:
    """The first day after the period that starts on `start` (weekly, monthly, quarterly)."""
    if cadence == WEEKLY:
        return start + dt.timedelta(days=7)
    months = 3 if cadence == QUARTERLY else 1
    month = start.month - 1 + months
    return dt.date(start.year + month // 12, month % 12 + 1, 1)


def previous_period_starts(cadence: str, before: dt.date, count: int) -> list[dt.date]:
    """The starts of the `count` complete periods that end on or before `before`, oldest
    first (weekly, monthly, quarterly)."""
    if cadence == WEEKLY:
        end = before - dt.timedelta(days=before.weekday())
    elif cadence == MONTHLY:
        end = before.replace(day=1)
    else:
        end = quarter_start(before)
    starts: list[dt.date] = []
    current = end
    for _ in range(count):
        if cadence == WEEKLY:
            current = current - dt.timedelta(days=7)
        else:
            months = 3 if cadence == QUARTERLY else 1
            month = current.month - 1 - months
            current = dt.date(current.year + month // 12, month % 12 + 1, 1)
        starts.append(current)
    return starts[::-1]


def period_label(cadence: str, start: dt.date) -> str:
    """How a period reads on a page: "week of 2026-11-16", "Nov 2026", "Q4 2026"."""
    if cadence == WEEKLY:
        return f"week of {start.isoformat()}"
    if cadence == MONTHLY:
        return f"{start:%b %Y}"
    if cadence == QUARTERLY:
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return f"sprint of {start.isoformat()}"
