"""Monte Carlo forecasts (METRICS.md "Forecasting")."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.http import Http404

from metrics import forecasting
from metrics.flow import DailyThroughput
from metrics.selectors import forecast_how_many, forecast_when, forecasts_how_many
from tests.factories import ProjectFactory
from tests.metrics.history import item, utc

NOW = utc(2026, 3, 21, 15)
TODAY = dt.date(2026, 3, 21)


def history(counts: list[int]) -> DailyThroughput:
    """A sample of len(counts) days ending yesterday."""
    return DailyThroughput(
        today=TODAY,
        history_start=TODAY - dt.timedelta(days=len(counts)),
        history_end=TODAY,
        counts=tuple(counts),
    )


def complete_per_day(project, per_day: dict[dt.date, int], *, created: dt.datetime) -> None:
    number = 0
    for day, count in per_day.items():
        for _ in range(count):
            number += 1
            item(project, f"{project.key}-{number}", created=created).done(
                dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
            )


def test_constant_throughput_forecasts_the_same_answer_at_every_percentile(world):
    # given: exactly 2 items done every day from 1 to 20 March, and 3 more today (partial
    # day, left out of the sample)
    project = world.own_project
    days = [dt.date(2026, 3, 1) + dt.timedelta(days=n) for n in range(20)]
    complete_per_day(project, dict.fromkeys(days, 2), created=utc(2026, 3, 1))
    complete_per_day(ProjectFactory(portfolio=world.own), {TODAY: 3}, created=utc(2026, 3, 1))

    # when
    when = forecast_when(user=world.viewer, project=project, remaining=20, seed=7, now=NOW)
    how_many = forecast_how_many(
        user=world.viewer, project=project, until=dt.date(2026, 3, 28), seed=7, now=NOW
    )

    # then: 20 items at 2 a day take 10 days; 7 days give 14 items
    assert when.available, when.reason
    assert (when.p50_days, when.p85_days, when.p95_days) == (10, 10, 10)
    assert when.p50_date == when.p85_date == when.p95_date == dt.date(2026, 3, 31)
    assert how_many.available, how_many.reason
    assert (how_many.days, how_many.p50, how_many.p85, how_many.p95) == (7, 14, 14, 14)


def test_forecast_records_trials_seed_and_history_window(world):
    # given: the project's first item was created on 1 March
    complete_per_day(
        world.own_project, {dt.date(2026, 3, 5): 1, TODAY: 4}, created=utc(2026, 3, 1, 8)
    )

    # when
    when = forecast_when(user=world.viewer, project=world.own_project, remaining=3, now=NOW)

    # then: 1 to 20 March (today excluded), the default seed and 10,000 trials
    assert (when.trials, when.seed) == (10_000, forecasting.DEFAULT_SEED)
    assert (when.today, when.history_start, when.history_end) == (
        TODAY,
        dt.date(2026, 3, 1),
        TODAY,
    )
    assert (when.history_days, when.history_completed) == (20, 1)


def test_history_is_the_last_90_days_by_default_and_configurable(world):
    # given: a project with work since 2025 and one completion every day
    project = world.own_project
    item(project, "PAY-0", created=utc(2025, 6, 1))
    days = [TODAY - dt.timedelta(days=n) for n in range(1, 121)]
    complete_per_day(project, dict.fromkeys(days, 1), created=utc(2025, 6, 1))

    # when
    default = forecast_when(user=world.viewer, project=project, remaining=5, now=NOW)
    short = forecast_when(user=world.viewer, project=project, remaining=5, now=NOW, history_days=30)

    # then
    assert (default.history_start, default.history_days, default.history_completed) == (
        TODAY - dt.timedelta(days=90),
        90,
        90,
    )
    assert (short.history_start, short.history_days) == (TODAY - dt.timedelta(days=30), 30)
    assert default.p95_days == short.p95_days == 5


def test_forecast_with_too_little_history_is_not_available(world):
    # given: the first item was created 6 days before today
    complete_per_day(world.own_project, {dt.date(2026, 3, 16): 2}, created=utc(2026, 3, 15, 9))

    # when
    when = forecast_when(user=world.viewer, project=world.own_project, remaining=5, now=NOW)
    how_many = forecast_how_many(
        user=world.viewer, project=world.own_project, until=dt.date(2026, 4, 30), now=NOW
    )

    # then
    for forecast in (when, how_many):
        assert not forecast.available
        assert "Only 6 day(s)" in forecast.reason
        assert "at least 10" in forecast.reason
    assert (when.p50_days, when.p85_date, how_many.p85) == (None, None, None)


def test_forecast_with_exactly_ten_days_of_history_is_available(world):
    complete_per_day(world.own_project, {dt.date(2026, 3, 16): 2}, created=utc(2026, 3, 11, 9))

    when = forecast_when(user=world.viewer, project=world.own_project, remaining=5, now=NOW)

    assert when.available, when.reason
    assert when.history_days == 10


def test_forecast_without_completions_is_not_available(world):
    # given: items for two months, none done (one done today does not count)
    item(world.own_project, "PAY-1", created=utc(2026, 1, 10))
    item(world.own_project, "PAY-2", created=utc(2026, 1, 10)).done(utc(2026, 3, 21, 9))

    # when
    when = forecast_when(user=world.viewer, project=world.own_project, remaining=5, now=NOW)

    # then
    assert not when.available
    assert "No item was completed" in when.reason


def test_forecast_of_an_empty_project_is_not_available(world):
    when = forecast_when(user=world.viewer, project=world.own_project, remaining=5, now=NOW)

    assert not when.available
    assert when.history_days == 0


def test_same_seed_gives_the_same_forecast_and_a_recorded_seed_reproduces_it(world):
    # given: an irregular history
    counts = [0, 1, 3, 0, 0, 2, 5, 1, 0, 1, 4, 0, 2, 2]
    days = [TODAY - dt.timedelta(days=len(counts) - n) for n in range(len(counts))]
    complete_per_day(
        world.own_project, dict(zip(days, counts, strict=True)), created=utc(2026, 3, 1)
    )

    # when
    first = forecast_when(
        user=world.viewer, project=world.own_project, remaining=40, seed=3, now=NOW
    )
    again = forecast_when(
        user=world.viewer, project=world.own_project, remaining=40, seed=3, now=NOW
    )
    until = dt.date(2026, 4, 20)
    many = forecast_how_many(
        user=world.viewer, project=world.own_project, until=until, seed=3, now=NOW
    )
    many_again = forecast_how_many(
        user=world.viewer, project=world.own_project, until=until, seed=3, now=NOW
    )

    # then
    assert first == again
    assert many == many_again
    assert first.available
    assert many.available
    assert first.p50_days <= first.p85_days <= first.p95_days
    assert many.p50 >= many.p85 >= many.p95


def test_when_percentiles_are_numpy_inverted_cdf_percentiles_of_the_trial_day_counts():
    # given
    sample = history([0, 1, 3, 0, 0, 2, 5, 1, 0, 1, 4, 0])

    # when
    forecast = forecasting.forecast_when(sample, remaining=25, seed=11)

    # then: the same seed replays the same trials
    days = forecasting.days_to_finish(
        np.asarray(sample.counts),
        remaining=25,
        trials=forecasting.DEFAULT_TRIALS,
        rng=np.random.default_rng(11),
    )
    expected = np.percentile(days, [50, 85, 95], method="inverted_cdf")
    assert [forecast.p50_days, forecast.p85_days, forecast.p95_days] == list(expected)
    assert np.mean(days <= forecast.p85_days) >= 0.85
    assert np.mean(days <= forecast.p85_days - 1) < 0.85
    assert forecast.p85_date == TODAY + dt.timedelta(days=forecast.p85_days)


def test_how_many_at_85_percent_is_the_count_at_least_85_percent_of_trials_reached():
    # given
    sample = history([0, 1, 3, 0, 0, 2, 5, 1, 0, 1, 4, 0])
    until = TODAY + dt.timedelta(days=14)

    # when
    forecast = forecasting.forecast_how_many(sample, until=until, seed=5)

    # then: a 15th percentile taken from the top
    counts = forecasting.completions_by(
        np.asarray(sample.counts),
        days=14,
        trials=forecasting.DEFAULT_TRIALS,
        rng=np.random.default_rng(5),
    )
    for percent, answer in [(50, forecast.p50), (85, forecast.p85), (95, forecast.p95)]:
        assert np.mean(counts >= answer) >= percent / 100
        assert np.mean(counts >= answer + 1) < percent / 100
    assert forecast.p85 == -np.percentile(-counts, 85, method="inverted_cdf")


def test_how_many_needs_a_date_after_today():
    forecast = forecasting.forecast_how_many(history([1] * 12), until=TODAY, seed=1)

    assert not forecast.available
    assert "not after today" in forecast.reason


def test_when_with_nothing_remaining_is_today():
    forecast = forecasting.forecast_when(history([1] * 12), remaining=0, seed=1)

    assert (forecast.p50_days, forecast.p95_days, forecast.p95_date) == (0, 0, TODAY)


def test_when_beyond_the_horizon_is_not_available():
    # given: one item in twelve days, 10,000 items to go
    forecast = forecasting.forecast_when(
        history([1] + [0] * 11), remaining=10_000, seed=1, trials=200
    )

    assert not forecast.available
    assert "3650 days" in forecast.reason


def test_negative_remaining_is_refused():
    with pytest.raises(ValueError, match="negative"):
        forecasting.forecast_when(history([1] * 12), remaining=-1, seed=1)


def test_forecast_days_follow_the_project_time_zone(world):
    # given: New York; now is 21 Mar 02:00 UTC = 20 Mar 22:00 local, so today is 20 March
    # and a completion at 21 Mar 01:00 UTC (20 Mar local, today) is left out
    project = ProjectFactory(portfolio=world.own, key="NYC", time_zone="America/New_York")
    complete_per_day(project, {dt.date(2026, 3, 5): 1}, created=utc(2026, 3, 1, 12))
    item(project, "NYC-today", created=utc(2026, 3, 1, 12)).done(utc(2026, 3, 21, 1))

    # when
    when = forecast_when(user=world.viewer, project=project, remaining=1, now=utc(2026, 3, 21, 2))

    # then
    assert (when.today, when.history_start, when.history_end) == (
        dt.date(2026, 3, 20),
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 20),
    )
    assert when.history_completed == 1


def test_forecast_of_a_project_the_user_may_not_see_answers_not_found(world):
    with pytest.raises(Http404):
        forecast_when(user=world.outsider, project=world.own_project, remaining=3, now=NOW)
    with pytest.raises(Http404):
        forecast_how_many(user=world.outsider, project=world.own_project, until=TODAY, now=NOW)


def test_when_histogram_counts_every_trial_and_its_marks_are_read_from_it():
    # given
    sample = history([0, 1, 3, 0, 2, 5, 1, 0, 4, 2, 1, 3])

    # when
    forecast = forecasting.forecast_when(sample, remaining=30, seed=11, trials=2_000)

    # then: every trial is in one bar, days ascending, and each mark is the first day by
    # which at least that share of trials had finished
    days = [day for day, _ in forecast.distribution]
    assert days == sorted(days)
    assert sum(trials for _, trials in forecast.distribution) == 2_000
    for percent, mark in (
        (50, forecast.p50_days),
        (85, forecast.p85_days),
        (95, forecast.p95_days),
    ):
        finished_by_mark = sum(trials for day, trials in forecast.distribution if day <= mark)
        finished_before = sum(trials for day, trials in forecast.distribution if day < mark)
        assert finished_by_mark * 100 >= percent * 2_000 > finished_before * 100


def test_cached_when_forecast_keeps_its_histogram():
    # given: a dictionary standing in for the cache's get / set
    class Memory(dict):
        def set(self, key, value, timeout):
            self[key] = value

    cache = Memory()
    sample = history([1, 2, 0, 3, 1, 2, 2, 0, 1, 4])
    first = forecasting.forecast_when(sample, remaining=12, seed=3, trials=500, cache=cache)

    # when
    second = forecasting.forecast_when(sample, remaining=12, seed=3, trials=500, cache=cache)

    # then
    assert len(cache) == 1
    assert second == first
    assert second.distribution


def test_how_many_of_several_projects_is_one_sample_query_and_the_same_answers(
    world, django_assert_num_queries
):
    # given: two projects with different throughput
    days = [dt.date(2026, 3, 1) + dt.timedelta(days=n) for n in range(20)]
    complete_per_day(world.own_project, dict.fromkeys(days, 2), created=utc(2026, 3, 1))
    complete_per_day(world.sibling_project, dict.fromkeys(days, 1), created=utc(2026, 3, 1))
    until = {
        world.own_project: TODAY + dt.timedelta(days=10),
        world.sibling_project: TODAY + dt.timedelta(days=20),
    }
    single = {
        project.pk: forecast_how_many(user=world.viewer, project=project, until=date, now=NOW)
        for project, date in until.items()
    }

    # when: the permission check, then one query for every project's samples
    with django_assert_num_queries(2):
        batched = forecasts_how_many(user=world.viewer, until=until, now=NOW)

    # then
    assert batched == single
    assert batched[world.own_project.pk].p50 == 20


def test_how_many_of_several_projects_refuses_a_project_the_user_may_not_see(world):
    until = {
        world.own_project: TODAY + dt.timedelta(days=5),
        world.foreign_project: TODAY + dt.timedelta(days=5),
    }

    with pytest.raises(Http404):
        forecasts_how_many(user=world.team_lead, until=until, now=NOW)
