"""Every metrics selector runs a constant number of queries, whatever the size of the history
or of the portfolio: one permission query (two for the portfolio summary) plus one SQL query
per figure. Each case is measured at a small and at a larger data size.

Each selector is called once before measuring: the first permission check of a process fills
Django's ContentType cache (two queries), which is not the selector's cost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from metrics import selectors
from portfolio.models import Project, Sprint
from tests.factories import EpicFactory, ProjectFactory, SprintFactory
from tests.metrics.history import item, utc

FIRST_SPRINT = utc(2026, 1, 5, 9)
NOW = utc(2026, 3, 20, 12)


def populate(
    project: Project, *, sprints: int, items_per_sprint: int, first: int = 0
) -> list[Sprint]:
    """Closed sprints with items committed, added, re-estimated, started and done."""
    created = []
    for number in range(first, first + sprints):
        start = FIRST_SPRINT + dt.timedelta(days=14 * number)
        sprint = SprintFactory(project=project, name=f"Sprint {number + 1}", start=start)
        created.append(sprint)
        for position in range(items_per_sprint):
            history = item(
                project,
                f"{project.key}-{number}-{position}",
                created=start - dt.timedelta(days=3),
                points=position % 5,
            ).join(sprint, start - dt.timedelta(days=1 - (position % 2) * 2))
            history.points(position % 3 + 1, start + dt.timedelta(days=2)).start(
                start + dt.timedelta(days=3)
            )
            if position % 3:
                history.done(start + dt.timedelta(days=4 + position % 7))
    return created


Read = Callable[..., object]

PROJECT_READS: dict[str, Read] = {
    "sprint_summaries": lambda world, sprint: selectors.sprint_summaries(
        user=world.pmo_leader, project=world.own_project, last=3
    ),
    "sprint_burndown": lambda world, sprint: selectors.sprint_burndown(
        user=world.pmo_leader, sprint=sprint
    ),
    "cycle_times": lambda world, sprint: selectors.cycle_times(
        user=world.pmo_leader,
        project=world.own_project,
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 4, 1),
    ),
    "throughput": lambda world, sprint: selectors.throughput(
        user=world.pmo_leader,
        project=world.own_project,
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 4, 1),
    ),
    "wip_aging": lambda world, sprint: selectors.wip_aging(
        user=world.pmo_leader, project=world.own_project, now=NOW
    ),
    "cumulative_flow": lambda world, sprint: selectors.cumulative_flow(
        user=world.pmo_leader,
        project=world.own_project,
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 4, 1),
    ),
    "forecast_when": lambda world, sprint: selectors.forecast_when(
        user=world.pmo_leader, project=world.own_project, remaining=10, now=NOW, trials=500
    ),
    "forecast_how_many": lambda world, sprint: selectors.forecast_how_many(
        user=world.pmo_leader,
        project=world.own_project,
        until=dt.date(2026, 4, 30),
        now=NOW,
        trials=500,
    ),
    "epic_ranking": lambda world, sprint: selectors.epic_ranking(
        user=world.pmo_leader, portfolio=world.own
    ),
}


@pytest.mark.parametrize("read", PROJECT_READS.values(), ids=PROJECT_READS.keys())
def test_project_level_selectors_run_two_queries_at_any_history_size(
    world, django_assert_num_queries, read
):
    # given: a small history
    (sprint,) = populate(world.own_project, sprints=1, items_per_sprint=2)
    EpicFactory(portfolio=world.own)
    read(world, sprint)

    # when / then
    with django_assert_num_queries(2):
        read(world, sprint)

    # given: a larger history (more sprints, items and epics, other projects' history too)
    *_earlier, sprint = populate(world.own_project, sprints=4, items_per_sprint=12, first=1)
    populate(world.sibling_project, sprints=3, items_per_sprint=5)
    for _ in range(10):
        EpicFactory(portfolio=world.own)

    # when / then
    with django_assert_num_queries(2):
        read(world, sprint)


@pytest.mark.parametrize("role", ["pmo_leader", "team_lead", "admin"])
def test_portfolio_flow_summary_runs_four_queries_whatever_the_number_of_projects(
    world, django_assert_num_queries, role
):
    # given: the two projects of the portfolio with a little history
    user = getattr(world, role)
    populate(world.own_project, sprints=1, items_per_sprint=2)
    populate(world.sibling_project, sprints=1, items_per_sprint=1)
    selectors.portfolio_flow_summary(user=user, portfolio=world.own, now=NOW)
    # a superuser needs no visibility query
    expected = 3 if role == "admin" else 4

    # when / then
    with django_assert_num_queries(expected):
        small = selectors.portfolio_flow_summary(user=user, portfolio=world.own, now=NOW)

    # given: five more projects with longer histories
    for number in range(5):
        populate(
            ProjectFactory(portfolio=world.own, key=f"MORE{number}"),
            sprints=3,
            items_per_sprint=4,
        )

    # when / then
    with django_assert_num_queries(expected):
        large = selectors.portfolio_flow_summary(user=user, portfolio=world.own, now=NOW)
    if role == "team_lead":
        assert len(small) == len(large) == 1
    else:
        assert (len(small), len(large)) == (2, 7)
