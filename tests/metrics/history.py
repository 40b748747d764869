"""A concise, consistent way to write work-item histories in tests.

`item(project, "PAY-1", created=..., points=3)` creates the WorkItem with its first status
event ("To Do" at created_at, from_status empty); each chained call (`.join(sprint, at)`,
`.start(at)`, `.done(at)`, `.reopen(at)`, `.points(5, at)`, `.leave(at)`) writes one
WorkItemEvent and keeps WorkItem's denormalized columns equal to what the history says:
status and category, started_at (first entry into in_progress, or into done for an item
that skipped in_progress), done_at (last entry into a done status while done), sprint and
story_points, by the same rules as portfolio.demo and portfolio.importing. Events must be
written in time order.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal

from portfolio.models import Category, Project, Sprint, WorkItem, WorkItemEvent

UTC = dt.UTC

Points = int | str | Decimal | None


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def _points(value: Points) -> Decimal | None:
    return None if value is None else Decimal(value)


class ItemHistory:
    def __init__(self, work_item: WorkItem) -> None:
        self.work_item = work_item
        self.last_at = work_item.created_at

    def _event(self, at: dt.datetime, **fields: object) -> None:
        if at < self.last_at:
            raise AssertionError(f"{self.work_item.key}: events go in time order ({at}).")
        self.last_at = at
        WorkItemEvent.objects.create(
            work_item=self.work_item, project=self.work_item.project, at=at, **fields
        )

    def _save(self) -> ItemHistory:
        self.work_item.save(
            update_fields=["status", "category", "started_at", "done_at", "sprint", "story_points"]
        )
        return self

    def status(self, name: str, at: dt.datetime) -> ItemHistory:
        item = self.work_item
        category = item.project.category_of(name)
        assert category is not None, f"unknown status {name!r}"
        self._event(
            at,
            kind=WorkItemEvent.Kind.STATUS,
            from_status=item.status,
            to_status=name,
            from_category=item.category,
            to_category=category,
        )
        if category in (Category.IN_PROGRESS, Category.DONE) and item.started_at is None:
            item.started_at = at
        if category != Category.DONE:
            item.done_at = None
        elif name != item.status:  # entering a done status; repeating one is no entry
            item.done_at = at
        item.status, item.category = name, category
        return self._save()

    def start(self, at: dt.datetime) -> ItemHistory:
        return self.status("In Progress", at)

    def done(self, at: dt.datetime) -> ItemHistory:
        return self.status("Done", at)

    def reopen(self, at: dt.datetime) -> ItemHistory:
        return self.status("Reopened", at)

    def join(self, sprint: Sprint | None, at: dt.datetime) -> ItemHistory:
        item = self.work_item
        self._event(at, kind=WorkItemEvent.Kind.SPRINT, from_sprint=item.sprint, to_sprint=sprint)
        item.sprint = sprint
        return self._save()

    def leave(self, at: dt.datetime) -> ItemHistory:
        return self.join(None, at)

    def points(self, value: Points, at: dt.datetime) -> ItemHistory:
        item = self.work_item
        self._event(
            at,
            kind=WorkItemEvent.Kind.POINTS,
            from_points=item.story_points,
            to_points=_points(value),
        )
        item.story_points = _points(value)
        return self._save()


def item(
    project: Project,
    key: str,
    *,
    created: dt.datetime,
    points: Points = 3,
    status: str = "To Do",
    title: str = "",
) -> ItemHistory:
    category = project.category_of(status)
    assert category is not None, f"unknown status {status!r}"
    work_item = WorkItem.objects.create(
        project=project,
        key=key,
        title=title or key,
        story_points=_points(points),
        status=status,
        category=category,
        created_at=created,
        started_at=created if category != Category.TO_DO else None,
        done_at=created if category == Category.DONE else None,
    )
    WorkItemEvent.objects.create(
        work_item=work_item,
        project=project,
        kind=WorkItemEvent.Kind.STATUS,
        at=created,
        to_status=status,
        to_category=category,
    )
    return ItemHistory(work_item)


# ---------------------------------------------------------------------------------------------
# An independent reference: a plain-Python replay of METRICS.md, event by event, and random
# histories to compare the SQL engine against it.
# ---------------------------------------------------------------------------------------------

EPSILON = dt.timedelta(microseconds=1)


class Replay:
    """The state of one item after the events that `happened` (a predicate), in (at, id)
    order: a deliberately naive loop, sharing no code or SQL with metrics.flow."""

    def __init__(self, work_item: WorkItem, events: list[WorkItemEvent]) -> None:
        self.work_item = work_item
        self.events = sorted(events, key=lambda event: (event.at, event.id))

    def state(self, happened: Callable[[WorkItemEvent], bool]) -> dict[str, object]:
        sprint = category = status = done_at = None
        points_events = [event for event in self.events if event.kind == "points"]
        points = points_events[0].from_points if points_events else self.work_item.story_points
        for event in self.events:
            if not happened(event):
                continue
            if event.kind == "sprint":
                sprint = event.to_sprint_id
            elif event.kind == "points":
                points = event.to_points
            else:
                if event.to_category == "done" and event.to_status != status:
                    done_at = event.at
                status, category = event.to_status, event.to_category
        return {
            "sprint": sprint,
            "category": category,
            "done_at": done_at if category == "done" else None,
            "points": points or Decimal(0),
        }

    def at(self, instant: dt.datetime) -> dict[str, object]:
        return self.state(lambda event: event.at <= instant)

    def upto(self, change: WorkItemEvent) -> dict[str, object]:
        return self.state(lambda event: (event.at, event.id) <= (change.at, change.id))


def replays(project: Project) -> list[Replay]:
    events: dict[int, list[WorkItemEvent]] = {}
    for event in WorkItemEvent.objects.filter(project=project):
        events.setdefault(event.work_item_id, []).append(event)
    return [
        Replay(work_item, events.get(work_item.pk, [])) for work_item in project.work_items.all()
    ]


def reference_sprint_figures(sprint: Sprint, items: list[Replay]) -> dict[str, Decimal]:
    start, close = sprint.start, sprint.close
    figures = dict.fromkeys(["committed", "completed", "added", "removed"], Decimal(0))
    for replay in items:
        if replay.at(start)["sprint"] == sprint.pk:
            figures["committed"] += replay.at(start)["points"]
        at_close = replay.at(close)
        done_at = at_close["done_at"]
        if at_close["sprint"] == sprint.pk and done_at is not None and start <= done_at < close:
            figures["completed"] += at_close["points"]
        for event in replay.events:
            if event.kind == "sprint" and start < event.at < close:
                if event.to_sprint_id == sprint.pk:
                    figures["added"] += replay.upto(event)["points"]
                if event.from_sprint_id == sprint.pk:
                    figures["removed"] += replay.upto(event)["points"]
    return figures


def reference_burndown(
    sprint: Sprint, items: list[Replay], zone: dt.tzinfo
) -> list[tuple[dt.date, Decimal, Decimal, Decimal, Decimal]]:
    """(day, remaining, added, removed, re-estimated) per local day of the sprint."""
    start, close = sprint.start, sprint.close
    days = []
    day = start.astimezone(zone).date()
    while day <= (close - EPSILON).astimezone(zone).date():
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        measured = min(midnight, close) - EPSILON
        remaining = added = removed = reestimated = Decimal(0)
        for replay in items:
            state = replay.at(measured)
            if state["sprint"] == sprint.pk and state["category"] != "done":
                remaining += state["points"]
            for event in replay.events:
                if not (start < event.at < close and event.at.astimezone(zone).date() == day):
                    continue
                if event.kind == "sprint" and event.to_sprint_id == sprint.pk:
                    added += replay.upto(event)["points"]
                if event.kind == "sprint" and event.from_sprint_id == sprint.pk:
                    removed += replay.upto(event)["points"]
                if event.kind == "points" and replay.upto(event)["sprint"] == sprint.pk:
                    reestimated += (event.to_points or 0) - (event.from_points or 0)
        days.append((day, remaining, added, removed, reestimated))
        day += dt.timedelta(days=1)
    return days


def random_history(
    project: Project, sprints: list[Sprint], *, items: int, seed: int, instants: list[dt.datetime]
) -> None:
    """Items doing random moves (sprint changes, statuses among every category, re-estimates
    including empty points) at instants drawn from `instants`, which should include the
    sprints' starts and closes and local midnights, with repeats so events share instants."""
    rng = random.Random(seed)
    statuses = ["To Do", "In Progress", "Blocked", "Done", "Closed", "Reopened"]
    for number in range(items):
        moments = sorted(rng.choices(instants, k=rng.randint(1, 9)))
        history = item(
            project, f"{project.key}-{number}", created=moments[0], points=rng.choice([None, 3])
        )
        for moment in moments:
            move = rng.random()
            if move < 0.35:
                current = history.work_item.sprint
                history.join(rng.choice([s for s in [*sprints, None] if s != current]), moment)
            elif move < 0.75:
                history.status(rng.choice(statuses), moment)
            else:
                history.points(rng.choice([None, 0, 1, 2, 5, 8]), moment)
