"""Sprint figures (METRICS.md "Sprint figures"), with hand-computed expectations.

Sprint 1 runs from Mon 5 Jan 2026 09:00 UTC and is completed on Fri 16 Jan 17:00 UTC, so its
window is [5 Jan 09:00, 16 Jan 17:00). Sprint 2 follows from 19 Jan 09:00 to 2 Feb 09:00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from metrics.selectors import sprint_summaries
from portfolio.models import Sprint
from tests.factories import SprintFactory
from tests.metrics.history import item, random_history, reference_sprint_figures, replays, utc

START = utc(2026, 1, 5, 9)
CLOSE = utc(2026, 1, 16, 17)
BEFORE = utc(2026, 1, 2, 12)


@pytest.fixture
def sprint(world) -> Sprint:
    return SprintFactory(
        project=world.own_project, name="Sprint 1", start=START, completed_at=CLOSE
    )


@pytest.fixture
def next_sprint(world) -> Sprint:
    return SprintFactory(
        project=world.own_project,
        name="Sprint 2",
        start=utc(2026, 1, 19, 9),
        end=utc(2026, 2, 2, 9),
    )


def figures_of(world, sprint: Sprint):
    (figures,) = [
        row
        for row in sprint_summaries(user=world.pmo_leader, project=world.own_project)
        if row.sprint_id == sprint.pk
    ]
    return figures


def test_scope_joined_at_start_is_committed_and_scope_changed_inside_the_window_is_added_or_removed(
    world, sprint
):
    # given
    project = world.own_project
    item(project, "PAY-1", created=BEFORE, points=3).join(sprint, BEFORE)
    item(project, "PAY-2", created=BEFORE, points=5).join(sprint, START)
    item(project, "PAY-3", created=BEFORE, points=2).join(sprint, utc(2026, 1, 7, 10))
    item(project, "PAY-4", created=BEFORE, points=8).join(sprint, BEFORE).leave(utc(2026, 1, 8, 10))
    item(project, "PAY-5", created=BEFORE, points=13)  # never in the sprint

    # when
    figures = figures_of(world, sprint)

    # then: committed = 3 + 5 + 8 (PAY-4 was in at start); added = PAY-3; removed = PAY-4
    assert (figures.committed_items, figures.committed_points) == (3, Decimal(16))
    assert (figures.added_items, figures.added_points) == (1, Decimal(2))
    assert (figures.removed_items, figures.removed_points) == (1, Decimal(8))


def test_added_and_removed_scope_use_the_points_at_the_moment_of_the_event(world, sprint):
    # given: PAY-1 joins at 3 points and is re-estimated to 8 later, PAY-2 leaves after
    # being re-estimated from 5 to 1
    project = world.own_project
    item(project, "PAY-1", created=BEFORE, points=3).join(sprint, utc(2026, 1, 6, 10)).points(
        8, utc(2026, 1, 7, 10)
    )
    item(project, "PAY-2", created=BEFORE, points=5).join(sprint, BEFORE).points(
        1, utc(2026, 1, 6, 10)
    ).leave(utc(2026, 1, 7, 10))

    # when
    figures = figures_of(world, sprint)

    # then
    assert figures.added_points == Decimal(3)
    assert figures.removed_points == Decimal(1)
    assert figures.committed_points == Decimal(5)


def test_reestimate_mid_sprint_commits_points_at_start_and_completes_points_at_close(world, sprint):
    # given: 3 points at start, re-estimated to 5 during the sprint, then done
    item(world.own_project, "PAY-1", created=BEFORE, points=3).join(sprint, BEFORE).points(
        5, utc(2026, 1, 7, 10)
    ).start(utc(2026, 1, 8, 10)).done(utc(2026, 1, 10, 10))

    # when
    figures = figures_of(world, sprint)

    # then
    assert figures.committed_points == Decimal(3)
    assert figures.completed_points == Decimal(5)
    assert figures.velocity == Decimal(5)
    assert figures.say_do == pytest.approx(5 / 3)


def test_points_set_after_start_on_an_unestimated_item_commit_its_earlier_empty_points_as_zero(
    world, sprint
):
    # given: empty points at start, estimated at 2 during the sprint
    item(world.own_project, "PAY-1", created=BEFORE, points=None).join(sprint, BEFORE).points(
        2, utc(2026, 1, 7, 10)
    )
    item(world.own_project, "PAY-2", created=BEFORE, points=4).join(sprint, BEFORE)

    # when
    figures = figures_of(world, sprint)

    # then
    assert (figures.committed_items, figures.committed_points) == (2, Decimal(4))


def test_points_before_the_first_points_event_are_its_from_points(world, sprint):
    # given: PAY-1 is re-estimated from 8 to 2 only after the sprint closed
    item(world.own_project, "PAY-1", created=BEFORE, points=8).join(sprint, BEFORE).points(
        2, utc(2026, 1, 20, 10)
    )

    # when
    figures = figures_of(world, sprint)

    # then: at start its points were 8, not the current 2
    assert figures.committed_points == Decimal(8)


def test_item_reopened_after_done_counts_once_with_its_last_done_time(world, sprint):
    # given
    project = world.own_project
    item(project, "PAY-1", created=BEFORE, points=5).join(sprint, BEFORE).start(
        utc(2026, 1, 6, 10)
    ).done(utc(2026, 1, 7, 10)).reopen(utc(2026, 1, 8, 10)).start(utc(2026, 1, 9, 10)).done(
        utc(2026, 1, 12, 10)
    )
    item(project, "PAY-2", created=BEFORE, points=3).join(sprint, BEFORE).done(
        utc(2026, 1, 8, 10)
    ).reopen(utc(2026, 1, 14, 10))

    # when
    figures = figures_of(world, sprint)

    # then: PAY-1 once; PAY-2 is not done at close
    assert (figures.completed_items, figures.completed_points) == (1, Decimal(5))


def test_items_done_before_the_sprint_started_are_not_completed(world, sprint):
    # given: PAY-1 done before start; PAY-2 done before start, reopened and redone inside
    # the window
    project = world.own_project
    item(project, "PAY-1", created=BEFORE, points=3).done(utc(2026, 1, 3, 10)).join(
        sprint, utc(2026, 1, 4, 10)
    )
    item(project, "PAY-2", created=BEFORE, points=2).done(utc(2026, 1, 3, 10)).join(
        sprint, utc(2026, 1, 4, 10)
    ).reopen(utc(2026, 1, 6, 10)).done(utc(2026, 1, 8, 10))

    # when
    figures = figures_of(world, sprint)

    # then: both committed, only PAY-2 (last done time inside the window) completed
    assert figures.committed_points == Decimal(5)
    assert (figures.completed_items, figures.completed_points) == (1, Decimal(2))


def test_done_time_is_the_last_entry_into_a_done_status_as_metrics_md_words_it(world, sprint):
    # given: both done before start; PAY-1 then moves Done -> Closed inside the window (an
    # entry into the done status Closed), PAY-2 gets a repeated "Done" event (not an entry)
    project = world.own_project
    item(project, "PAY-1", created=BEFORE, points=3).done(utc(2026, 1, 3, 10)).join(
        sprint, utc(2026, 1, 4, 10)
    ).status("Closed", utc(2026, 1, 7, 10))
    item(project, "PAY-2", created=BEFORE, points=2).done(utc(2026, 1, 3, 10)).join(
        sprint, utc(2026, 1, 4, 10)
    ).done(utc(2026, 1, 7, 10))

    # when
    figures = figures_of(world, sprint)

    # then: PAY-1's done time is 7 Jan, inside the window; PAY-2's is still 3 Jan
    assert (figures.completed_items, figures.completed_points) == (1, Decimal(3))


def test_close_is_exclusive_so_an_item_done_at_exactly_close_is_not_completed(world, sprint):
    # given
    project = world.own_project
    item(project, "PAY-1", created=BEFORE, points=3).join(sprint, BEFORE).done(CLOSE)
    item(project, "PAY-2", created=BEFORE, points=5).join(sprint, BEFORE).done(
        utc(2026, 1, 16, 16, 59)
    )

    # when
    figures = figures_of(world, sprint)

    # then
    assert (figures.completed_items, figures.completed_points) == (1, Decimal(5))


def test_done_item_removed_from_the_sprint_before_close_is_not_completed(world, sprint):
    # given
    item(world.own_project, "PAY-1", created=BEFORE, points=3).join(sprint, BEFORE).done(
        utc(2026, 1, 8, 10)
    ).leave(utc(2026, 1, 9, 10))

    # when
    figures = figures_of(world, sprint)

    # then
    assert figures.completed_points == Decimal(0)
    assert figures.removed_points == Decimal(3)


def test_carry_over_is_committed_in_the_next_sprint_and_not_completed_in_the_first(
    world, sprint, next_sprint
):
    # given: PAY-1 unfinished at close moves to sprint 2 at exactly close, is done there
    item(world.own_project, "PAY-1", created=BEFORE, points=5).join(sprint, BEFORE).start(
        utc(2026, 1, 12, 10)
    ).join(next_sprint, CLOSE).done(utc(2026, 1, 21, 10))

    # when
    first, second = figures_of(world, sprint), figures_of(world, next_sprint)

    # then: not completed nor "removed" in sprint 1 (the move is at close, outside the
    # window); committed and completed in sprint 2
    assert (first.committed_points, first.completed_points) == (Decimal(5), Decimal(0))
    assert first.removed_points == Decimal(0)
    assert (second.committed_points, second.completed_points) == (Decimal(5), Decimal(5))
    assert second.added_points == Decimal(0)


def test_zero_point_and_unestimated_items_count_as_zero(world, sprint):
    # given
    project = world.own_project
    item(project, "PAY-1", created=BEFORE, points=0).join(sprint, BEFORE).done(utc(2026, 1, 8, 10))
    item(project, "PAY-2", created=BEFORE, points=None).join(sprint, BEFORE).done(
        utc(2026, 1, 8, 10)
    )
    item(project, "PAY-3", created=BEFORE, points=2).join(sprint, BEFORE).done(utc(2026, 1, 8, 10))

    # when
    figures = figures_of(world, sprint)

    # then: all three items count, their points as 0
    assert (figures.committed_items, figures.committed_points) == (3, Decimal(2))
    assert (figures.completed_items, figures.completed_points) == (3, Decimal(2))


def test_sprint_with_no_completions_has_velocity_zero_and_say_do_zero(world, sprint):
    # given
    item(world.own_project, "PAY-1", created=BEFORE, points=5).join(sprint, BEFORE).start(
        utc(2026, 1, 8, 10)
    )

    # when
    figures = figures_of(world, sprint)

    # then
    assert figures.velocity == Decimal(0)
    assert figures.say_do == 0.0


def test_say_do_is_empty_when_nothing_was_committed(world, sprint):
    # given: the only item joins after start
    item(world.own_project, "PAY-1", created=BEFORE, points=5).join(
        sprint, utc(2026, 1, 6, 10)
    ).done(utc(2026, 1, 8, 10))

    # when
    figures = figures_of(world, sprint)

    # then
    assert figures.committed_points == Decimal(0)
    assert figures.completed_points == Decimal(5)
    assert figures.say_do is None


def test_sprint_with_no_items_has_zero_figures(world, sprint):
    figures = figures_of(world, sprint)

    assert figures.committed_points == figures.completed_points == Decimal(0)
    assert (figures.say_do, figures.rolling_velocity) == (None, Decimal(0))


def make_closed_sprints(project, velocities: list[int]) -> list[Sprint]:
    """One closed two-week sprint per velocity, each with one item done inside it."""
    sprints = []
    for number, points in enumerate(velocities):
        start = START + dt.timedelta(days=14 * number)
        sprint = SprintFactory(project=project, name=f"Sprint {number + 1}", start=start)
        item(project, f"{project.key}-{number + 1}", created=BEFORE, points=points).join(
            sprint, BEFORE
        ).done(start.replace(hour=12))
        sprints.append(sprint)
    return sprints


def test_rolling_velocity_is_the_mean_of_the_last_three_closed_sprints(world):
    # given: four closed sprints completing 3, 6, 9 and 12 points, then an active and a
    # future sprint
    project = world.own_project
    make_closed_sprints(project, [3, 6, 9, 12])
    active = SprintFactory(
        project=project, name="Sprint 5", start=utc(2026, 3, 2, 9), state=Sprint.State.ACTIVE
    )
    SprintFactory(
        project=project, name="Sprint 6", start=utc(2026, 3, 16, 9), state=Sprint.State.FUTURE
    )

    # when
    rows = sprint_summaries(user=world.team_lead, project=project)

    # then: the future sprint is left out; the rolling mean grows over 1, 2 then 3 sprints
    assert [row.name for row in rows] == [f"Sprint {n}" for n in range(1, 6)]
    assert [row.completed_points for row in rows] == [3, 6, 9, 12, 0]
    assert [row.rolling_velocity for row in rows[:4]] == [
        Decimal(3),
        Decimal("4.5"),
        Decimal(6),
        Decimal(9),
    ]
    assert rows[4].sprint_id == active.pk
    assert rows[4].rolling_velocity is None


def test_last_keeps_the_latest_sprints_and_their_rolling_velocity_uses_earlier_sprints(world):
    # given
    make_closed_sprints(world.own_project, [3, 6, 9, 12])

    # when
    rows = sprint_summaries(user=world.viewer, project=world.own_project, last=2)

    # then
    assert [row.name for row in rows] == ["Sprint 3", "Sprint 4"]
    assert [row.rolling_velocity for row in rows] == [Decimal(6), Decimal(9)]


def test_rolling_window_is_configurable(world):
    make_closed_sprints(world.own_project, [3, 6, 9, 12])

    rows = sprint_summaries(user=world.viewer, project=world.own_project, rolling_window=2)

    assert [row.rolling_velocity for row in rows] == [
        Decimal(3),
        Decimal("4.5"),
        Decimal("7.5"),
        Decimal("10.5"),
    ]


def test_other_projects_history_does_not_leak_into_the_figures(world, sprint):
    # given: an item of the sibling project moves through a sibling sprint at the same time
    sibling_sprint = SprintFactory(project=world.sibling_project, name="Sibling", start=START)
    item(world.sibling_project, "CARD-1", created=BEFORE, points=13).join(
        sibling_sprint, BEFORE
    ).done(utc(2026, 1, 8, 10))
    item(world.own_project, "PAY-1", created=BEFORE, points=2).join(sprint, BEFORE)

    # when
    figures = figures_of(world, sprint)

    # then
    assert (figures.committed_points, figures.completed_points) == (Decimal(2), Decimal(0))


@pytest.mark.parametrize("role", ["outsider", "anonymous"])
def test_project_the_user_may_not_see_answers_not_found(world, role):
    user = world.user(role) or AnonymousUser()

    with pytest.raises(Http404):
        sprint_summaries(user=user, project=world.own_project)


def test_team_lead_cannot_read_the_sprints_of_a_sibling_project(world):
    with pytest.raises(Http404):
        sprint_summaries(user=world.team_lead, project=world.sibling_project)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sprint_figures_agree_with_a_plain_python_replay_of_random_histories(world, seed):
    # given: three back-to-back sprints and 60 items moving at random, often at the same
    # instant as each other and at the sprints' exact starts and closes
    project = world.own_project
    sprints = [
        SprintFactory(
            project=project,
            name=f"Sprint {number}",
            start=START + dt.timedelta(days=7 * number),
            completed_at=START + dt.timedelta(days=7 * number + 7),
        )
        for number in range(3)
    ]
    instants = [START + dt.timedelta(hours=12 * step) for step in range(-6, 50)]
    random_history(project, sprints, items=60, seed=seed, instants=instants)

    # when
    rows = {row.sprint_id: row for row in sprint_summaries(user=world.viewer, project=project)}

    # then
    items = replays(project)
    for sprint in sprints:
        row = rows[sprint.pk]
        assert {
            "committed": row.committed_points,
            "completed": row.completed_points,
            "added": row.added_points,
            "removed": row.removed_points,
        } == reference_sprint_figures(sprint, items), sprint.name
