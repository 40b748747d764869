"""Flow figures (METRICS.md "Flow figures"): cycle and lead time, throughput, WIP and aging,
cumulative flow."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.http import Http404

from metrics.selectors import (
    cumulative_flow,
    cycle_times,
    portfolio_flow_summary,
    throughput,
    wip_aging,
)
from tests.factories import ProjectFactory, SprintFactory
from tests.metrics.history import item, random_history, replays, utc

DAY = 86400


def test_cycle_and_lead_times_are_days_as_decimals_with_numpy_matching_percentiles(world):
    # given: (created, started, done) in January 2026, UTC
    project = world.own_project
    histories = {
        "PAY-1": (utc(2026, 1, 1, 9), utc(2026, 1, 2, 9), utc(2026, 1, 3, 21)),
        "PAY-2": (utc(2026, 1, 1, 9), utc(2026, 1, 5, 9), utc(2026, 1, 12, 9)),
        "PAY-3": (utc(2026, 1, 2, 0), utc(2026, 1, 2, 6), utc(2026, 1, 2, 18)),
        "PAY-4": (utc(2026, 1, 3, 9), utc(2026, 1, 10, 9), utc(2026, 1, 20, 15)),
        "PAY-5": (utc(2026, 1, 4, 9), utc(2026, 1, 4, 10), utc(2026, 1, 30, 23, 59)),
    }
    for key, (created, started, done) in histories.items():
        item(project, key, created=created).start(started).done(done)
    # todo straight to done: start = done time, cycle time 0
    item(project, "PAY-6", created=utc(2026, 1, 6, 9)).done(utc(2026, 1, 8, 9))
    # outside [1 Jan, 31 Jan): done at exactly the end, and before the start
    item(project, "PAY-7", created=utc(2026, 1, 6, 9)).start(utc(2026, 1, 7)).done(utc(2026, 1, 31))
    item(project, "PAY-8", created=utc(2025, 12, 1)).start(utc(2025, 12, 2)).done(
        utc(2025, 12, 31, 23, 59)
    )
    # reopened, not done any more
    item(project, "PAY-9", created=utc(2026, 1, 6, 9)).done(utc(2026, 1, 8, 9)).reopen(
        utc(2026, 1, 9, 9)
    )

    # when
    report = cycle_times(
        user=world.viewer, project=project, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31)
    )

    # then
    cycle = [(done - started).total_seconds() / DAY for _, started, done in histories.values()]
    lead = [(done - created).total_seconds() / DAY for created, _, done in histories.values()]
    cycle.append(0.0)
    lead.append(2.0)
    assert report.count == 6
    assert sorted(i.key for i in report.items) == [f"PAY-{n}" for n in range(1, 7)]
    by_key = {i.key: i for i in report.items}
    assert by_key["PAY-1"].cycle_days == pytest.approx(1.5)
    assert by_key["PAY-1"].lead_days == pytest.approx(2.5)
    assert by_key["PAY-6"].started_at == by_key["PAY-6"].done_at == utc(2026, 1, 8, 9)
    assert [report.p50, report.p85, report.p95] == pytest.approx(np.percentile(cycle, [50, 85, 95]))
    assert [report.lead_p50, report.lead_p85, report.lead_p95] == pytest.approx(
        np.percentile(lead, [50, 85, 95])
    )


def test_cycle_time_of_a_reopened_item_runs_from_its_first_start_to_its_last_done(world):
    item(world.own_project, "PAY-1", created=utc(2026, 1, 1)).start(utc(2026, 1, 2)).done(
        utc(2026, 1, 3)
    ).reopen(utc(2026, 1, 4)).start(utc(2026, 1, 5)).done(utc(2026, 1, 7))

    report = cycle_times(
        user=world.viewer,
        project=world.own_project,
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 2, 1),
    )

    assert [(i.cycle_days, i.lead_days) for i in report.items] == [(5.0, 6.0)]


def test_cycle_times_of_an_empty_period_have_no_percentiles(world):
    report = cycle_times(
        user=world.viewer,
        project=world.own_project,
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 2, 1),
    )

    assert (report.count, report.items, report.p50, report.p85, report.lead_p95) == (
        0,
        (),
        None,
        None,
        None,
    )


def test_period_bounds_must_be_dates_in_order(world):
    with pytest.raises(TypeError):
        cycle_times(
            user=world.viewer,
            project=world.own_project,
            start=utc(2026, 1, 1),
            end=dt.date(2026, 2, 1),
        )
    with pytest.raises(ValueError, match="before it starts"):
        throughput(
            user=world.viewer,
            project=world.own_project,
            start=dt.date(2026, 2, 1),
            end=dt.date(2026, 1, 1),
        )


def test_throughput_counts_items_per_iso_week_with_empty_weeks_as_zero(world):
    # given: two items done in the week of Mon 5 Jan, none in the week of 12 Jan, one in the
    # week of 19 Jan, and one on Sunday 25 Jan 23:59 (still the week of 19 Jan)
    project = world.own_project
    for key, done in [
        ("PAY-1", utc(2026, 1, 5, 0)),
        ("PAY-2", utc(2026, 1, 11, 23, 59)),
        ("PAY-3", utc(2026, 1, 20, 12)),
        ("PAY-4", utc(2026, 1, 25, 23, 59)),
        ("PAY-5", utc(2026, 1, 26, 0)),  # the week of 26 Jan is outside the period
    ]:
        item(project, key, created=utc(2026, 1, 1)).done(done)

    # when
    weeks = throughput(
        user=world.viewer, project=project, start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 26)
    )

    # then
    assert [(week.week_start, week.count) for week in weeks] == [
        (dt.date(2026, 1, 5), 2),
        (dt.date(2026, 1, 12), 0),
        (dt.date(2026, 1, 19), 2),
    ]


def test_throughput_period_not_starting_on_monday_labels_partial_weeks_by_their_monday(world):
    # given: done on Tue 6 Jan (before the period) and Thu 8 Jan (inside)
    project = world.own_project
    item(project, "PAY-1", created=utc(2026, 1, 1)).done(utc(2026, 1, 6, 12))
    item(project, "PAY-2", created=utc(2026, 1, 1)).done(utc(2026, 1, 8, 12))

    # when: the period is Wed 7 Jan to Tue 13 Jan inclusive
    weeks = throughput(
        user=world.viewer, project=project, start=dt.date(2026, 1, 7), end=dt.date(2026, 1, 14)
    )

    # then
    assert [(week.week_start, week.count) for week in weeks] == [
        (dt.date(2026, 1, 5), 1),
        (dt.date(2026, 1, 12), 0),
    ]


def test_throughput_weeks_follow_the_project_time_zone(world):
    # given: done on Mon 12 Jan 03:00 UTC = Sun 11 Jan 22:00 in New York
    project = ProjectFactory(portfolio=world.own, key="NYC", time_zone="America/New_York")
    item(project, "NYC-1", created=utc(2026, 1, 1)).done(utc(2026, 1, 12, 3))

    # when
    weeks = throughput(
        user=world.pmo_leader,
        project=project,
        start=dt.date(2026, 1, 5),
        end=dt.date(2026, 1, 19),
    )

    # then: it belongs to the local week of Monday 5 Jan
    assert [(week.week_start, week.count) for week in weeks] == [
        (dt.date(2026, 1, 5), 1),
        (dt.date(2026, 1, 12), 0),
    ]


def test_cycle_time_period_follows_the_project_time_zone(world):
    # given: done on 1 Feb 03:00 UTC = 31 Jan 22:00 in New York
    project = ProjectFactory(portfolio=world.own, key="NYC", time_zone="America/New_York")
    item(project, "NYC-1", created=utc(2026, 1, 20)).done(utc(2026, 2, 1, 3))

    # when
    january = cycle_times(
        user=world.pmo_leader, project=project, start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 1)
    )

    # then
    assert january.count == 1


def test_wip_aging_lists_items_in_progress_oldest_first_with_cycle_time_reference(world):
    # given: now is 20 Mar 2026 12:00 UTC
    now = utc(2026, 3, 20, 12)
    project = world.own_project
    item(project, "PAY-1", created=utc(2026, 3, 1)).start(utc(2026, 3, 18, 12))
    item(project, "PAY-2", created=utc(2026, 3, 1)).start(utc(2026, 3, 10)).status(
        "Blocked", utc(2026, 3, 15)
    )
    item(project, "PAY-3", created=utc(2026, 3, 1))  # to do: not WIP
    # reference: done within the 90 days before now, and one done long before
    cycles = [1.0, 2.0, 4.0, 8.0]
    for number, days in enumerate(cycles, start=10):
        started = utc(2026, 2, 1)
        item(project, f"PAY-{number}", created=utc(2026, 1, 25)).start(started).done(
            started + dt.timedelta(days=days)
        )
    item(project, "PAY-20", created=utc(2025, 10, 1)).start(utc(2025, 10, 2)).done(
        utc(2025, 10, 30)
    )

    # when
    aging = wip_aging(user=world.team_lead, project=project, now=now)

    # then
    assert aging.count == 2
    assert [(i.key, i.status, i.age_days) for i in aging.items] == [
        ("PAY-2", "Blocked", 10.5),
        ("PAY-1", "In Progress", 2.0),
    ]
    assert aging.reference_items == 4
    assert aging.reference_start == now - dt.timedelta(days=90)
    assert [aging.cycle_p50, aging.cycle_p85, aging.cycle_p95] == pytest.approx(
        np.percentile(cycles, [50, 85, 95])
    )


def test_wip_aging_of_a_project_with_nothing_in_progress_is_empty(world):
    aging = wip_aging(user=world.viewer, project=world.own_project, now=utc(2026, 3, 20))

    assert (aging.count, aging.items, aging.cycle_p85) == (0, (), None)


def test_wip_aging_refuses_a_naive_now(world):
    with pytest.raises(ValueError, match="aware"):
        wip_aging(
            user=world.viewer,
            project=world.own_project,
            now=dt.datetime(2026, 3, 20),  # noqa: DTZ001
        )


def test_cumulative_flow_counts_items_per_category_at_the_end_of_each_day(world):
    # given
    project = world.own_project
    item(project, "PAY-A", created=utc(2026, 1, 1, 10)).start(utc(2026, 1, 2, 10)).done(
        utc(2026, 1, 3, 10)
    )
    item(project, "PAY-B", created=utc(2026, 1, 2, 12)).start(utc(2026, 1, 3, 9))
    item(project, "PAY-C", created=utc(2026, 1, 4, 0))  # created at midnight: 4 Jan
    # moves through several statuses on one day: only the end of the day counts
    item(project, "PAY-D", created=utc(2026, 1, 4, 8)).start(utc(2026, 1, 4, 9)).done(
        utc(2026, 1, 4, 10)
    ).reopen(utc(2026, 1, 4, 11))

    # when
    days = cumulative_flow(
        user=world.viewer, project=project, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 5)
    )

    # then: (todo, in_progress, done); days without events carry the counts forward
    assert [(d.day.day, d.todo, d.in_progress, d.done) for d in days] == [
        (1, 1, 0, 0),
        (2, 1, 1, 0),
        (3, 0, 1, 1),
        (4, 2, 1, 1),
    ]


def test_cumulative_flow_starting_later_includes_everything_that_happened_before(world):
    # given
    project = world.own_project
    item(project, "PAY-A", created=utc(2026, 1, 1, 10)).start(utc(2026, 1, 2, 10)).done(
        utc(2026, 1, 3, 10)
    )
    item(project, "PAY-B", created=utc(2026, 1, 2, 12)).start(utc(2026, 1, 3, 9))
    item(project, "PAY-C", created=utc(2026, 1, 9))  # after the period: not counted

    # when
    days = cumulative_flow(
        user=world.viewer, project=project, start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 8)
    )

    # then
    assert [(d.day.day, d.todo, d.in_progress, d.done) for d in days] == [
        (5, 0, 1, 1),
        (6, 0, 1, 1),
        (7, 0, 1, 1),
    ]


def test_cumulative_flow_days_follow_the_project_time_zone(world):
    # given: started 2 Jan 03:00 UTC = 1 Jan 22:00 in New York
    project = ProjectFactory(portfolio=world.own, key="NYC", time_zone="America/New_York")
    item(project, "NYC-1", created=utc(2026, 1, 1, 15)).start(utc(2026, 1, 2, 3))

    # when
    days = cumulative_flow(
        user=world.pmo_leader, project=project, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 3)
    )

    # then
    assert [(d.day.day, d.todo, d.in_progress) for d in days] == [(1, 0, 1), (2, 0, 1)]


@pytest.mark.parametrize(
    "read",
    [
        lambda world: cycle_times(
            user=world.outsider,
            project=world.own_project,
            start=dt.date(2026, 1, 1),
            end=dt.date(2026, 2, 1),
        ),
        lambda world: throughput(
            user=world.outsider,
            project=world.own_project,
            start=dt.date(2026, 1, 1),
            end=dt.date(2026, 2, 1),
        ),
        lambda world: wip_aging(user=world.outsider, project=world.own_project),
        lambda world: cumulative_flow(
            user=world.outsider,
            project=world.own_project,
            start=dt.date(2026, 1, 1),
            end=dt.date(2026, 2, 1),
        ),
    ],
    ids=["cycle_times", "throughput", "wip_aging", "cumulative_flow"],
)
def test_flow_figures_of_a_project_the_user_may_not_see_answer_not_found(world, read):
    with pytest.raises(Http404):
        read(world)


def test_portfolio_flow_summary_gives_one_row_per_visible_project(world):
    # given: now is Fri 20 Mar 2026; the last 8 complete weeks start on Mondays 19 Jan to
    # 9 Mar. PAY has three closed sprints completing 3, 6 and 9 points (the last one also
    # commits 3 points it does not finish: say/do 0.75), two items with a cycle time of 2
    # and 4 days, one done this week (outside the complete weeks) and one in progress.
    now = utc(2026, 3, 20, 12)
    project = world.own_project
    for number, points in enumerate([3, 6, 9]):
        start = utc(2026, 1, 5, 9) + dt.timedelta(days=14 * number)
        sprint = SprintFactory(project=project, name=f"Sprint {number + 1}", start=start)
        item(project, f"PAY-{number + 1}", created=utc(2026, 1, 1), points=points).join(
            sprint, utc(2026, 1, 1)
        ).done(start.replace(hour=12))
    item(project, "PAY-4", created=utc(2026, 1, 1)).join(sprint, utc(2026, 1, 1))
    item(project, "PAY-5", created=utc(2026, 2, 20)).start(utc(2026, 3, 1)).done(utc(2026, 3, 3))
    item(project, "PAY-6", created=utc(2026, 2, 20)).start(utc(2026, 3, 2)).done(utc(2026, 3, 6))
    item(project, "PAY-7", created=utc(2026, 2, 20)).done(utc(2026, 3, 17))
    item(project, "PAY-8", created=utc(2026, 2, 20)).start(utc(2026, 3, 18))

    # when
    rows = portfolio_flow_summary(
        user=world.pmo_leader, portfolio=world.own, now=now, velocity_sprints=2
    )

    # then: CARD (no data) then PAY, by key
    card, pay = rows
    assert (pay.key, pay.last_closed_sprint, pay.last_say_do) == ("PAY", "Sprint 3", 0.75)
    assert pay.velocities == (Decimal(6), Decimal(9))
    assert pay.say_do_history == (1.0, 0.75)
    assert pay.cycle_time_items == 6
    assert pay.cycle_time_p85 == pytest.approx(np.percentile([0, 0, 0, 2, 4, 0], 85))
    assert [week.week_start for week in pay.throughput_weeks] == [
        dt.date(2026, 1, 19) + dt.timedelta(weeks=n) for n in range(8)
    ]
    assert [week.count for week in pay.throughput_weeks] == [1, 0, 1, 0, 0, 0, 2, 0]
    assert pay.wip == 1
    assert (card.key, card.velocities, card.last_say_do, card.cycle_time_p85, card.wip) == (
        "CARD",
        (),
        None,
        None,
        0,
    )
    assert [week.count for week in card.throughput_weeks] == [0] * 8


def test_portfolio_flow_summary_shows_only_the_projects_the_user_may_see(world):
    rows = portfolio_flow_summary(user=world.team_lead, portfolio=world.own, now=utc(2026, 3, 20))

    assert [row.key for row in rows] == ["PAY"]


def test_portfolio_flow_summary_of_a_portfolio_the_user_may_not_see_answers_not_found(world):
    with pytest.raises(Http404):
        portfolio_flow_summary(user=world.pmo_leader, portfolio=world.foreign)


@pytest.mark.parametrize("seed", [1, 2])
def test_cumulative_flow_agrees_with_a_plain_python_replay_of_random_histories(world, seed):
    # given: items moving at random between statuses of every category, some at the same
    # instant, some at exactly local midnight of the project's zone (New York)
    project = world.own_project
    project.time_zone = "America/New_York"
    project.save(update_fields=["time_zone"])
    zone = ZoneInfo("America/New_York")
    start_day = dt.date(2026, 1, 10)
    midnights = [
        dt.datetime.combine(start_day + dt.timedelta(days=n), dt.time(), tzinfo=zone)
        for n in range(-5, 20)
    ]
    instants = sorted(
        {*midnights, *(m + dt.timedelta(hours=h) for m in midnights for h in (7, 15))}
    )
    sprint = SprintFactory(project=project, start=midnights[0], end=midnights[-1])
    random_history(project, [sprint], items=40, seed=seed, instants=instants)

    # when
    days = cumulative_flow(
        user=world.viewer, project=project, start=start_day, end=start_day + dt.timedelta(days=12)
    )

    # then: each day counts every item by its category just before the next local midnight
    items = replays(project)
    for day in days:
        boundary = dt.datetime.combine(day.day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        categories = [
            replay.state(lambda event, b=boundary: event.at < b)["category"] for replay in items
        ]
        assert (day.todo, day.in_progress, day.done) == (
            categories.count("todo"),
            categories.count("in_progress"),
            categories.count("done"),
        ), day.day
