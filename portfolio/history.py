"""A work item's history as plain values, and the one rule that turns it into WorkItem columns.

`WorkItem.status`, `category`, `started_at`, `done_at`, `sprint` and `story_points` summarise
the item's WorkItemEvent rows (see portfolio/models.py). The demo seeder and the history
importer both plan events before writing them; both apply this rule, so seeded and imported
items can never disagree on what their history means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from portfolio.models import Category, WorkItemEvent

STATUS = WorkItemEvent.Kind.STATUS.value
SPRINT = WorkItemEvent.Kind.SPRINT.value
POINTS = WorkItemEvent.Kind.POINTS.value


@dataclass(frozen=True, slots=True)
class EventPlan:
    """One WorkItemEvent to write. A sprint is referred to as its planner knows it (the
    seeder: an index into the project's sprints; the importer: the input's sprint_id)."""

    kind: str
    at: dt.datetime
    from_status: str = ""
    to_status: str = ""
    from_category: str = ""
    to_category: str = ""
    from_sprint: int | str | None = None
    to_sprint: int | str | None = None
    from_points: Decimal | None = None
    to_points: Decimal | None = None


class ItemColumns(Protocol):
    status: str
    category: str
    started_at: dt.datetime | None
    done_at: dt.datetime | None
    sprint: int | str | None
    story_points: Decimal | None


def apply_event(item: ItemColumns, event: EventPlan) -> None:
    """Move the columns forward by one event (events must be applied in time order).

    Status: the last status event's; start: the first entry into in progress or done (an
    item that skipped in progress starts when it is done); done time: the last entry into
    done while it is done. Sprint and points: the last event's target."""
    if event.kind == STATUS:
        item.status, item.category = event.to_status, event.to_category
        if item.started_at is None and event.to_category in (Category.IN_PROGRESS, Category.DONE):
            item.started_at = event.at
        item.done_at = event.at if event.to_category == Category.DONE else None
    elif event.kind == SPRINT:
        item.sprint = event.to_sprint
    else:
        item.story_points = event.to_points
