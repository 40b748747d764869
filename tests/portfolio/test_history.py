"""The one rule that turns a work item's events into its denormalized columns."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from portfolio.history import POINTS, SPRINT, STATUS, EventPlan, apply_event

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


@dataclass
class Columns:
    status: str = ""
    category: str = ""
    started_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    sprint: int | str | None = None
    story_points: Decimal | None = None


def at(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def status(hours: int, name: str, category: str) -> EventPlan:
    return EventPlan(STATUS, at(hours), to_status=name, to_category=category)


def test_a_reopened_item_keeps_its_first_start_and_takes_its_last_done_time():
    item = Columns()
    for event in (
        status(0, "To Do", "todo"),
        status(1, "In Progress", "in_progress"),
        status(2, "Done", "done"),
        status(3, "Reopened", "todo"),
        status(4, "Done", "done"),
    ):
        apply_event(item, event)

    assert (item.status, item.category) == ("Done", "done")
    assert item.started_at == at(1)
    assert item.done_at == at(4)


def test_an_item_done_straight_from_to_do_starts_when_it_is_done():
    item = Columns()
    apply_event(item, status(0, "To Do", "todo"))
    apply_event(item, status(5, "Done", "done"))

    assert item.started_at == item.done_at == at(5)


def test_reopening_clears_the_done_time():
    item = Columns()
    apply_event(item, status(0, "Done", "done"))
    apply_event(item, status(1, "Reopened", "todo"))

    assert item.done_at is None


def test_sprint_and_points_follow_the_last_event():
    item = Columns()
    apply_event(item, EventPlan(SPRINT, at(0), to_sprint="S1"))
    apply_event(item, EventPlan(SPRINT, at(1), from_sprint="S1", to_sprint=None))
    apply_event(item, EventPlan(POINTS, at(2), to_points=Decimal(5)))

    assert item.sprint is None
    assert item.story_points == Decimal(5)
