"""The demo KPIs written by seed_demo: the seed documents' KPIs on every project, values that
obey their own rules, a computed velocity equal to the engine's, a cycle time equal to the
engine's weekly p85, a mix of statuses, and a correction in the history."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings

from metrics.kpis import computed, periods
from metrics.kpis.figures import kpi_figures_unsafe
from metrics.kpis.services import kpi_computed_refresh
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from portfolio.demo import DEMO_ANCHOR, demo_plan_build
from portfolio.models import Project

SEED_KPIS = {
    "Velocity",
    "Cycle time",
    "Customer satisfaction",
    "Forecast accuracy",
    "Release predictability",
}


@pytest.fixture(scope="class")
def seeded(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The demo seeded once per class, rolled back after it (as tests/portfolio does)."""
    hashing = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), hashing, transaction.atomic():
        out = StringIO()
        call_command("seed_demo", "--anchor", str(DEMO_ANCHOR), stdout=out)
        connection.check_constraints()
        yield out.getvalue()
        transaction.set_rollback(True)


@pytest.mark.django_db
class TestDemoKpis:
    def test_every_project_has_the_seed_kpis_owned_by_its_team_lead(self, seeded):
        assert "60 KPIs with" in seeded
        for project in Project.objects.all():
            kpis = KPI.objects.filter(project=project).select_related("owner")
            assert {kpi.name for kpi in kpis} == SEED_KPIS
            assert {kpi.owner.username for kpi in kpis} == {f"lead-{project.key.lower()}"}
        velocity = KPI.objects.filter(name="Velocity")
        assert set(velocity.values_list("computed_from", "cadence")) == {("velocity", "per_sprint")}

    def test_every_value_obeys_its_kpis_rules_and_predates_the_demo_now(self, seeded):
        cutoff = demo_plan_build().cutoff
        checked = 0
        for kpi in KPI.objects.select_related("project"):
            today = periods.local_today(kpi.project.time_zone, cutoff)
            starts = periods.sprint_start_dates(
                list(kpi.project.sprints.values_list("start", flat=True)), kpi.project.time_zone
            )
            for measurement in kpi.measurements.all():
                assert (
                    periods.period_error(
                        cadence=kpi.cadence,
                        period_start=measurement.period_start,
                        today=today,
                        sprint_starts=starts,
                    )
                    is None
                )
                assert kpi.min_value is None or measurement.value >= kpi.min_value
                assert kpi.max_value is None or measurement.value <= kpi.max_value
                assert measurement.entered_at < cutoff
                checked += 1
        assert checked == KPIMeasurement.objects.count() > 500

    def test_computed_velocity_is_the_engines_so_a_refresh_changes_nothing(self, seeded):
        pay = Project.objects.get(key="PAY")
        pay.data_as_of = demo_plan_build().cutoff  # "today" of the seeded data

        refreshed = kpi_computed_refresh(project=pay)

        assert (refreshed.created, refreshed.updated, refreshed.unchanged) == (0, 0, 11)

    def test_the_entered_cycle_time_is_the_engines_weekly_p85(self, seeded):
        cutoff = demo_plan_build().cutoff
        for key in ("PAY", "SHIP"):
            project = Project.objects.get(key=key)
            kpi = KPI.objects.get(project=project, name="Cycle time")
            today = periods.local_today(project.time_zone, cutoff)

            engine = computed.period_values_unsafe(
                project=project, metric="cycle_time_p85", cadence="weekly", today=today
            )

            stored = dict(kpi.measurements.values_list("period_start", "value"))
            assert stored == {week: value for week, value in engine.items() if week in stored}
            assert len(stored) >= 20

    def test_the_demo_shows_green_amber_and_red_kpis(self, seeded):
        figures = kpi_figures_unsafe(project_ids=list(Project.objects.values_list("pk", flat=True)))

        statuses = {figure.status for rows in figures.values() for figure in rows}

        assert {"green", "amber", "red"} <= statuses

    def test_a_corrected_survey_value_tells_its_story_in_the_history(self, seeded):
        corrected = KPIMeasurementRevision.objects.get(change="corrected")

        assert corrected.kpi.name == "Customer satisfaction"
        assert corrected.kpi.project.key == "PAY"
        assert corrected.old_value > corrected.new_value
        assert corrected.changed_by.username == "lead-pay"
        assert corrected.measurement.version == 2
        assert corrected.measurement.revisions.count() == 2

    def test_the_demo_team_lead_sees_the_kpis_on_the_project_page(self, seeded, client):
        client.force_login(get_user_model().objects.get(username="lead-pay"))

        response = client.get("/projects/PAY/")

        html = response.content.decode()
        assert response.status_code == 200
        assert html.count('class="kpi-row') == 5
        assert 'id="kpi-trend-plot"' in html
        assert 'id="project-health"' in html
        assert html.count(">Edit<span") == 4  # every manual KPI; velocity is computed
