"""Flow risk signals (metrics.risks): each signal triggered, and not triggered exactly at its
threshold, with hand-computed figures. Now is Fri 20 Mar 2026 12:00 UTC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.http import Http404

from metrics import risks
from metrics.selectors import project_risks, sprint_burndown, wip_aging
from portfolio.models import Sprint
from tests.factories import SprintFactory
from tests.metrics.builders import (
    DAY,
    NOW,
    TODAY,
    closed_sprint,
    midnight,
    open_items,
    steady_throughput,
)
from tests.metrics.history import item, utc


def signals(world, project, code: str) -> list[risks.RiskSignal]:
    return [s for s in project_risks(user=world.viewer, project=project, now=NOW) if s.code == code]


def test_default_risk_rules_have_codes_severities_and_thresholds():
    assert {rule.code: rule.severity for rule in risks.DEFAULT_RISK_RULES} == {
        "FORECAST_AFTER_TARGET": "high",
        "NO_THROUGHPUT": "high",
        "BURNDOWN_BEHIND_IDEAL": "medium",
        "SCOPE_GROWTH": "medium",
        "SAY_DO_LOW": "medium",
        "CYCLE_TIME_RISING": "medium",
        "AGING_WIP": "medium",
    }
    assert risks.BURNDOWN_BEHIND_IDEAL.threshold == Decimal("0.20")
    assert risks.SAY_DO_LOW.threshold == Decimal("0.7")
    assert risks.CYCLE_TIME_RISING.increase == Decimal("0.30")
    assert risks.SCOPE_GROWTH.threshold == Decimal("0.20")
    assert risks.NO_THROUGHPUT.days == 14
    assert risks.FORECAST_AFTER_TARGET.percentile == 85


def test_a_project_without_data_raises_no_signal(world):
    assert project_risks(user=world.viewer, project=world.sibling_project, now=NOW) == []


# --- Burndown behind the ideal line ----------------------------------------------------------


def active_sprint_burning(project, *, left: str) -> Sprint:
    """An active sprint from Sun 15 to Wed 25 March (10 days) committing 10 points: an item of
    `left` points still open, the rest done on 16 March. On the latest ended day (19 March,
    measured just before midnight) the ideal is 10 x 5 / 10 = 5 points."""
    sprint = SprintFactory(
        project=project,
        name="Sprint 9",
        start=utc(2026, 3, 15),
        end=utc(2026, 3, 25),
        state=Sprint.State.ACTIVE,
    )
    created = utc(2026, 3, 13)
    item(project, "PAY-LEFT", created=created, points=left).join(sprint, utc(2026, 3, 14))
    done_points = Decimal(10) - Decimal(left)
    item(project, "PAY-DONE", created=created, points=done_points).join(
        sprint, utc(2026, 3, 14)
    ).start(utc(2026, 3, 15, 9)).done(utc(2026, 3, 16, 9))
    return sprint


def test_burndown_more_than_20_percent_above_the_ideal_line_is_a_signal(world):
    # given: 6.5 points left against an ideal of 5 (+30%)
    sprint = active_sprint_burning(world.own_project, left="6.5")

    # when
    (signal,) = signals(world, world.own_project, "BURNDOWN_BEHIND_IDEAL")

    # then
    assert signal.severity == "medium"
    assert signal.sentence == (
        "Sprint 9 is behind its ideal line: 6.5 points remain at the end of 2026-03-19 "
        "against an ideal of 5 (+30%; threshold +20%)."
    )
    assert signal.evidence.sprint_id == sprint.pk
    assert signal.evidence.figures == {
        "day": "2026-03-19",
        "remaining_points": 6.5,
        "ideal_points": 5.0,
        "excess_ratio": 0.3,
        "threshold_ratio": 0.2,
    }
    # the figures are the burndown's own point of that day
    day = next(
        d
        for d in sprint_burndown(user=world.viewer, sprint=sprint).days
        if d.day == dt.date(2026, 3, 19)
    )
    assert (day.remaining, day.ideal) == (Decimal("6.5"), 5.0)


def test_burndown_exactly_20_percent_above_the_ideal_line_is_no_signal(world):
    active_sprint_burning(world.own_project, left="6")  # 6 = 5 x 1.2

    assert signals(world, world.own_project, "BURNDOWN_BEHIND_IDEAL") == []


def test_burndown_is_not_judged_before_the_first_day_of_the_sprint_has_ended(world):
    # given: the sprint started this morning, so no burndown day has ended yet
    sprint = SprintFactory(
        project=world.own_project,
        name="Sprint 1",
        start=utc(2026, 3, 20, 9),
        state=Sprint.State.ACTIVE,
    )
    item(world.own_project, "PAY-1", created=utc(2026, 3, 19), points=8).join(
        sprint, utc(2026, 3, 19)
    )

    assert signals(world, world.own_project, "BURNDOWN_BEHIND_IDEAL") == []


# --- Say/do of the last closed sprint --------------------------------------------------------


@pytest.mark.parametrize(("completed", "fires"), [("7", False), ("6.9", True)])
def test_say_do_of_the_last_closed_sprint_below_0_7_is_a_signal(world, completed, fires):
    # given: an older sprint with a poor say/do, then the last one at 0.7 or 0.69
    closed_sprint(world.own_project, "S1", start=utc(2026, 2, 2, 9), committed=10, completed=2)
    sprint = closed_sprint(
        world.own_project, "S2", start=utc(2026, 2, 16, 9), committed=10, completed=completed
    )

    found = signals(world, world.own_project, "SAY_DO_LOW")

    if not fires:
        assert found == []
        return
    (signal,) = found
    assert (
        signal.sentence == "S2 delivered 6.9 of the 10 points it committed: say/do 0.69, below 0.7."
    )
    assert signal.evidence.sprint_id == sprint.pk
    assert signal.evidence.figures["say_do"] == 0.69


# --- Cycle time rising -----------------------------------------------------------------------


@pytest.mark.parametrize(("recent_days", "fires"), [(13, False), (13.5, True)])
def test_cycle_time_p85_up_more_than_30_percent_on_the_previous_30_days_is_a_signal(
    world, recent_days, fires
):
    # given: one item with a cycle time of 10 days done in the previous 30 days, one with
    # 13 (exactly +30%) or 13.5 days (+35%) done in the last 30 days
    project = world.own_project
    item(project, "PAY-OLD", created=utc(2026, 1, 1)).start(utc(2026, 1, 22, 12)).done(
        utc(2026, 2, 1, 12)
    )
    done = utc(2026, 3, 10, 12)
    item(project, "PAY-NEW", created=utc(2026, 1, 1)).start(
        done - dt.timedelta(days=recent_days)
    ).done(done)

    found = signals(world, project, "CYCLE_TIME_RISING")

    if not fires:
        assert found == []
        return
    (signal,) = found
    assert signal.sentence == (
        "Cycle time p85 rose 35% to 13.5 days over the last 30 days (1 item), from 10 days the "
        "30 days before (1 item); threshold +30%."
    )
    assert signal.evidence.figures["recent_p85_days"] == 13.5
    assert signal.evidence.figures["previous_p85_days"] == 10.0


def test_cycle_time_trend_needs_items_in_both_windows(world):
    item(world.own_project, "PAY-NEW", created=utc(2026, 1, 1)).start(utc(2026, 3, 1)).done(
        utc(2026, 3, 15)
    )

    assert signals(world, world.own_project, "CYCLE_TIME_RISING") == []


# --- Aging work in progress ------------------------------------------------------------------


def test_items_in_progress_older_than_the_cycle_time_p85_are_a_signal_with_their_keys(world):
    # given: two items done this month with a cycle time of 3 days (p85 = 3); in progress:
    # one aged exactly 3 days (not older), two older, one younger
    project = world.own_project
    for key in ("PAY-1", "PAY-2"):
        item(project, key, created=utc(2026, 2, 20)).start(utc(2026, 2, 26, 12)).done(
            utc(2026, 3, 1, 12)
        )
    item(project, "PAY-EXACT", created=utc(2026, 3, 1)).start(NOW - 3 * DAY)
    item(project, "PAY-OLD", created=utc(2026, 3, 1)).start(NOW - 8 * DAY)
    item(project, "PAY-LATE", created=utc(2026, 3, 1)).start(NOW - 3 * DAY - dt.timedelta(hours=12))
    item(project, "PAY-FRESH", created=utc(2026, 3, 1)).start(NOW - DAY)

    (signal,) = signals(world, project, "AGING_WIP")

    assert signal.evidence.item_keys == ("PAY-OLD", "PAY-LATE")
    assert signal.sentence == (
        "2 items in progress are older than the cycle-time p85 of 3 days: PAY-OLD (8 days), "
        "PAY-LATE (3.5 days)."
    )
    # the same items as the aging-WIP chart shows beyond its p85 reference
    aging = wip_aging(user=world.viewer, project=project, now=NOW)
    assert tuple(i.key for i in aging.items if i.age_days > aging.cycle_p85) == (
        signal.evidence.item_keys
    )


def test_work_in_progress_without_a_cycle_time_reference_is_no_aging_signal(world):
    item(world.own_project, "PAY-1", created=utc(2026, 1, 1)).start(utc(2026, 1, 2))

    assert signals(world, world.own_project, "AGING_WIP") == []


# --- Forecast after the target date ----------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "fires"), [(dt.date(2026, 3, 30), False), (dt.date(2026, 3, 29), True)]
)
def test_forecast_85_after_the_target_date_is_a_high_signal(world, target, fires):
    # given: one item done a day for 20 days and 10 open: every trial ends on 30 March
    project = world.own_project
    steady_throughput(project, days=20)
    open_items(project, 10, created=midnight(TODAY - 20 * DAY))
    project.target_date = target
    project.save()

    found = signals(world, project, "FORECAST_AFTER_TARGET")

    if not fires:
        assert found == []
        return
    (signal,) = found
    assert signal.severity == "high"
    assert signal.sentence == (
        "The 85% forecast for the 10 open items is 2026-03-30, 1 day after the target date "
        "2026-03-29."
    )
    assert signal.evidence.figures == {
        "forecast_date": "2026-03-30",
        "target_date": "2026-03-29",
        "days_late": 1,
        "open_items": 10,
        "percentile": 85,
    }


# --- Scope growth ----------------------------------------------------------------------------


@pytest.mark.parametrize(("added", "fires"), [("2", False), ("2.5", True)])
def test_scope_added_to_the_active_sprint_above_20_percent_is_a_signal(world, added, fires):
    # given: an active sprint committing 10 points; 2 (exactly 20%) or 2.5 points added
    project = world.own_project
    sprint = SprintFactory(
        project=project, name="Sprint 4", start=utc(2026, 3, 16), state=Sprint.State.ACTIVE
    )
    item(project, "PAY-1", created=utc(2026, 3, 10), points=10).join(sprint, utc(2026, 3, 15))
    item(project, "PAY-2", created=utc(2026, 3, 10), points=added).join(sprint, utc(2026, 3, 17))

    found = signals(world, project, "SCOPE_GROWTH")

    if not fires:
        assert found == []
        return
    (signal,) = found
    assert signal.sentence == (
        "Sprint 4 (active) grew 25% after it started: 2.5 points added to the 10 committed "
        "(threshold 20%)."
    )
    assert signal.evidence.sprint_id == sprint.pk


def test_without_an_active_sprint_scope_growth_looks_at_the_last_closed_sprint(world):
    project = world.own_project
    sprint = closed_sprint(project, "S1", start=utc(2026, 3, 2), committed=10, completed=10)
    item(project, "PAY-X", created=utc(2026, 3, 1), points=3).join(sprint, utc(2026, 3, 4))

    (signal,) = signals(world, project, "SCOPE_GROWTH")

    assert signal.evidence.sprint_id == sprint.pk
    assert signal.sentence.startswith("S1 (last closed) grew 30% after it started")


# --- No throughput ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_done", "fires"),
    [(NOW - 14 * DAY, False), (NOW - 14 * DAY - dt.timedelta(minutes=1), True)],
)
def test_fourteen_days_without_a_completion_while_items_are_open_is_a_high_signal(
    world, last_done, fires
):
    project = world.own_project
    item(project, "PAY-1", created=utc(2026, 2, 1)).done(last_done)
    open_items(project, 2, created=utc(2026, 2, 1))

    found = signals(world, project, "NO_THROUGHPUT")

    if not fires:
        assert found == []
        return
    (signal,) = found
    assert signal.severity == "high"
    assert signal.sentence == (
        "No item done in the last 14 days (the last one was done on 2026-03-06, 14 days ago) "
        "while 2 items are open."
    )


def test_no_throughput_needs_open_items_and_fourteen_days_of_history(world):
    # a project that is finished
    item(world.own_project, "PAY-1", created=utc(2026, 1, 1)).done(utc(2026, 1, 5))
    # a project imported ten days ago with nothing done yet
    open_items(world.sibling_project, 3, created=NOW - 10 * DAY)

    assert signals(world, world.own_project, "NO_THROUGHPUT") == []
    assert signals(world, world.sibling_project, "NO_THROUGHPUT") == []


def test_a_project_never_completing_anything_in_fourteen_days_says_so(world):
    open_items(world.own_project, 1, created=utc(2026, 2, 1))

    (signal,) = signals(world, world.own_project, "NO_THROUGHPUT")

    assert signal.sentence == (
        "No item done in the last 14 days (no item was ever done) while 1 item is open."
    )


# --- Order, scope ----------------------------------------------------------------------------


def test_signals_come_highest_severity_first(world):
    # given: a poor last sprint (medium) and a stall of more than 14 days (high)
    closed_sprint(world.own_project, "S1", start=utc(2026, 2, 2, 9), committed=10, completed=5)

    found = project_risks(user=world.viewer, project=world.own_project, now=NOW)

    assert [(s.code, s.severity) for s in found] == [
        ("NO_THROUGHPUT", "high"),
        ("SAY_DO_LOW", "medium"),
    ]


def test_risks_of_a_project_the_user_may_not_see_are_not_found(world):
    with pytest.raises(Http404):
        project_risks(user=world.team_lead, project=world.sibling_project, now=NOW)
