"""The portfolio dashboard selector: one row per visible project with health, velocity,
say/do, cycle time, throughput, forecast and risks, the portfolio totals, each project at its
metrics now, in a constant number of queries."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.http import Http404

from metrics import dashboards, forecasting, selectors
from metrics.flow import DailyThroughput
from metrics.health import evaluate_health
from metrics.risks import evaluate_risks
from portfolio.models import Sprint
from tests.factories import ProjectFactory, SprintFactory
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

# The last 8 complete ISO weeks before the week of Mon 16 March: 19 Jan to 9 Mar.
WEEKS = [dt.date(2026, 1, 19) + dt.timedelta(weeks=n) for n in range(8)]
# One item a day from Sat 28 Feb to Thu 19 Mar: 2 in the week of 23 Feb, 7 in each of the
# weeks of 2 and 9 March (the 5 of this week are in the current, partial week).
STEADY_WEEKS = [0, 0, 0, 0, 0, 2, 7, 7]


def portfolio_of_three(world):
    """PAY: red (10 open, forecast 30 March, target 29 March) with two closed sprints;
    CARD: no data (grey); WEB: green (5 open, forecast 25 March, target end of year)."""
    pay = world.own_project
    steady_throughput(pay, days=20)
    open_items(pay, 10, created=midnight(TODAY - 20 * DAY))
    pay.target_date = dt.date(2026, 3, 29)
    pay.save()
    web = ProjectFactory(portfolio=world.own, key="WEB", name="Web shop")
    steady_throughput(web, days=20)
    open_items(web, 5, created=midnight(TODAY - 20 * DAY))
    return pay, world.sibling_project, web


def test_dashboard_rows_hold_health_flow_forecast_and_risks_of_each_project(world):
    # given
    portfolio_of_three(world)

    # when
    dashboard = selectors.portfolio_dashboard(user=world.pmo_leader, portfolio=world.own, now=NOW)

    # then: by key
    card, pay, web = dashboard.rows
    assert [row.key for row in dashboard.rows] == ["CARD", "PAY", "WEB"]
    assert [row.health.status for row in dashboard.rows] == ["grey", "red", "green"]
    assert pay.health.reasons[0].rule == "FORECAST_85_AFTER_TARGET"
    assert pay.as_of == NOW
    assert pay.cycle_time_p85 == 0.0  # the steady items went straight to done
    assert [w.week_start for w in pay.throughput_weeks] == WEEKS
    assert [w.count for w in pay.throughput_weeks] == STEADY_WEEKS
    assert pay.throughput_total == 16
    assert (pay.open_items, pay.open_points, pay.wip) == (10, Decimal(30), 0)
    assert (pay.forecast.p50_date, pay.forecast.p85_date) == (
        dt.date(2026, 3, 30),
        dt.date(2026, 3, 30),
    )
    assert pay.target_date == dt.date(2026, 3, 29)
    assert [risk.code for risk in pay.risks] == ["FORECAST_AFTER_TARGET"]
    assert pay.risk_count == 1
    assert (web.forecast.p85_date, web.open_items, web.risk_count) == (dt.date(2026, 3, 25), 5, 0)
    assert (card.open_items, card.velocities, card.forecast.available) == (0, (), False)
    assert card.health.label == "no data"


def test_dashboard_rows_hold_the_velocity_and_say_do_of_the_last_closed_sprints(world):
    # given: seven closed sprints (the row keeps the last six) and an active one
    pay = world.own_project
    for number in range(7):
        closed_sprint(
            pay,
            f"S{number + 1}",
            start=utc(2025, 12, 1, 9) + dt.timedelta(weeks=2 * number),
            committed=10,
            completed=number + 3,
        )
    SprintFactory(project=pay, name="S8", start=utc(2026, 3, 16), state=Sprint.State.ACTIVE)

    # when
    (row,) = selectors.portfolio_dashboard(user=world.team_lead, portfolio=world.own, now=NOW).rows

    # then
    assert row.velocity_sprints == ("S2", "S3", "S4", "S5", "S6", "S7")
    assert row.velocities == tuple(Decimal(points) for points in range(4, 10))
    assert row.last_say_do == 0.9
    assert [sprint.say_do for sprint in row.closed_sprints] == [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def test_dashboard_totals_add_up_the_visible_rows(world):
    portfolio_of_three(world)

    dashboard = selectors.portfolio_dashboard(user=world.pmo_leader, portfolio=world.own, now=NOW)

    totals = dashboard.totals
    assert (totals.projects, totals.open_items, totals.open_points) == (3, 15, Decimal(45))
    assert (totals.throughput, totals.throughput_weeks) == (2 * sum(STEADY_WEEKS), 8)
    assert totals.risks == 1
    assert (totals.health.green, totals.health.amber, totals.health.red, totals.health.grey) == (
        1,
        0,
        1,
        1,
    )
    assert (dashboard.slug, dashboard.now) == ("payments", NOW)


def test_each_row_equals_the_project_level_health_and_risks(world):
    portfolio_of_three(world)
    closed_sprint(world.own_project, "S1", start=utc(2026, 2, 2, 9), committed=10, completed=5)

    dashboard = selectors.portfolio_dashboard(user=world.pmo_leader, portfolio=world.own, now=NOW)

    for row in dashboard.rows:
        project = world.own.projects.get(key=row.key)
        assert row.health == selectors.project_health(user=world.viewer, project=project, now=NOW)
        assert list(row.risks) == selectors.project_risks(
            user=world.viewer, project=project, now=NOW
        )
        forecast = selectors.forecast_when(user=world.viewer, project=project, now=NOW)
        assert row.forecast == forecast


def test_each_project_is_measured_at_its_own_metrics_now(world):
    # given: PAY is an imported snapshot taken at NOW; the dashboard is opened in November
    pay, _card, web = portfolio_of_three(world)
    pay.data_as_of = NOW
    pay.save()
    november = utc(2026, 11, 20, 12)

    # when
    dashboard = selectors.portfolio_dashboard(
        user=world.pmo_leader, portfolio=world.own, now=november
    )

    # then: PAY's figures are those of 20 March; WEB is measured in November (no recent
    # completions: its forecast is not available and it stalled)
    rows = {row.key: row for row in dashboard.rows}
    assert rows["PAY"].as_of == NOW
    assert [w.week_start for w in rows["PAY"].throughput_weeks] == WEEKS
    assert rows["PAY"].forecast.today == TODAY
    assert rows["PAY"].health.status == "red"
    assert rows["WEB"].as_of == november
    assert rows["WEB"].forecast.available is False
    assert [risk.code for risk in rows["WEB"].risks] == ["NO_THROUGHPUT"]


def test_team_lead_sees_only_their_project_in_the_rows_and_totals(world):
    portfolio_of_three(world)

    dashboard = selectors.portfolio_dashboard(user=world.team_lead, portfolio=world.own, now=NOW)

    assert [row.key for row in dashboard.rows] == ["PAY"]
    assert (dashboard.totals.projects, dashboard.totals.open_items) == (1, 10)


def test_dashboard_of_a_portfolio_the_user_may_not_see_is_not_found(world):
    with pytest.raises(Http404):
        selectors.portfolio_dashboard(user=world.outsider, portfolio=world.own, now=NOW)


# --- Constant number of queries --------------------------------------------------------------


def busy_project(project) -> None:
    """Closed sprints, an active sprint with scope change, steady throughput, work in
    progress and open items: every query of the dashboard has rows to work on."""
    steady_throughput(project, days=30)
    for number in range(3):
        closed_sprint(
            project,
            f"S{number}",
            start=utc(2026, 1, 5, 9) + dt.timedelta(weeks=2 * number),
            committed=10,
            completed=6 + number,
        )
    sprint = SprintFactory(
        project=project, name="Active", start=utc(2026, 3, 16), state=Sprint.State.ACTIVE
    )
    for number in range(4):
        history = item(project, f"{project.key}-A{number}", created=utc(2026, 3, 1), points=5)
        history.join(sprint, utc(2026, 3, 15) if number < 3 else utc(2026, 3, 17))
        if number % 2:
            history.start(utc(2026, 3, 17))


# the user's grants, visible projects, sprint figures (with the active sprints' burndown
# points), present-time flow, forecast samples with the open scope, KPIs with their values
DASHBOARD_QUERIES = 6


@pytest.mark.parametrize("role", ["pmo_leader", "team_lead", "admin"])
def test_portfolio_dashboard_runs_six_queries_for_two_or_six_projects(
    world, django_assert_num_queries, role
):
    # given: the portfolio's two projects with histories
    user = getattr(world, role)
    busy_project(world.own_project)
    busy_project(world.sibling_project)
    selectors.portfolio_dashboard(user=user, portfolio=world.own, now=NOW)
    # a superuser needs no visibility query
    expected = DASHBOARD_QUERIES - 1 if role == "admin" else DASHBOARD_QUERIES

    # when / then
    with django_assert_num_queries(expected):
        small = selectors.portfolio_dashboard(user=user, portfolio=world.own, now=NOW)

    # given: four more projects with histories
    for number in range(4):
        busy_project(ProjectFactory(portfolio=world.own, key=f"MORE{number}"))

    # when / then
    with django_assert_num_queries(expected):
        large = selectors.portfolio_dashboard(user=user, portfolio=world.own, now=NOW)
    if role == "team_lead":
        assert len(small.rows) == len(large.rows) == 1
    else:
        assert (len(small.rows), len(large.rows)) == (2, 6)
        assert all(row.risks for row in large.rows)


def test_project_health_and_risks_run_five_queries_at_any_history_size(
    world, django_assert_num_queries
):
    busy_project(world.own_project)
    selectors.project_risks(user=world.viewer, project=world.own_project, now=NOW)

    with django_assert_num_queries(5):
        selectors.project_health(user=world.viewer, project=world.own_project, now=NOW)
    with django_assert_num_queries(5):
        selectors.project_risks(user=world.viewer, project=world.own_project, now=NOW)

    busy_project(ProjectFactory(portfolio=world.own, key="MORE"))
    for number in range(3, 9):
        closed_sprint(
            world.own_project,
            f"S{number}",
            start=utc(2025, 1, 5, 9) + dt.timedelta(weeks=2 * number),
            committed=8,
            completed=4,
        )

    with django_assert_num_queries(5):
        selectors.project_health(user=world.viewer, project=world.own_project, now=NOW)
    with django_assert_num_queries(5):
        selectors.project_risks(user=world.viewer, project=world.own_project, now=NOW)


# --- Memoized simulations --------------------------------------------------------------------


@pytest.fixture
def private_cache(settings) -> None:
    """A local-memory cache of this test's own, so nothing cached by another test (or left in
    the shared Redis) decides how many simulations run."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"metrics-{uuid.uuid4()}",
        }
    }


def test_forecast_simulations_are_memoized_by_their_inputs(world, private_cache, monkeypatch):
    # given: PAY and WEB have a forecast history, CARD has none
    portfolio_of_three(world)
    simulations: list[int] = []
    simulate = forecasting.days_to_finish

    def counted(*args, **kwargs):
        simulations.append(kwargs["remaining"])
        return simulate(*args, **kwargs)

    monkeypatch.setattr(forecasting, "days_to_finish", counted)

    # when: the dashboard is opened twice
    first = selectors.portfolio_dashboard(user=world.pmo_leader, portfolio=world.own, now=NOW)
    again = selectors.portfolio_dashboard(user=world.pmo_leader, portfolio=world.own, now=NOW)

    # then: two simulations, none the second time, and the same answers
    assert sorted(simulations) == [5, 10]
    assert again == first

    # when: an input changes (one more open item in PAY)
    open_items(world.own_project, 1, created=midnight(TODAY - 20 * DAY), prefix="N")
    changed = selectors.portfolio_dashboard(user=world.pmo_leader, portfolio=world.own, now=NOW)

    # then: only that project is simulated again
    assert sorted(simulations) == [5, 10, 11]
    assert changed.rows[1].forecast.p85_date == dt.date(2026, 3, 31)


class _BrokenCache:
    def get(self, key, default=None):
        raise ConnectionError("cache down")

    def set(self, key, value, timeout=None):
        raise ConnectionError("cache down")


def test_a_failing_cache_gives_the_same_forecast_as_none():
    history = DailyThroughput(
        today=TODAY,
        history_start=TODAY - 12 * DAY,
        history_end=TODAY,
        counts=(0, 1, 3, 0, 0, 2, 5, 1, 0, 1, 4, 0),
    )

    plain = forecasting.forecast_when(history, remaining=25, seed=11, trials=2_000)
    broken = forecasting.forecast_when(
        history, remaining=25, seed=11, trials=2_000, cache=_BrokenCache()
    )

    assert broken == plain


class _CountingCache:
    """A dict cache that counts its round trips."""

    def __init__(self):
        self.data: dict[str, object] = {}
        self.round_trips = 0

    def get(self, key, default=None):
        self.round_trips += 1
        return self.data.get(key, default)

    def set(self, key, value, timeout=None):
        self.round_trips += 1
        self.data[key] = value

    def get_many(self, keys):
        self.round_trips += 1
        return {key: self.data[key] for key in keys if key in self.data}

    def set_many(self, data, timeout=None):
        self.round_trips += 1
        self.data.update(data)
        return []


def _histories() -> dict[str, tuple[DailyThroughput, int]]:
    def history(counts):
        return DailyThroughput(
            today=TODAY, history_start=TODAY - len(counts) * DAY, history_end=TODAY, counts=counts
        )

    return {
        "busy": (history((0, 1, 3, 0, 0, 2, 5, 1, 0, 1, 4, 0)), 25),
        "steady": (history((2,) * 14), 9),
        "idle": (history((0,) * 14), 3),  # unavailable: nothing done
    }


def test_batched_forecasts_equal_one_by_one_in_two_cache_round_trips():
    cache = _CountingCache()

    batched = forecasting.forecasts_when(_histories(), seed=11, trials=2_000, cache=cache)

    assert batched == {
        key: forecasting.forecast_when(history, remaining=remaining, seed=11, trials=2_000)
        for key, (history, remaining) in _histories().items()
    }
    assert cache.round_trips == 2  # one read, one write of the two simulated answers
    assert len(cache.data) == 2
    assert forecasting.forecasts_when(_histories(), seed=11, trials=2_000, cache=cache) == batched
    assert cache.round_trips == 3  # all found: one read, nothing to write


class _BrokenBatchCache(_BrokenCache):
    def get_many(self, keys):
        raise ConnectionError("cache down")

    def set_many(self, data, timeout=None):
        raise ConnectionError("cache down")


def test_batched_forecasts_with_a_failing_cache_equal_those_without_one():
    histories = _histories()

    broken = forecasting.forecasts_when(histories, seed=11, trials=2_000, cache=_BrokenBatchCache())

    assert broken == forecasting.forecasts_when(histories, seed=11, trials=2_000)


def test_the_project_page_snapshot_equals_the_project_snapshot_selector(world):
    # given: closed sprints, an active sprint behind its ideal line, throughput and open work
    pay, _card, _web = portfolio_of_three(world)
    for number in range(8):
        closed_sprint(
            pay, f"S{number}", start=utc(2025, 11, 3, 9) + number * 14 * DAY, committed=10,
            completed=number + 2,
        )  # fmt: skip
    sprint = SprintFactory(
        project=pay, name="Sprint 9", start=utc(2026, 3, 15), end=utc(2026, 3, 25),
        state=Sprint.State.ACTIVE,
    )  # fmt: skip
    item(pay, "PAY-LEFT", created=utc(2026, 3, 13), points=8).join(sprint, utc(2026, 3, 14))

    # when: the page builds it from its own reads, and the selector from its batched queries
    clock = dashboards.Clock.of(pay, now=NOW)
    page = dashboards.ProjectReads(user=world.viewer, project=pay, clock=clock).snapshot
    selected = selectors.project_snapshot(user=world.viewer, project=pay, now=NOW)

    # then: the same figures, so the same health and risks as the portfolio row
    assert page.active_sprint_day == selected.active_sprint_day
    assert page.active_sprint_day.day == dt.date(2026, 3, 19)
    assert page.forecast == selected.forecast
    assert (page.open_items, page.open_points) == (selected.open_items, selected.open_points)
    assert (
        page.summary.velocities
        == selected.summary.velocities
        == tuple(Decimal(n) for n in range(4, 10))
    )
    assert page.summary.say_do_history == selected.summary.say_do_history
    assert page.summary.flow == selected.summary.flow
    assert page.kpis == selected.kpis
    assert evaluate_health(page) == evaluate_health(selected)
    assert evaluate_risks(page) == evaluate_risks(selected)
    assert "BURNDOWN_BEHIND_IDEAL" in {signal.code for signal in evaluate_risks(page)}
