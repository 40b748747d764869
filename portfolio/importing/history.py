"""Turning checked rows into each work item's history and the columns that summarize it.

Pure: no database. Every WorkItem column this produces (status, category, started_at,
done_at, sprint, story_points) is read off the events it produces, with the same rules as
the demo data (`portfolio/demo.py`), so that a metric computed from the events and one read
from the columns always agree. The rules are listed in the package docstring.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from portfolio.history import POINTS, SPRINT, STATUS, EventPlan, apply_event
from portfolio.importing.csv_reader import EVENTS, ISSUES, EventRow, ImportData, IssueRow, SprintRow
from portfolio.importing.report import ImportReport
from portfolio.models import Category

TO_DO, IN_PROGRESS, DONE = Category.TO_DO.value, Category.IN_PROGRESS.value, Category.DONE.value
INITIAL_STATUS = "To Do"


class StatusMap:
    """A project's status name -> category mapping, looked up case-insensitively as
    `Project.category_of` does, and extendable with the names an import brings."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)
        self._folded = {name.casefold(): category for name, category in self.mapping.items()}
        self.added: list[str] = []
        self._initial: str | None = None

    def category(self, status: str) -> str:
        return self._folded[status.casefold()]

    def add_unknown(self, status: str) -> None:
        """Map a name the project does not know to `todo` (METRICS: reported at import)."""
        if status.casefold() not in self._folded:
            self.mapping[status] = TO_DO
            self._folded[status.casefold()] = TO_DO
            self.added.append(status)
            self._initial = None

    def initial_status(self) -> str:
        """Where a new item starts: "To Do" when the project maps it to todo, else the first
        todo name alphabetically (jsonb keeps no key order, so "first" must be defined)."""
        if self._initial is None:
            todo = sorted(name for name, category in self.mapping.items() if category == TO_DO)
            preferred = [name for name in todo if name.casefold() == INITIAL_STATUS.casefold()]
            if not todo:
                self.add_unknown(INITIAL_STATUS)
            self._initial = (preferred or todo or [INITIAL_STATUS])[0]
        return self._initial


@dataclass
class ItemPlan:
    """A work item's columns, as its events say they must be."""

    row: IssueRow
    created_at: dt.datetime
    status: str
    category: str
    started_at: dt.datetime | None
    done_at: dt.datetime | None
    sprint: str | None
    story_points: Decimal | None
    events: list[EventPlan] = field(default_factory=list)


def extend_status_maps(data: ImportData, maps: Mapping[str, StatusMap]) -> None:
    """Add to each project's mapping the status names its rows use and it does not map."""
    project_of = {row.key: row.project for row in data.issues if row.project in maps}
    for row in data.issues:
        if row.project in maps:
            maps[row.project].add_unknown(row.status)
    for event in data.events:
        if event.field == STATUS and event.key in project_of:
            for name in (event.from_value, event.to_value):
                if isinstance(name, str):
                    maps[project_of[event.key]].add_unknown(name)


def _created_at(
    row: IssueRow,
    sprints: list[SprintRow],
    events: list[EventRow],
    as_of: dt.datetime | None,
    report: ImportReport,
) -> dt.datetime | None:
    """The created time, or for a row without one the earliest instant the item is known to
    exist (lead time is then a lower bound, never an invented longer one)."""
    if row.created is not None:
        return row.created
    known = [row.resolved, sprints[0].start if sprints else None, as_of]
    known += [events[0].at] if events else []
    candidates = [value for value in known if value is not None]
    if not candidates:
        report.error(ISSUES, row.line, "created is empty and nothing else dates the item")
        return None
    created = min(candidates)
    report.warn(
        ISSUES,
        row.line,
        f"created is empty; using {created:%Y-%m-%dT%H:%M:%SZ}, the earliest of resolved, "
        "first sprint start, first event and data_as_of",
    )
    return created


def _status_event(at: dt.datetime, source: str, target: str, statuses: StatusMap) -> EventPlan:
    return EventPlan(
        kind=STATUS,
        at=at,
        from_status=source,
        to_status=target,
        from_category=statuses.category(source) if source else "",
        to_category=statuses.category(target),
    )


def _derived_status(
    item: ItemPlan,
    sprints: list[SprintRow],
    as_of: dt.datetime | None,
    statuses: StatusMap,
    report: ImportReport,
) -> list[EventPlan]:
    """No status events given: created in a todo status, then, when the item is in progress
    or done now, one move to its current status (at `resolved` when done)."""
    row, created = item.row, item.created_at
    initial = row.status if item.category == TO_DO else statuses.initial_status()
    events = [_status_event(created, "", initial, statuses)]
    if row.resolved is not None and item.category != DONE:
        report.warn(ISSUES, row.line, f"resolved is ignored: status {row.status!r} is not done")
    if item.category == IN_PROGRESS:
        # Pulled into work when its current sprint started, never after the snapshot.
        moved = created
        if sprints:
            sprint_start = sprints[-1].start
            moved = max(created, sprint_start if as_of is None else min(sprint_start, as_of))
        events.append(_status_event(moved, initial, row.status, statuses))
    elif item.category == DONE:
        moved = row.resolved
        if moved is None and as_of is not None:
            moved = max(created, as_of)
            report.warn(
                ISSUES,
                row.line,
                f"status {row.status!r} means done but resolved is empty; done time set to "
                "data_as_of, the only time it is known to be done",
            )
        if moved is None:
            report.error(
                ISSUES,
                row.line,
                f"status {row.status!r} means done but resolved is empty, and the project has "
                "no data_as_of to date it",
            )
            return events
        events.append(_status_event(moved, initial, row.status, statuses))
    return events


def _given_status(
    item: ItemPlan, given: list[EventRow], statuses: StatusMap, report: ImportReport
) -> list[EventPlan]:
    """Status events from events.csv; the item is created in the first event's `from`
    status (or the initial todo status) unless that first event is the creation itself."""
    first = given[0]
    events: list[EventPlan] = []
    if first.at > item.created_at or first.from_value is not None:
        initial = str(first.from_value or statuses.initial_status())
        events.append(_status_event(item.created_at, "", initial, statuses))
    previous = events[-1].to_status if events else ""
    for row in given:
        target = str(row.to_value)
        events.append(_status_event(row.at, str(row.from_value or previous), target, statuses))
        previous = target
    if previous.casefold() != item.row.status.casefold():
        report.error(
            EVENTS,
            given[-1].line,
            f"the last status event of {item.row.key} goes to {previous!r} but {ISSUES} "
            f"line {item.row.line} says its status is {item.row.status!r}",
        )
    return events


def _derived_sprints(
    item: ItemPlan, sprints: list[SprintRow], as_of: dt.datetime | None
) -> list[EventPlan]:
    """Joins each listed sprint, in start order, when it starts (or when the item is
    created, if later), leaving the previous one at that moment. A sprint that starts after
    data_as_of is joined at data_as_of: the item was in it then, and no event lies after the
    snapshot."""
    events, previous = [], None
    for sprint in sprints:
        start = sprint.start if as_of is None else min(sprint.start, as_of)
        at = max(item.created_at, start)
        events.append(EventPlan(SPRINT, at, from_sprint=previous, to_sprint=sprint.sprint_id))
        previous = sprint.sprint_id
    return events


def _given_sprints(item: ItemPlan, given: list[EventRow]) -> list[EventPlan]:
    events: list[EventPlan] = []
    if given[0].from_value is not None:
        first = str(given[0].from_value)
        events.append(EventPlan(SPRINT, item.created_at, to_sprint=first))
    previous = events[-1].to_sprint if events else None
    for row in given:
        source = str(row.from_value) if row.from_value is not None else previous
        target = str(row.to_value) if row.to_value is not None else None
        events.append(EventPlan(SPRINT, row.at, from_sprint=source, to_sprint=target))
        previous = target
    return events


def _given_points(item: ItemPlan, given: list[EventRow], report: ImportReport) -> list[EventPlan]:
    events, previous = [], None
    for row in given:
        source = row.from_value if row.from_value is not None else previous
        target = row.to_value
        events.append(EventPlan(POINTS, row.at, from_points=source, to_points=target))  # type: ignore[arg-type]
        previous = target
    if previous != item.row.story_points:
        report.error(
            EVENTS,
            given[-1].line,
            f"the last points event of {item.row.key} gives {previous} but {ISSUES} line "
            f"{item.row.line} says story_points {item.row.story_points}",
        )
    return events


# Creation first, then membership, then the other moves, when several share an instant.
def _order(event: EventPlan) -> tuple[dt.datetime, int]:
    creation = event.kind == STATUS and not event.from_status
    return event.at, 0 if creation else {SPRINT: 1, STATUS: 2, POINTS: 3}[event.kind]


def _summarize(item: ItemPlan) -> None:
    """The denormalized columns, read off the events (as `portfolio/demo.py` maintains them)."""
    item.events.sort(key=_order)
    for event in item.events:
        apply_event(item, event)


def _grouped(events: Iterable[EventRow]) -> dict[tuple[str, str], list[EventRow]]:
    grouped: dict[tuple[str, str], list[EventRow]] = {}
    for event in sorted(events, key=lambda event: (event.at, event.line)):
        grouped.setdefault((event.key, event.field), []).append(event)
    return grouped


def plan_items(
    data: ImportData,
    *,
    statuses: Mapping[str, StatusMap],
    as_of: Mapping[str, dt.datetime | None],
    report: ImportReport,
) -> list[ItemPlan]:
    """Every item's history and columns; rows with errors are reported and left out."""
    sprints = {(row.project, row.sprint_id): row for row in data.sprints}
    given = _grouped(data.events)
    plans: list[ItemPlan] = []
    for row in data.issues:
        project_statuses, project_as_of = statuses[row.project], as_of[row.project]
        listed = sorted(
            (sprints[row.project, sprint_id] for sprint_id in row.sprint_ids),
            key=lambda sprint: (sprint.start, sprint.sprint_id),
        )
        own = {kind: given.get((row.key, kind), []) for kind in (STATUS, SPRINT, POINTS)}
        all_given = sorted((e for rows in own.values() for e in rows), key=lambda e: e.at)
        created = _created_at(row, listed, all_given, project_as_of, report)
        if created is None:
            continue
        too_early = [event for event in all_given if event.at < created]
        for event in too_early:
            report.error(EVENTS, event.line, f"{event.field} event is before {row.key} was created")
        if too_early:
            continue
        errors_before = len(report.errors)
        item = ItemPlan(
            row=row,
            created_at=created,
            status=row.status,
            category=project_statuses.category(row.status),
            started_at=None,
            done_at=None,
            sprint=None,
            story_points=row.story_points,
        )
        if own[STATUS]:
            item.events += _given_status(item, own[STATUS], project_statuses, report)
        else:
            item.events += _derived_status(item, listed, project_as_of, project_statuses, report)
        if own[SPRINT]:
            item.events += _given_sprints(item, own[SPRINT])
        else:
            item.events += _derived_sprints(item, listed, project_as_of)
        if own[POINTS]:
            item.events += _given_points(item, own[POINTS], report)
        if len(report.errors) == errors_before:
            _summarize(item)
            plans.append(item)
    return plans
