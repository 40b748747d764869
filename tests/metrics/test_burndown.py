"""Burndown (METRICS.md "Burndown"), with hand-computed expectations."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.http import Http404

from metrics.selectors import sprint_burndown, sprint_summaries
from tests.factories import ProjectFactory, SprintFactory
from tests.metrics.history import item, random_history, reference_burndown, replays, utc

BEFORE = utc(2026, 1, 1, 12)


def test_burndown_shows_remaining_ideal_and_scope_changes_per_day(world):
    # given: a UTC sprint [Mon 5 Jan 09:00, Thu 8 Jan 12:00), 75 hours long, and
    #   A 5 pts, done Tue 10:00          B 3 pts, re-estimated to 8 on Wed 11:00
    #   C 2 pts, joins Mon 15:00 (added) D 4 pts, leaves Tue 08:00 (removed)
    #   E 1 pt, done at exactly close    F 2 pts, carried over to the next sprint at close
    project = world.own_project
    close = utc(2026, 1, 8, 12)
    sprint = SprintFactory(project=project, start=utc(2026, 1, 5, 9), completed_at=close)
    after = SprintFactory(project=project, start=utc(2026, 1, 12, 9))
    item(project, "PAY-A", created=BEFORE, points=5).join(sprint, BEFORE).done(utc(2026, 1, 6, 10))
    item(project, "PAY-B", created=BEFORE, points=3).join(sprint, BEFORE).points(
        8, utc(2026, 1, 7, 11)
    )
    item(project, "PAY-C", created=BEFORE, points=2).join(sprint, utc(2026, 1, 5, 15))
    item(project, "PAY-D", created=BEFORE, points=4).join(sprint, BEFORE).leave(utc(2026, 1, 6, 8))
    item(project, "PAY-E", created=BEFORE, points=1).join(sprint, BEFORE).done(close)
    item(project, "PAY-F", created=BEFORE, points=2).join(sprint, BEFORE).join(after, close)

    # when
    burndown = sprint_burndown(user=world.team_lead, sprint=sprint)

    # then: committed = 5 + 3 + 4 + 1 + 2 = 15
    assert burndown.committed == Decimal(15)
    assert [day.day for day in burndown.days] == [dt.date(2026, 1, d) for d in (5, 6, 7, 8)]
    # Mon: all six (C added) = 17; Tue: A done, D gone = 8; Wed: B now 8 = 13; Thu (close):
    # E's done and F's carry-over happen at close, outside the window, so they remain
    assert [day.remaining for day in burndown.days] == [17, 8, 13, 13]
    # ideal = 15 x hours from the day's end (or close) to close / 75 h: 60 h, 36 h, 12 h, 0 h
    assert [day.ideal for day in burndown.days] == pytest.approx([12, 7.2, 2.4, 0])
    assert [day.added for day in burndown.days] == [2, 0, 0, 0]
    assert [day.removed for day in burndown.days] == [0, 4, 0, 0]
    assert [day.reestimated for day in burndown.days] == [0, 0, 5, 0]
    # the points are measured just before each local midnight, and just before close
    assert burndown.days[0].measured_before == utc(2026, 1, 6) - dt.timedelta(microseconds=1)
    assert burndown.days[-1].measured_before == close - dt.timedelta(microseconds=1)


def test_remaining_at_close_is_the_committed_and_added_scope_not_completed(world):
    # given: the same kind of sprint; remaining(close) must equal scope - completed
    project = world.own_project
    close = utc(2026, 1, 8, 12)
    sprint = SprintFactory(project=project, start=utc(2026, 1, 5, 9), completed_at=close)
    item(project, "PAY-1", created=BEFORE, points=5).join(sprint, BEFORE).done(utc(2026, 1, 6, 10))
    item(project, "PAY-2", created=BEFORE, points=3).join(sprint, utc(2026, 1, 6, 9))
    item(project, "PAY-3", created=BEFORE, points=2).join(sprint, BEFORE).done(
        utc(2026, 1, 7, 10)
    ).reopen(utc(2026, 1, 7, 15))

    # when
    burndown = sprint_burndown(user=world.pmo_leader, sprint=sprint)
    (figures,) = sprint_summaries(user=world.pmo_leader, project=project)

    # then
    scope = figures.committed_points + figures.added_points - figures.removed_points
    assert burndown.days[-1].remaining == scope - figures.completed_points == Decimal(5)


def test_day_boundaries_follow_the_project_time_zone(world):
    # given: a New York project (UTC-5 in January); the sprint runs from Mon 5 Jan 09:00 to
    # Wed 7 Jan 17:00 local. A is done at Tue 6 Jan 03:00 UTC = Mon 5 Jan 22:00 local, B at
    # Wed 7 Jan 03:00 UTC = Tue 6 Jan 22:00 local.
    project = ProjectFactory(portfolio=world.own, key="NYC", time_zone="America/New_York")
    sprint = SprintFactory(
        project=project, start=utc(2026, 1, 5, 14), completed_at=utc(2026, 1, 7, 22)
    )
    item(project, "NYC-A", created=BEFORE, points=3).join(sprint, BEFORE).done(utc(2026, 1, 6, 3))
    item(project, "NYC-B", created=BEFORE, points=2).join(sprint, BEFORE).done(utc(2026, 1, 7, 3))

    # when
    burndown = sprint_burndown(user=world.pmo_leader, sprint=sprint)

    # then: A burns on local Monday, B on local Tuesday (in UTC they would be a day later)
    assert burndown.time_zone == "America/New_York"
    assert [(day.day, day.remaining) for day in burndown.days] == [
        (dt.date(2026, 1, 5), 2),
        (dt.date(2026, 1, 6), 0),
        (dt.date(2026, 1, 7), 0),
    ]
    # local midnight of 6 Jan is 05:00 UTC
    assert burndown.days[0].measured_before == utc(2026, 1, 6, 5) - dt.timedelta(microseconds=1)


def test_close_at_local_midnight_does_not_add_an_empty_day(world):
    # given: a sprint closing at exactly midnight UTC of 8 Jan
    project = world.own_project
    sprint = SprintFactory(project=project, start=utc(2026, 1, 5, 9), completed_at=utc(2026, 1, 8))
    item(project, "PAY-1", created=BEFORE, points=2).join(sprint, BEFORE)

    # when
    burndown = sprint_burndown(user=world.pmo_leader, sprint=sprint)

    # then: the last day is 7 Jan, ending at close with an ideal of 0
    assert [day.day for day in burndown.days] == [dt.date(2026, 1, d) for d in (5, 6, 7)]
    assert burndown.days[-1].ideal == 0
    assert burndown.days[-1].remaining == Decimal(2)


def test_reestimate_of_an_item_outside_the_sprint_is_not_shown(world):
    # given: PAY-1 is re-estimated while in the sprint, PAY-2 only after it left
    project = world.own_project
    sprint = SprintFactory(project=project, start=utc(2026, 1, 5, 9), completed_at=utc(2026, 1, 8))
    item(project, "PAY-1", created=BEFORE, points=2).join(sprint, BEFORE).points(
        1, utc(2026, 1, 6, 10)
    )
    item(project, "PAY-2", created=BEFORE, points=5).join(sprint, BEFORE).leave(
        utc(2026, 1, 6, 10)
    ).points(8, utc(2026, 1, 6, 11))

    # when
    burndown = sprint_burndown(user=world.pmo_leader, sprint=sprint)

    # then: only PAY-1's -1 on 6 Jan
    assert [day.reestimated for day in burndown.days] == [0, -1, 0]
    assert [day.removed for day in burndown.days] == [0, 5, 0]
    assert [day.remaining for day in burndown.days] == [7, 1, 1]


def test_burndown_of_an_empty_sprint_is_flat_at_zero(world):
    sprint = SprintFactory(
        project=world.own_project, start=utc(2026, 1, 5, 9), completed_at=utc(2026, 1, 7, 9)
    )

    burndown = sprint_burndown(user=world.viewer, sprint=sprint)

    assert burndown.committed == Decimal(0)
    assert [(day.remaining, day.ideal) for day in burndown.days] == [(0, 0), (0, 0), (0, 0)]


def test_sprint_of_a_project_the_user_may_not_see_answers_not_found(world):
    sprint = SprintFactory(project=world.sibling_project, start=utc(2026, 1, 5, 9))

    with pytest.raises(Http404):
        sprint_burndown(user=world.team_lead, sprint=sprint)


@pytest.mark.parametrize(
    ("reestimate_first", "added", "reestimated"),
    [(False, 3, 2), (True, 5, 0)],
    ids=["join-then-reestimate", "reestimate-then-join"],
)
def test_join_and_reestimate_at_the_same_instant_are_counted_once_in_id_order(
    world, reestimate_first, added, reestimated
):
    # given: PAY-1 (3 points) joins and is re-estimated to 5 at the same instant
    project = world.own_project
    sprint = SprintFactory(project=project, start=utc(2026, 1, 5, 9), completed_at=utc(2026, 1, 8))
    same_instant = utc(2026, 1, 6, 10)
    history = item(project, "PAY-1", created=BEFORE, points=3)
    if reestimate_first:
        history.points(5, same_instant).join(sprint, same_instant)
    else:
        history.join(sprint, same_instant).points(5, same_instant)

    # when
    burndown = sprint_burndown(user=world.pmo_leader, sprint=sprint)
    (figures,) = sprint_summaries(user=world.pmo_leader, project=project)

    # then: either way the scope grows by 5 in total, never by 7
    assert [day.added for day in burndown.days] == [0, added, 0]
    assert [day.reestimated for day in burndown.days] == [0, reestimated, 0]
    assert [day.remaining for day in burndown.days] == [0, 5, 5]
    assert figures.added_points == added


@pytest.mark.parametrize("seed", [1, 2])
def test_burndown_agrees_with_a_plain_python_replay_of_random_histories(world, seed):
    # given: a New York sprint closing mid-afternoon and 50 items moving at random at local
    # midnights, the sprint's start and close, and shared instants
    zone = zoneinfo.ZoneInfo("America/New_York")
    project = ProjectFactory(portfolio=world.own, key="NYC", time_zone="America/New_York")
    start = dt.datetime(2026, 1, 5, 9, tzinfo=zone)
    close = dt.datetime(2026, 1, 12, 15, tzinfo=zone)
    sprint = SprintFactory(project=project, start=start, completed_at=close)
    other = SprintFactory(project=project, start=close, end=close + dt.timedelta(days=7))
    midnights = [dt.datetime(2026, 1, day, tzinfo=zone) for day in range(3, 14)]
    instants = [start, close, *midnights] + [start + dt.timedelta(hours=5 * n) for n in range(40)]
    random_history(project, [sprint, other], items=50, seed=seed, instants=sorted(instants))

    # when
    burndown = sprint_burndown(user=world.viewer, sprint=sprint)

    # then
    assert [
        (day.day, day.remaining, day.added, day.removed, day.reestimated) for day in burndown.days
    ] == reference_burndown(sprint, replays(project), zone)


def test_sprint_instance_claiming_a_visible_project_answers_not_found(world):
    # given: a sibling-project sprint, presented as if it belonged to the team lead's project
    sprint = SprintFactory(project=world.sibling_project, start=utc(2026, 1, 5, 9))
    sprint.project_id = world.own_project.pk

    # when / then
    with pytest.raises(Http404):
        sprint_burndown(user=world.team_lead, sprint=sprint)
