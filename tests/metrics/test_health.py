"""Project health (METRICS.md "Health (RAG)"): each rule with hand-computed cases.

Now is Fri 20 Mar 2026 12:00 UTC. `steady_throughput(project, days=20)` completes one item a
day from 28 Feb to 19 Mar, the project's first item created on 28 Feb: a 20-day forecast
history of constant throughput, so every trial of the Monte Carlo "when" needs exactly as
many days as there are open items (10 open items: 10 days, 30 March, at 50%, 85% and 95%).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.http import Http404

from metrics import health
from metrics.health import (
    DEFAULT_RULES,
    FORECAST_50_AFTER_TARGET,
    FORECAST_85_AFTER_TARGET,
    SAY_DO_BELOW,
    SayDoBelow,
    Verdict,
    evaluate_health,
)
from metrics.selectors import project_health, project_snapshot
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

FORECAST_DATE = dt.date(2026, 3, 30)  # 10 open items at 1 a day from 20 March


def forecastable(project, *, target: dt.date | None, open_count: int = 10):
    steady_throughput(project, days=20)
    open_items(project, open_count, created=midnight(TODAY - 20 * DAY))
    project.target_date = target
    project.save()
    return project


def sprints_with_say_do(project, ratios: list[str]) -> None:
    """Closed sprints committing 10 points each, completing 10 x ratio, two weeks apart."""
    for number, ratio in enumerate(ratios):
        closed_sprint(
            project,
            f"S{number + 1}",
            start=utc(2026, 1, 5, 9) + dt.timedelta(weeks=2 * number),
            committed=10,
            completed=str(Decimal(10) * Decimal(ratio)),
        )


def reason(result, rule: str):
    (found,) = [r for r in result.reasons if r.rule == rule]
    return found


# --- The rules, as configured --------------------------------------------------------------


def test_default_rules_are_named_configurable_policies_with_thresholds():
    assert [rule.name for rule in DEFAULT_RULES] == [
        "FORECAST_85_AFTER_TARGET",
        "FORECAST_50_AFTER_TARGET",
        "SAY_DO_BELOW",
        "KPI_BEYOND_RED",
        "KPI_BEYOND_AMBER",
    ]
    assert (FORECAST_85_AFTER_TARGET.status, FORECAST_85_AFTER_TARGET.percentile) == ("red", 85)
    assert (FORECAST_50_AFTER_TARGET.status, FORECAST_50_AFTER_TARGET.percentile) == ("amber", 50)
    assert (SAY_DO_BELOW.status, SAY_DO_BELOW.threshold, SAY_DO_BELOW.sprints) == (
        "amber",
        Decimal("0.7"),
        3,
    )
    assert all(rule.description for rule in DEFAULT_RULES)


# --- Red by forecast -----------------------------------------------------------------------


def test_forecast_85_after_the_target_date_is_red_with_the_dates_in_the_reason(world):
    # given: the forecast is 30 March for all percentiles, the target one day earlier
    project = forecastable(world.own_project, target=dt.date(2026, 3, 29))

    # when
    result = project_health(user=world.viewer, project=project, now=NOW)

    # then: red first, the 50% rule fired too (amber), say/do has no data
    assert result.status == "red"
    assert [(r.rule, r.verdict, r.status) for r in result.reasons] == [
        ("FORECAST_85_AFTER_TARGET", Verdict.FIRED, "red"),
        ("FORECAST_50_AFTER_TARGET", Verdict.FIRED, "amber"),
        ("SAY_DO_BELOW", Verdict.NO_DATA, None),
    ]
    assert result.reasons[0].sentence == (
        "The 85% forecast 2026-03-30 for the 10 open items falls after the target date "
        "2026-03-29 (1 day late)."
    )
    assert [r.rule for r in result.fired] == [
        "FORECAST_85_AFTER_TARGET",
        "FORECAST_50_AFTER_TARGET",
    ]


def test_forecast_on_the_target_date_is_on_time_and_green(world):
    project = forecastable(world.own_project, target=FORECAST_DATE)

    result = project_health(user=world.viewer, project=project, now=NOW)

    assert result.status == "green"
    assert reason(result, "FORECAST_85_AFTER_TARGET").verdict == Verdict.PASSED
    assert reason(result, "FORECAST_85_AFTER_TARGET").sentence == (
        "The 85% forecast 2026-03-30 for the 10 open items is on or before the target date "
        "2026-03-30."
    )


def test_without_a_target_date_the_forecast_rules_do_not_apply_and_say_so(world):
    project = forecastable(world.own_project, target=None)

    result = project_health(user=world.viewer, project=project, now=NOW)

    # the forecast is data, so the project is not grey; nothing fired, so it is green
    assert result.status == "green"
    for rule in ("FORECAST_85_AFTER_TARGET", "FORECAST_50_AFTER_TARGET"):
        assert reason(result, rule).verdict == Verdict.NOT_APPLICABLE
    assert reason(result, "FORECAST_85_AFTER_TARGET").sentence == (
        "No target date: the 85% forecast 2026-03-30 for the 10 open items is not compared "
        "with one."
    )


# --- Amber by say/do -----------------------------------------------------------------------


def test_say_do_of_the_last_three_sprints_averaging_below_0_7_is_amber(world):
    # given: say/do 0.5, 0.6 and 0.8 (mean 0.633...), no target date
    project = world.own_project
    project.target_date = None
    project.save()
    sprints_with_say_do(project, ["0.5", "0.6", "0.8"])

    # when
    result = project_health(user=world.viewer, project=project, now=NOW)

    # then
    assert result.status == "amber"
    assert result.reasons[0].rule == "SAY_DO_BELOW"
    assert result.reasons[0].sentence == (
        "Say/do averages 0.63 over the last 3 closed sprints (S1 0.50, S2 0.60, S3 0.80), "
        "below 0.7."
    )


@pytest.mark.parametrize(
    ("ratios", "expected"),
    [
        (["0.7", "0.7", "0.7"], "green"),  # exactly 0.7: not below (no float rounding)
        (["0.6", "0.7", "0.8"], "green"),  # mean exactly 0.7
        (["0.1", "0.7", "0.7", "0.7"], "green"),  # only the last 3 closed sprints count
        (["0.7", "0.7", "0.6"], "amber"),
        (["0.6"], "amber"),  # fewer than 3 closed sprints: the mean of those there are
    ],
)
def test_say_do_threshold_is_strict_and_looks_at_the_last_three_closed_sprints(
    world, ratios, expected
):
    project = world.own_project
    project.target_date = None
    project.save()
    sprints_with_say_do(project, ratios)

    result = project_health(user=world.viewer, project=project, now=NOW)

    assert result.status == expected


def test_a_sprint_that_committed_nothing_is_left_out_of_the_say_do_mean(world):
    # given: S2 committed nothing (no ratio); S1 and S3 have 0.6 and 0.9 (mean 0.75)
    project = world.own_project
    project.target_date = None
    project.save()
    sprints_with_say_do(project, ["0.6"])
    closed_sprint(project, "S2", start=utc(2026, 1, 19, 9), committed=0, completed=0)
    closed_sprint(project, "S3", start=utc(2026, 2, 2, 9), committed=10, completed=9)

    result = project_health(user=world.viewer, project=project, now=NOW)

    assert result.status == "green"
    assert reason(result, "SAY_DO_BELOW").sentence == (
        "Say/do averages 0.75 over 2 of the last 3 closed sprints (S1 0.60, S3 0.90), "
        "not below 0.7."
    )


# --- Grey: no data -------------------------------------------------------------------------


def test_project_without_any_data_is_grey_no_data_never_green(world):
    result = project_health(user=world.viewer, project=world.sibling_project, now=NOW)

    assert (result.status, result.label) == ("grey", "no data")
    assert result.reasons[0].rule == health.NO_DATA_RULE
    assert result.reasons[0].sentence.startswith("No data:")
    assert {r.verdict for r in result.reasons[1:]} == {Verdict.NO_DATA}


def test_too_little_history_and_no_closed_sprint_is_grey_with_the_forecast_reason(world):
    # given: items done over the last 5 days only (the forecast needs 10), no sprint
    project = world.own_project
    for number in range(5):
        item(project, f"PAY-{number}", created=midnight(TODAY - 5 * DAY)).done(
            NOW - (number + 1) * DAY
        )
    open_items(project, 3, created=midnight(TODAY - 5 * DAY))

    result = project_health(user=world.viewer, project=project, now=NOW)

    assert result.status == "grey"
    assert (
        "Only 5 day(s) of throughput history" in reason(result, "FORECAST_85_AFTER_TARGET").sentence
    )


def test_a_closed_sprint_that_committed_nothing_and_no_forecast_is_still_grey(world):
    project = world.own_project
    closed_sprint(project, "S1", start=NOW - 20 * DAY, committed=0, completed=0, days=7)

    result = project_health(user=world.viewer, project=project, now=NOW)

    assert result.status == "grey"


# --- Green ---------------------------------------------------------------------------------


def test_forecast_before_the_target_and_good_say_do_is_green_with_every_rule_passed(world):
    project = forecastable(world.own_project, target=dt.date(2026, 6, 30), open_count=7)
    sprints_with_say_do(project, ["0.9", "1", "0.8"])

    result = project_health(user=world.viewer, project=project, now=NOW)

    assert result.status == "green"
    assert result.fired == ()
    assert {r.verdict for r in result.reasons} == {Verdict.PASSED}


# --- Configurable, reproducible, scoped ----------------------------------------------------


def test_rules_are_configurable_by_building_another_rule_object(world):
    # given: say/do 0.8 on average, green by the default threshold
    project = world.own_project
    project.target_date = None
    project.save()
    sprints_with_say_do(project, ["0.8"])
    snapshot = project_snapshot(user=world.viewer, project=project, now=NOW)
    strict = SayDoBelow(
        name="SAY_DO_BELOW_0_9",
        status="amber",
        threshold=Decimal("0.9"),
        sprints=3,
        description="Amber below 0.9.",
    )

    # when / then
    assert evaluate_health(snapshot).status == "green"
    assert evaluate_health(snapshot, rules=(strict,)).status == "amber"
    assert evaluate_health(snapshot, rules=(strict,)).reasons[0].rule == "SAY_DO_BELOW_0_9"


def test_an_imported_snapshot_is_judged_at_its_data_as_of_instant(world):
    # given: the red project of above, imported as a snapshot taken at NOW
    project = forecastable(world.own_project, target=dt.date(2026, 3, 29))
    project.data_as_of = NOW
    project.save()

    # when: asked eight months later (at that time no item was done in the last 90 days)
    later = project_health(user=world.viewer, project=project, now=utc(2026, 11, 20))

    # then: the same answer as at the snapshot instant
    assert later == project_health(user=world.viewer, project=project, now=NOW)
    assert later.status == "red"


def test_health_of_a_project_the_user_may_not_see_is_not_found(world):
    with pytest.raises(Http404):
        project_health(user=world.team_lead, project=world.sibling_project, now=NOW)
    with pytest.raises(Http404):
        project_health(user=world.outsider, project=world.own_project, now=NOW)
