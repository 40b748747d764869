"""Sprints without item membership (flow.py decision 16) and stored figures of closed sprints
(decision 17), with hand-computed expectations; and the burndown point that the sprint
figures give active sprints, against the burndown itself."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from metrics.flow import burndown_unsafe, sprint_figures_unsafe
from metrics.freezing import sprint_figures_freeze
from metrics.selectors import sprint_summaries
from metrics.snapshots import latest_ended_day
from portfolio.models import Sprint
from tests.factories import SprintFactory
from tests.metrics.history import item, random_history, utc

START = utc(2026, 1, 5, 9)
CLOSE = utc(2026, 1, 16, 17)
BEFORE = utc(2026, 1, 2, 12)


def figures(world, sprint: Sprint):
    (row,) = [
        row
        for row in sprint_summaries(user=world.pmo_leader, project=world.own_project)
        if row.sprint_id == sprint.pk
    ]
    return row


def test_velocity_without_membership_is_the_points_resolved_inside_the_window(world):
    # given: a window-only sprint [5 Jan 09:00, 16 Jan 17:00) and items in no sprint
    project = world.own_project
    sprint = SprintFactory(project=project, start=START, completed_at=CLOSE, membership_known=False)
    item(project, "PAY-1", created=BEFORE, points=3).done(utc(2026, 1, 6, 10))
    item(project, "PAY-2", created=BEFORE, points=5).done(START)  # at start: inside
    item(project, "PAY-3", created=BEFORE, points=8).done(CLOSE)  # at close: outside
    item(project, "PAY-4", created=BEFORE, points=2).done(utc(2026, 1, 3, 10))  # before
    item(project, "PAY-5", created=BEFORE, points=None).done(utc(2026, 1, 9, 10))  # unestimated
    item(project, "PAY-6", created=BEFORE, points=13).start(utc(2026, 1, 7, 10))  # not done

    # when
    row = figures(world, sprint)

    # then: 3 + 5 + 0, over three items; the rest is not defined
    assert (row.completed_items, row.completed_points) == (3, Decimal("8"))
    assert row.membership_known is False
    assert row.committed_points is None
    assert row.added_points is None
    assert row.removed_points is None
    assert row.say_do is None


def test_an_item_resolved_where_two_windows_overlap_counts_in_both(world):
    # given: sprint 2 starts four hours before sprint 1 closes
    project = world.own_project
    first = SprintFactory(
        project=project, name="S1", start=START, completed_at=CLOSE, membership_known=False
    )
    second = SprintFactory(
        project=project,
        name="S2",
        start=CLOSE - dt.timedelta(hours=4),
        end=CLOSE + dt.timedelta(days=14),
        membership_known=False,
    )
    item(project, "PAY-1", created=BEFORE, points=5).done(CLOSE - dt.timedelta(hours=1))

    # then
    assert figures(world, first).completed_points == Decimal("5")
    assert figures(world, second).completed_points == Decimal("5")


def test_rolling_velocity_averages_window_velocities_like_any_other(world):
    # given: three window-only sprints completing 3, 6 and 9 points
    project = world.own_project
    sprints = []
    for number, points in enumerate((3, 6, 9)):
        start = START + dt.timedelta(days=14 * number)
        sprints.append(
            SprintFactory(
                project=project,
                name=f"S{number}",
                start=start,
                completed_at=start + dt.timedelta(days=10),
                membership_known=False,
            )
        )
        item(project, f"PAY-{number}", created=BEFORE, points=points).done(
            start + dt.timedelta(days=1)
        )

    # then
    assert figures(world, sprints[-1]).rolling_velocity == Decimal("6")


@pytest.mark.parametrize("seed", [4, 5])
def test_stored_figures_of_closed_sprints_equal_the_live_replay(world, seed):
    # given: random histories over two closed sprints and an active one
    project = world.own_project
    sprints = [
        SprintFactory(
            project=project,
            name=f"Sprint {number}",
            start=START + dt.timedelta(days=7 * number),
            completed_at=START + dt.timedelta(days=7 * number + 7) if number < 2 else None,
            end=START + dt.timedelta(days=7 * number + 7),
            state=Sprint.State.CLOSED if number < 2 else Sprint.State.ACTIVE,
        )
        for number in range(3)
    ]
    instants = [START + dt.timedelta(hours=12 * step) for step in range(-6, 44)]
    random_history(project, sprints, items=40, seed=seed, instants=instants)
    live = sprint_figures_unsafe(project_ids=[project.pk], states=["closed", "active"])

    # when
    stored = sprint_figures_freeze(project_ids=[project.pk])

    # then: the two closed sprints are stored, and reading them gives the live figures
    assert stored == 2
    assert Sprint.objects.filter(project=project, frozen_figures__isnull=False).count() == 2
    assert sprint_figures_unsafe(project_ids=[project.pk], states=["closed", "active"]) == live


def test_stored_figures_are_what_later_reads_use(world):
    # given: a closed sprint whose stored figures differ from its (empty) history
    project = world.own_project
    sprint = SprintFactory(project=project, start=START, completed_at=CLOSE)
    sprint.frozen_figures = {
        "committed_items": 2,
        "committed_points": "10.5",
        "completed_items": 1,
        "completed_points": "5",
        "added_items": 0,
        "added_points": "0",
        "removed_items": 0,
        "removed_points": "0",
    }
    sprint.save(update_fields=["frozen_figures"])

    # when
    row = figures(world, sprint)

    # then: no replay happened; the stored numbers come back exactly
    assert (row.committed_points, row.completed_points) == (Decimal("10.5"), Decimal("5"))
    assert row.say_do == pytest.approx(5 / 10.5)


def test_freezing_forgets_the_figures_of_a_sprint_that_is_no_longer_closed(world):
    # given
    project = world.own_project
    sprint = SprintFactory(project=project, start=START, completed_at=CLOSE)
    sprint_figures_freeze(project_ids=[project.pk])
    Sprint.objects.filter(pk=sprint.pk).update(state=Sprint.State.ACTIVE, completed_at=None)

    # when
    sprint_figures_freeze(project_ids=[project.pk])

    # then
    sprint.refresh_from_db()
    assert sprint.frozen_figures is None


@pytest.mark.parametrize(
    ("seed", "time_zone"), [(6, "UTC"), (7, "America/New_York"), (8, "Asia/Kolkata")]
)
def test_an_active_sprints_point_equals_its_burndowns_latest_ended_day(world, seed, time_zone):
    # given: random histories around an active sprint that spans a DST change in New York
    project = world.own_project
    project.time_zone = time_zone
    project.save(update_fields=["time_zone"])
    start = utc(2026, 3, 2, 14)
    sprint = SprintFactory(
        project=project, name="Sprint 1", start=start, end=start + dt.timedelta(days=14),
        state=Sprint.State.ACTIVE,
    )  # fmt: skip
    instants = [start + dt.timedelta(hours=5 * step) for step in range(-8, 70)]
    random_history(project, [sprint], items=30, seed=seed, instants=instants)
    burndown = burndown_unsafe(sprint_id=sprint.pk, project_id=project.pk)

    nows = [start + dt.timedelta(hours=hours) for hours in (1, 10, 30, 100, 200, 335, 400)]
    points = []
    for now in nows:
        # when: the sprint figures give the point at `now`
        (figures,) = sprint_figures_unsafe(
            project_ids=[project.pk], states=["active"], point_nows={project.pk: now}
        )
        points.append(figures.point)

    # then: each is the burndown's latest day ended by then; none before the first day ends
    assert points == [latest_ended_day(burndown, now) for now in nows]
    assert points[0] is None
    assert None not in points[2:]
    assert points[-1].measured_before < sprint.end  # after the end: the sprint's last day
