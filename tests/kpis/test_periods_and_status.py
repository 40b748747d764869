"""The pure rules: which period starts each cadence accepts, and a value's RAG status in
each direction, on and around the thresholds (metrics.kpis.periods, metrics.kpis.rag)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from metrics.kpis import periods
from metrics.kpis.rag import kpi_status, thresholds_error

TODAY = dt.date(2026, 11, 20)  # a Friday


@pytest.mark.parametrize(
    ("cadence", "day", "accepted"),
    [
        ("weekly", dt.date(2026, 11, 16), True),  # Monday
        ("weekly", dt.date(2026, 11, 17), False),  # Tuesday
        ("weekly", dt.date(2026, 11, 15), False),  # Sunday
        ("monthly", dt.date(2026, 11, 1), True),
        ("monthly", dt.date(2026, 11, 2), False),
        ("quarterly", dt.date(2026, 10, 1), True),
        ("quarterly", dt.date(2026, 7, 1), True),
        ("quarterly", dt.date(2026, 11, 1), False),  # first of a month, not of a quarter
        ("quarterly", dt.date(2026, 10, 2), False),
        ("per_sprint", dt.date(2026, 11, 9), True),  # a sprint's start
        ("per_sprint", dt.date(2026, 11, 10), False),
    ],
)
def test_period_start_must_match_the_cadence(cadence, day, accepted):
    error = periods.period_error(
        cadence=cadence,
        period_start=day,
        today=TODAY,
        sprint_starts={dt.date(2026, 10, 26), dt.date(2026, 11, 9)},
    )

    assert (error is None) is accepted, error


def test_the_cadence_message_proposes_the_period_the_person_meant():
    weekly = periods.period_error(cadence="weekly", period_start=dt.date(2026, 11, 18), today=TODAY)
    monthly = periods.period_error(
        cadence="monthly", period_start=dt.date(2026, 11, 18), today=TODAY
    )
    quarterly = periods.period_error(
        cadence="quarterly", period_start=dt.date(2026, 11, 18), today=TODAY
    )

    assert "is a Wednesday. Did you mean 2026-11-16?" in weekly
    assert "did you mean 2026-11-01?" in monthly
    assert "did you mean 2026-10-01?" in quarterly


@pytest.mark.parametrize("cadence", ["weekly", "monthly", "quarterly", "per_sprint"])
def test_a_period_starting_after_today_is_in_the_future_and_refused(cadence):
    error = periods.period_error(
        cadence=cadence,
        period_start=dt.date(2027, 1, 1),
        today=TODAY,
        sprint_starts={dt.date(2027, 1, 1)},
    )

    assert error is not None
    assert "is in the future (today is 2026-11-20)" in error


def test_the_current_period_may_be_entered_before_it_ends():
    assert (
        periods.period_error(cadence="weekly", period_start=dt.date(2026, 11, 16), today=TODAY)
        is None
    )
    assert (
        periods.period_error(cadence="monthly", period_start=dt.date(2026, 11, 1), today=TODAY)
        is None
    )


def test_a_per_sprint_kpi_of_a_project_without_sprints_says_so():
    error = periods.period_error(cadence="per_sprint", period_start=TODAY, today=TODAY)

    assert error is not None
    assert "has no sprints yet" in error


def test_sprint_start_dates_are_local_dates_of_the_project():
    # 23:30 UTC on Sunday is already Monday in Paris
    starts = [dt.datetime(2026, 11, 15, 23, 30, tzinfo=dt.UTC)]

    assert periods.sprint_start_dates(starts, "Europe/Paris") == (dt.date(2026, 11, 16),)
    assert periods.sprint_start_dates(starts, "UTC") == (dt.date(2026, 11, 15),)


@pytest.mark.parametrize(
    ("cadence", "expected"),
    [
        ("weekly", dt.date(2026, 11, 16)),
        ("monthly", dt.date(2026, 11, 1)),
        ("quarterly", dt.date(2026, 10, 1)),
        ("per_sprint", dt.date(2026, 11, 9)),
    ],
)
def test_the_add_form_proposes_the_period_today_falls_in(cadence, expected):
    proposed = periods.current_period_start(
        cadence=cadence,
        today=TODAY,
        sprint_starts=(dt.date(2026, 10, 26), dt.date(2026, 11, 9), dt.date(2026, 11, 23)),
    )

    assert proposed == expected


@pytest.mark.parametrize(
    ("cadence", "expected"),
    [
        ("weekly", [dt.date(2026, 11, 2), dt.date(2026, 11, 9)]),
        ("monthly", [dt.date(2026, 9, 1), dt.date(2026, 10, 1)]),
        ("quarterly", [dt.date(2026, 4, 1), dt.date(2026, 7, 1)]),
    ],
)
def test_previous_complete_periods_leave_out_the_current_one(cadence, expected):
    assert periods.previous_period_starts(cadence, TODAY, 2) == expected


def test_previous_months_cross_the_year_boundary():
    assert periods.previous_period_starts("monthly", dt.date(2026, 2, 10), 3) == [
        dt.date(2025, 11, 1),
        dt.date(2025, 12, 1),
        dt.date(2026, 1, 1),
    ]
    assert periods.next_period_start("quarterly", dt.date(2026, 10, 1)) == dt.date(2027, 1, 1)


# --- status --------------------------------------------------------------------------------

HIGHER = {
    "direction": "higher_is_better",
    "amber_threshold": Decimal(4),
    "red_threshold": Decimal("3.5"),
}
LOWER = {
    "direction": "lower_is_better",
    "amber_threshold": Decimal(7),
    "red_threshold": Decimal(10),
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4.5", "green"),
        ("4", "green"),  # on the amber threshold: not beyond it
        ("3.99", "amber"),
        ("3.5", "amber"),  # on the red threshold: amber, not red
        ("3.49", "red"),
        ("1", "red"),
    ],
)
def test_higher_is_better_turns_amber_then_red_strictly_below_the_thresholds(value, expected):
    assert kpi_status(value=Decimal(value), **HIGHER) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", "green"),
        ("7", "green"),  # on the amber threshold
        ("7.01", "amber"),
        ("10", "amber"),  # on the red threshold
        ("10.5", "red"),
    ],
)
def test_lower_is_better_turns_amber_then_red_strictly_above_the_thresholds(value, expected):
    assert kpi_status(value=Decimal(value), **LOWER) == expected


def test_no_value_is_grey_never_green():
    assert kpi_status(value=None, **HIGHER) == "grey"
    assert kpi_status(value=None, **LOWER) == "grey"


def test_equal_amber_and_red_thresholds_leave_no_amber_band():
    same = {
        "direction": "higher_is_better",
        "amber_threshold": Decimal(3),
        "red_threshold": Decimal(3),
    }

    assert kpi_status(value=Decimal(3), **same) == "green"
    assert kpi_status(value=Decimal("2.9"), **same) == "red"


@pytest.mark.parametrize(
    ("direction", "target", "amber", "red", "fields"),
    [
        ("higher_is_better", 5, 4, 3, set()),
        ("higher_is_better", 5, 6, 3, {"amber_threshold"}),
        ("higher_is_better", 5, 4, 4.5, {"red_threshold"}),
        ("lower_is_better", 5, 7, 10, set()),
        ("lower_is_better", 5, 4, 10, {"amber_threshold"}),
        ("lower_is_better", 5, 7, 6, {"red_threshold"}),
    ],
)
def test_thresholds_must_run_from_the_target_towards_worse_values(
    direction, target, amber, red, fields
):
    errors = thresholds_error(
        direction=direction,
        target=Decimal(target),
        amber_threshold=Decimal(str(amber)),
        red_threshold=Decimal(str(red)),
    )

    assert set(errors) == fields
