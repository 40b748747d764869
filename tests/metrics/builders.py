"""Scenario builders for the health, risk, dashboard and API tests: small histories whose
figures can be computed by hand (constant throughput, sprints with a chosen say/do, items
with a chosen cycle time or age), written through tests.metrics.history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from portfolio.models import Project, Sprint
from tests.factories import SprintFactory
from tests.metrics.history import ItemHistory, item, utc

NOW = utc(2026, 3, 20, 12)  # a Friday
TODAY = dt.date(2026, 3, 20)
DAY = dt.timedelta(days=1)


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def steady_throughput(
    project: Project, *, days: int, per_day: int = 1, today: dt.date = TODAY, prefix: str = "D"
) -> None:
    """`per_day` items done at noon on each of the `days` days before `today`, the project's
    first item created at midnight of the first of them: a forecast history of exactly
    `days` days of constant throughput, so every trial needs the same number of days."""
    first = today - days * DAY
    for number in range(days):
        for index in range(per_day):
            item(project, f"{project.key}-{prefix}{number}x{index}", created=midnight(first)).done(
                noon(first + number * DAY)
            )


def open_items(
    project: Project, count: int, *, created: dt.datetime, prefix: str = "O"
) -> list[ItemHistory]:
    return [item(project, f"{project.key}-{prefix}{n}", created=created) for n in range(count)]


def closed_sprint(
    project: Project,
    name: str,
    *,
    start: dt.datetime,
    committed: str | int,
    completed: str | int,
    days: int = 14,
) -> Sprint:
    """A closed sprint committing `committed` points, of which `completed` are done inside
    it: one item of `completed` points done, one of the rest left open (say/do =
    completed / committed)."""
    sprint = SprintFactory(
        project=project, name=name, start=start, end=start + days * DAY, state=Sprint.State.CLOSED
    )
    rest = Decimal(committed) - Decimal(completed)
    created = start - 2 * DAY
    if Decimal(completed) > 0:
        item(project, f"{project.key}-{name}-done", created=created, points=completed).join(
            sprint, start - DAY
        ).start(start + DAY).done(start + 2 * DAY)
    if rest > 0:
        item(project, f"{project.key}-{name}-left", created=created, points=rest).join(
            sprint, start - DAY
        )
    return sprint
