"""Computed KPIs follow the flow metrics: velocity and say/do per closed sprint, throughput
and cycle time p85 per complete calendar period, refreshed idempotently with their history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from governance.models import DecisionKind, DecisionLog
from metrics.kpis import tasks
from metrics.kpis.services import kpi_computed_refresh, kpi_create
from metrics.kpis.tasks import kpi_computed_refresh_task
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from tests.metrics.builders import closed_sprint
from tests.metrics.history import item, utc

SNAPSHOT = utc(2026, 3, 20, 12)


@pytest.fixture
def pay(world):
    """PAY as a snapshot taken on Fri 20 Mar 2026, so "today" is fixed for computed KPIs."""
    project = world.own_project
    project.data_as_of = SNAPSHOT
    project.save()
    return project


def computed_kpi(world, project, metric: str, cadence: str) -> KPI:
    return kpi_create(
        actor=world.pmo_leader,
        project=project,
        name=f"Computed {metric}",
        unit="",
        direction="lower_is_better" if metric == "cycle_time_p85" else "higher_is_better",
        target="5" if metric == "cycle_time_p85" else "10",
        amber_threshold="7" if metric == "cycle_time_p85" else "8",
        red_threshold="10" if metric == "cycle_time_p85" else "5",
        cadence=cadence,
        computed_from=metric,
    )


def values(kpi: KPI) -> dict[str, Decimal]:
    return {
        m.period_start.isoformat(): m.value
        for m in KPIMeasurement.objects.filter(kpi=kpi).order_by("period_start")
    }


def test_velocity_and_say_do_follow_each_closed_sprint(world, pay):
    # given: two closed sprints, 10 committed, 8 then 5 completed
    closed_sprint(pay, "S1", start=utc(2026, 1, 5, 9), committed=10, completed=8)
    closed_sprint(pay, "S2", start=utc(2026, 1, 19, 9), committed=10, completed=5)

    # when: the KPIs are defined (they fill themselves at once)
    velocity = computed_kpi(world, pay, "velocity", "per_sprint")
    say_do = computed_kpi(world, pay, "say_do", "per_sprint")

    # then: one value per sprint, at its start date
    assert values(velocity) == {"2026-01-05": Decimal(8), "2026-01-19": Decimal(5)}
    assert values(say_do) == {"2026-01-05": Decimal("0.8"), "2026-01-19": Decimal("0.5")}
    measurement = KPIMeasurement.objects.filter(kpi=velocity).first()
    assert (measurement.source, measurement.entered_by) == ("computed", None)
    assert measurement.revisions.get().change == "computed"


def test_a_refresh_adds_new_sprints_and_corrects_changed_values_only(world, pay):
    closed_sprint(pay, "S1", start=utc(2026, 1, 5, 9), committed=10, completed=8)
    velocity = computed_kpi(world, pay, "velocity", "per_sprint")
    entries = DecisionLog.objects.count()

    # when: nothing changed
    unchanged = kpi_computed_refresh(project=pay)

    # then: nothing written
    assert (unchanged.created, unchanged.updated, unchanged.unchanged) == (0, 0, 1)
    assert DecisionLog.objects.count() == entries
    assert KPIMeasurementRevision.objects.filter(kpi=velocity).count() == 1

    # when: another sprint closed
    closed_sprint(pay, "S2", start=utc(2026, 1, 19, 9), committed=6, completed=6)
    refreshed = kpi_computed_refresh(project=pay, actor=world.team_lead)

    # then: one value added, logged once, as the team lead who asked
    assert (refreshed.created, refreshed.updated) == (1, 0)
    assert values(velocity)["2026-01-19"] == Decimal(6)
    entry = DecisionLog.objects.filter(kind=DecisionKind.KPI_CHANGE).latest("id")
    assert entry.actor == world.team_lead
    assert entry.summary == (
        "PAY computed KPIs refreshed from the work-item history: 1 added, 0 changed"
    )


def test_a_changed_history_corrects_the_computed_value_and_keeps_the_old_one(world, pay):
    closed_sprint(pay, "S1", start=utc(2026, 1, 5, 9), committed=10, completed=8)
    velocity = computed_kpi(world, pay, "velocity", "per_sprint")
    # a late import adds a 2-point item done inside the sprint
    item(pay, "PAY-LATE", created=utc(2026, 1, 1), points=2).join(
        pay.sprints.get(), utc(2026, 1, 4)
    ).start(utc(2026, 1, 6)).done(utc(2026, 1, 7))

    refreshed = kpi_computed_refresh(project=pay)

    assert refreshed.updated == 1
    measurement = KPIMeasurement.objects.get(kpi=velocity)
    assert (measurement.value, measurement.version) == (Decimal(10), 2)
    newest = measurement.revisions.order_by("-version").first()
    assert (newest.change, newest.old_value, newest.new_value) == (
        "computed",
        Decimal(8),
        Decimal(10),
    )


def test_throughput_counts_items_done_per_complete_month_from_the_first_one(world, pay):
    # given: nothing in 2025, 3 items done in January, none in February, 2 in March (partial)
    for number, day in enumerate([5, 12, 30]):
        item(pay, f"PAY-J{number}", created=utc(2026, 1, 1)).done(utc(2026, 1, day, 10))
    for number in range(2):
        item(pay, f"PAY-M{number}", created=utc(2026, 3, 1)).done(utc(2026, 3, 10 + number))

    throughput = computed_kpi(world, pay, "throughput", "monthly")

    # then: January 3, February 0; March is not over on 20 March; earlier months left out
    assert values(throughput) == {"2026-01-01": Decimal(3), "2026-02-01": Decimal(0)}


def test_cycle_time_p85_of_each_complete_week(world, pay):
    # given: three items started on Monday 2 March, done after 1, 2 and 3 days
    for days in (1, 2, 3):
        item(pay, f"PAY-C{days}", created=utc(2026, 3, 1)).start(utc(2026, 3, 2, 9)).done(
            utc(2026, 3, 2, 9) + dt.timedelta(days=days)
        )

    cycle = computed_kpi(world, pay, "cycle_time_p85", "weekly")

    # then: the week of 2 March has p85 = 2 + 0.7 x 1 = 2.7 days; the next week has no item
    assert values(cycle) == {"2026-03-02": Decimal("2.7")}


def test_only_those_who_update_the_projects_kpis_may_ask_for_a_refresh(world, pay):
    with pytest.raises(PermissionDenied):
        kpi_computed_refresh(project=pay, actor=world.viewer)


def test_the_task_refreshes_every_project_with_computed_kpis_and_is_idempotent(world, pay):
    velocity = computed_kpi(world, pay, "velocity", "per_sprint")
    closed_sprint(pay, "S1", start=utc(2026, 1, 5, 9), committed=10, completed=8)

    first = kpi_computed_refresh_task()
    again = kpi_computed_refresh_task(project_id=pay.pk)

    assert (first, again) == (1, 0)
    assert values(velocity) == {"2026-01-05": Decimal(8)}


def test_one_failing_project_does_not_stop_the_task(world, pay, monkeypatch):
    computed_kpi(world, pay, "velocity", "per_sprint")
    card = world.sibling_project
    card.data_as_of = SNAPSHOT
    card.save()
    other = computed_kpi(world, card, "velocity", "per_sprint")
    closed_sprint(card, "C1", start=utc(2026, 1, 5, 9), committed=5, completed=5)
    real = tasks.kpi_computed_refresh

    def flaky(*, project, **kwargs):
        if project.pk == pay.pk:
            raise RuntimeError("boom")
        return real(project=project, **kwargs)

    monkeypatch.setattr(tasks, "kpi_computed_refresh", flaky)

    assert tasks.kpi_computed_refresh_task() == 1
    assert values(other) == {"2026-01-05": Decimal(5)}
