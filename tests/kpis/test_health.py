"""KPI rules of project health (METRICS.md "Health"): red if any KPI is beyond its red
threshold, amber if any is beyond its amber threshold, with the KPI named in the reason;
no data is grey, never green; the portfolio dashboard counts them in constant queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metrics import health, selectors
from metrics.health import KPI_BEYOND_AMBER, KPI_BEYOND_RED, Verdict
from portfolio.permissions import forget_cached_permissions
from tests.factories import ProjectFactory
from tests.kpis.conftest import FEBRUARY, JANUARY
from tests.kpis.factories import CycleTimeKPIFactory, KPIFactory, MeasurementFactory
from tests.metrics.builders import NOW

KPI_RULES = {"KPI_BEYOND_RED", "KPI_BEYOND_AMBER"}


def reason(result, rule: str):
    (found,) = [r for r in result.reasons if r.rule == rule]
    return found


def health_of(world, project):
    return selectors.project_health(user=world.viewer, project=project, now=NOW)


def test_kpi_rules_are_default_rules_with_their_status():
    assert KPI_BEYOND_RED in health.DEFAULT_RULES
    assert KPI_BEYOND_AMBER in health.DEFAULT_RULES
    assert (KPI_BEYOND_RED.status, KPI_BEYOND_AMBER.status) == ("red", "amber")


def test_a_kpi_beyond_its_red_threshold_makes_the_project_red_and_says_which(world, satisfaction):
    MeasurementFactory(kpi=satisfaction, period_start=JANUARY, value=Decimal("3.2"))

    result = health_of(world, world.own_project)

    assert result.status == "red"
    red = reason(result, "KPI_BEYOND_RED")
    assert (red.verdict, red.status) == (Verdict.FIRED, "red")
    assert red.sentence == (
        "1 KPI is beyond the red threshold: Customer satisfaction 3.2 score for 2026-01-01 is "
        "below its red threshold 3.5."
    )
    # METRICS.md's amber rule ("any KPI beyond amber") names it too
    assert reason(result, "KPI_BEYOND_AMBER").verdict == Verdict.FIRED
    assert result.fired[0].rule == "KPI_BEYOND_RED"


def test_a_kpi_beyond_amber_only_makes_the_project_amber(world, satisfaction, cycle_time):
    MeasurementFactory(kpi=satisfaction, value=Decimal("4.6"))
    MeasurementFactory(kpi=cycle_time, period_start=dt.date(2026, 1, 5), value=Decimal("8"))

    result = health_of(world, world.own_project)

    assert result.status == "amber"
    assert reason(result, "KPI_BEYOND_RED").verdict == Verdict.PASSED
    assert reason(result, "KPI_BEYOND_AMBER").sentence == (
        "1 KPI is beyond the amber threshold: Cycle time 8 days for 2026-01-05 is above its "
        "amber threshold 7."
    )


def test_kpis_on_their_thresholds_are_not_beyond_them_and_the_project_is_green(
    world, satisfaction, cycle_time
):
    MeasurementFactory(kpi=satisfaction, value=Decimal(4))  # amber threshold, higher is better
    MeasurementFactory(kpi=cycle_time, period_start=dt.date(2026, 1, 5), value=Decimal(7))

    result = health_of(world, world.own_project)

    assert result.status == "green"
    assert reason(result, "KPI_BEYOND_RED").sentence == (
        "None of the 2 measured KPIs is beyond its red threshold (Customer satisfaction 4 "
        "score, Cycle time 7 days)."
    )


def test_the_latest_period_decides_not_the_latest_entry(world, satisfaction):
    MeasurementFactory(kpi=satisfaction, period_start=FEBRUARY, value=Decimal("4.8"))
    MeasurementFactory(kpi=satisfaction, period_start=JANUARY, value=Decimal(2))  # entered later

    assert health_of(world, world.own_project).status == "green"


def test_kpis_without_any_measurement_are_no_data_and_the_project_is_grey(world, satisfaction):
    result = health_of(world, world.own_project)

    assert (result.status, result.label) == ("grey", "no data")
    assert reason(result, "KPI_BEYOND_RED").verdict == Verdict.NO_DATA
    assert reason(result, "KPI_BEYOND_RED").sentence == (
        "No KPI has a measurement yet (Customer satisfaction)."
    )


def test_one_measured_kpi_is_enough_data_and_unmeasured_ones_are_named(
    world, satisfaction, cycle_time
):
    MeasurementFactory(kpi=satisfaction, value=Decimal("4.7"))

    result = health_of(world, world.own_project)

    assert result.status == "green"
    assert reason(result, "KPI_BEYOND_AMBER").sentence == (
        "Customer satisfaction 4.7 score is not beyond its amber threshold. "
        "Not measured yet: Cycle time."
    )


def test_a_project_without_kpis_has_no_kpi_reasons(world):
    result = health_of(world, world.own_project)

    assert not KPI_RULES & {r.rule for r in result.reasons}
    assert result.status == "grey"


def test_a_retired_kpi_no_longer_counts(world, satisfaction):
    MeasurementFactory(kpi=satisfaction, value=Decimal(2))
    satisfaction.active = False
    satisfaction.save()

    result = health_of(world, world.own_project)

    assert not KPI_RULES & {r.rule for r in result.reasons}


def test_another_projects_kpis_do_not_touch_this_project(world, sibling_kpi):
    MeasurementFactory(kpi=sibling_kpi, value=Decimal(1))

    assert health_of(world, world.own_project).status == "grey"
    assert health_of(world, world.sibling_project).status == "red"


# --- the portfolio dashboard ----------------------------------------------------------------


def test_the_portfolio_dashboard_counts_kpi_health_and_shows_the_reason(world, sibling_kpi):
    MeasurementFactory(kpi=sibling_kpi, value=Decimal("3.8"))

    dashboard = selectors.portfolio_dashboard(user=world.pmo_leader, portfolio=world.own, now=NOW)

    rows = {row.key: row for row in dashboard.rows}
    assert rows["CARD"].health.status == "amber"
    assert rows["PAY"].health.status == "grey"
    assert (dashboard.totals.health.amber, dashboard.totals.health.grey) == (1, 1)
    assert "Customer satisfaction 3.8 score" in rows["CARD"].health.fired[0].sentence


def _with_kpis(project, values):
    satisfaction = KPIFactory(project=project, name="Satisfaction")
    cycle = CycleTimeKPIFactory(project=project, name="Cycle time")
    for number, value in enumerate(values):
        MeasurementFactory(
            kpi=satisfaction, period_start=dt.date(2026, 1 + number, 1), value=Decimal(value)
        )
        MeasurementFactory(
            kpi=cycle,
            period_start=dt.date(2026, 1, 5) + dt.timedelta(weeks=number),
            value=Decimal(value) * 2,
        )


@pytest.mark.parametrize("role", ["pmo_leader", "admin"])
def test_the_portfolio_dashboard_reads_every_projects_kpis_in_one_query(
    world, django_assert_num_queries, role
):
    # given: both projects with KPIs and measurements
    user = world.admin if role == "admin" else world.pmo_leader
    _with_kpis(world.own_project, ["4", "3"])
    _with_kpis(world.sibling_project, ["4.5"])
    selectors.portfolio_dashboard(user=user, portfolio=world.own, now=NOW)  # warm caches
    forget_cached_permissions(user)
    with CaptureQueriesContext(connection) as small:
        small_dashboard = selectors.portfolio_dashboard(user=user, portfolio=world.own, now=NOW)
    kpi_queries = [q["sql"] for q in small.captured_queries if '"metrics_kpi"' in q["sql"]]

    # given: four more projects, each with KPIs and a longer history
    for number in range(4):
        _with_kpis(ProjectFactory(portfolio=world.own, key=f"MORE{number}"), ["4", "5", "2", "3"])

    # when / then: the same queries, one of them for every project's KPIs
    forget_cached_permissions(user)
    with django_assert_num_queries(len(small.captured_queries)):
        large = selectors.portfolio_dashboard(user=user, portfolio=world.own, now=NOW)
    assert len(kpi_queries) == 1
    assert (len(small_dashboard.rows), len(large.rows)) == (2, 6)
    assert large.totals.health.red == 5  # PAY (3 < 3.5) and the four (3 < 3.5)
