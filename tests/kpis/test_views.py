"""The KPI pages through the test client: the project page's KPI table, inline editing with
htmx (row, trend and health swapped), the plain-POST fallback, field messages, the conflict
message, definitions, the KPI's page, history and CSV."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from metrics.kpis.services import kpi_measurement_correct
from metrics.models import KPI, KPIMeasurement
from tests.kpis.conftest import FEBRUARY, JANUARY, MONDAY
from tests.kpis.factories import CycleTimeKPIFactory, KPIFactory, MeasurementFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def project_page(client, user, key="PAY", **params):
    client.force_login(user)
    return client.get(reverse("portfolio:project-detail", args=[key]), params)


def edit_url(measurement) -> str:
    return reverse("metrics:measurement-edit", args=[measurement.pk])


def add_url(kpi) -> str:
    return reverse("metrics:measurement-add", args=[kpi.pk])


@pytest.fixture
def measured(satisfaction):
    """Customer satisfaction of PAY: 4.6 in January, 4.4 in February (green)."""
    MeasurementFactory(kpi=satisfaction, period_start=JANUARY, value=Decimal("4.6"))
    return MeasurementFactory(kpi=satisfaction, period_start=FEBRUARY, value=Decimal("4.4"))


# --- the project page --------------------------------------------------------------------------


def test_the_project_page_shows_the_kpi_table_trend_and_health(client, world, measured):
    response = project_page(client, world.team_lead)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="kpis"' in html
    row = re.search(r'<tr id="kpi-row-\d+".*?</tr>', html, re.S).group(0)
    assert "Customer satisfaction" in row
    assert "4.4 score" in row
    assert "badge-green" in row
    assert 'hx-get="/kpi-values/' in row  # Edit swaps the row in place
    assert f'href="{edit_url(measured)}"' in row  # and works without JavaScript
    assert 'id="kpi-trend"' in html
    assert 'id="kpi-trend-plot"' in html
    assert 'id="project-health"' in html
    assert "css/kpis.css" in html


def test_readers_see_the_table_without_edit_buttons(client, world, measured):
    html = project_page(client, world.viewer).content.decode()

    assert "Customer satisfaction" in html
    assert edit_url(measured) not in html
    assert "Define a KPI" not in html


def test_pmo_leaders_may_define_kpis_from_the_project_page(client, world, measured):
    html = project_page(client, world.pmo_leader).content.decode()

    assert reverse("metrics:kpi-create", args=["PAY"]) in html


def test_a_project_without_kpis_says_so(client, world):
    html = project_page(client, world.team_lead).content.decode()

    assert "PAY has no KPI yet." in html
    assert "data-plotly" not in html.split('id="kpis"')[1].split("</section>")[0]


def test_the_trend_follows_the_kpi_chosen_in_the_query_string(client, world, measured, cycle_time):
    MeasurementFactory(kpi=cycle_time, period_start=MONDAY, value=Decimal(6))

    html = project_page(client, world.team_lead, kpi=cycle_time.pk).content.decode()

    assert "Cycle time trend" in html


def test_choosing_a_kpi_swaps_only_the_trend_region(client, world, measured, cycle_time):
    client.force_login(world.team_lead)
    url = reverse("metrics:project-kpi-trend", args=["PAY"])

    response = client.get(url, {"kpi": cycle_time.pk}, **HTMX)

    html = response.content.decode()
    assert html.strip().startswith('<div id="kpi-trend"')
    assert "Cycle time trend" in html
    assert "No value yet" in html
    assert response["Vary"].count("HX-Request") == 1
    # without htmx: the bookmarkable project page with that KPI selected
    plain = client.get(url, {"kpi": cycle_time.pk})
    assert plain.status_code == 302
    assert plain["Location"] == f"/projects/PAY/?kpi={cycle_time.pk}#kpi-trend"


@pytest.mark.parametrize("role", ["team_lead", "pmo_leader"])
def test_the_project_page_runs_the_same_number_of_queries_with_more_kpis(
    client, world, django_assert_num_queries, role
):
    # given: one KPI without values
    url = reverse("portfolio:project-detail", args=["PAY"])
    KPIFactory(project=world.own_project, name="One")
    client.force_login(world.user(role))
    client.get(url)  # warm the per-process caches
    with CaptureQueriesContext(connection) as small:
        client.get(url)

    # given: six more KPIs with eight weekly values each
    for number in range(6):
        kpi = CycleTimeKPIFactory(project=world.own_project, name=f"More {number}")
        for week in range(8):
            MeasurementFactory(
                kpi=kpi, period_start=MONDAY + dt.timedelta(weeks=week), value=Decimal(week)
            )

    # when / then
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.content.decode().count('class="kpi-row') == 7


# --- inline editing (htmx) ------------------------------------------------------------------


def test_edit_swaps_the_row_for_a_form_holding_the_version(client, world, measured):
    client.force_login(world.team_lead)

    response = client.get(edit_url(measured), **HTMX)

    html = response.content.decode()
    assert html.strip().startswith(f'<tr id="kpi-row-{measured.kpi_id}"')
    assert f'hx-post="{edit_url(measured)}"' in html
    assert 'name="version" value="1"' in html
    assert re.search(r'<input[^>]*name="value"[^>]*autofocus', html)
    assert 'value="4.4"' in html
    assert "Escape" in html  # Escape cancels


def test_saving_inline_answers_the_row_trend_and_health_out_of_band(
    client, world, measured, recorded_events, django_capture_on_commit_callbacks
):
    client.force_login(world.team_lead)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            edit_url(measured), {"value": "3.2", "note": "survey", "version": "1"}, **HTMX
        )

    assert response.status_code == 200
    html = response.content.decode()
    row, rest = html.split("</tr>", 1)
    assert row.strip().startswith(f'<tr id="kpi-row-{measured.kpi_id}"')
    assert "3.2 score" in row
    assert "badge-red" in row
    assert "autofocus" in row  # focus back on the row's Edit button
    assert '<div id="kpi-trend" class="kpi-trend" hx-swap-oob="true"' in rest
    assert '<div id="project-health" class="project-health" hx-swap-oob="true">' in rest
    assert 'data-health="red"' in rest
    assert "Customer satisfaction 3.2 score for 2026-02-01 is below its red threshold 3.5" in rest
    figure = json.loads(
        re.search(r'id="kpi-trend-plot" data-plotly="([^"]+)"', rest)
        .group(1)
        .replace("&quot;", '"')
    )
    assert figure["data"][0]["y"] == [4.6, 3.2]
    measured.refresh_from_db()
    assert (measured.value, measured.version) == (Decimal("3.2"), 2)
    assert [event["status"] for event in recorded_events] == ["red"]


def test_a_bad_value_comes_back_in_the_row_with_its_field_message(client, world, measured):
    client.force_login(world.team_lead)

    response = client.post(edit_url(measured), {"value": "lots", "version": "1"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith(f'<tr id="kpi-row-{measured.kpi_id}"')
    assert "The value &#x27;lots&#x27; is not a number." in html
    assert 'aria-invalid="true"' in html
    assert f'aria-describedby="kpi{measured.kpi_id}-value-error"' in html
    assert f'id="kpi{measured.kpi_id}-value-error"' in html
    measured.refresh_from_db()
    assert measured.version == 1


def test_the_second_editor_sees_the_conflict_with_the_current_value_and_its_author(
    client, world, measured
):
    # given: the PMO leader saved first, from version 1
    kpi_measurement_correct(actor=world.pmo_leader, measurement=measured, value="3.9", version=1)
    client.force_login(world.team_lead)

    # when: the team lead saves what they typed on version 1
    response = client.post(edit_url(measured), {"value": "4.8", "version": "1"}, **HTMX)

    # then: refused, told what the value is and who set it; the typed value is kept
    html = response.content.decode()
    assert response.status_code == 200
    assert "Not saved: someone else changed this value." in html
    assert "pmo_leader changed this value to 3.9 score" in html
    assert '<strong class="kpi-current">3.9 score</strong>' in html
    assert 'value="4.8"' in html
    assert 'name="version" value="2"' in html  # saving again is an informed choice
    measured.refresh_from_db()
    assert (measured.value, measured.version) == (Decimal("3.9"), 2)


def test_cancel_swaps_the_display_row_back(client, world, measured):
    client.force_login(world.team_lead)

    response = client.get(reverse("metrics:kpi-row", args=[measured.kpi_id]), **HTMX)

    html = response.content.decode()
    assert html.strip().startswith(f'<tr id="kpi-row-{measured.kpi_id}"')
    assert "4.4 score" in html


def test_adding_a_value_inline_proposes_the_current_period(client, world, cycle_time):
    client.force_login(world.team_lead)

    html = client.get(add_url(cycle_time), **HTMX).content.decode()

    proposed = re.search(r'name="period_start" value="(\d{4}-\d{2}-\d{2})"', html).group(1)
    assert dt.date.fromisoformat(proposed).weekday() == 0


def test_adding_a_value_for_a_period_that_has_one_names_the_existing_value(client, world, measured):
    client.force_login(world.team_lead)

    response = client.post(
        add_url(measured.kpi), {"period_start": "2026-02-01", "value": "4"}, **HTMX
    )

    html = response.content.decode()
    assert "Feb 2026 already has a value (4.4 score, entered by the system)" in html
    assert KPIMeasurement.objects.count() == 2


def test_adding_a_value_inline_answers_the_new_row(client, world, measured):
    client.force_login(world.team_lead)

    response = client.post(
        add_url(measured.kpi), {"period_start": "2026-03-01", "value": "3.7"}, **HTMX
    )

    html = response.content.decode()
    assert "3.7 score" in html.split("</tr>")[0]
    assert "badge-amber" in html.split("</tr>")[0]
    assert KPIMeasurement.objects.filter(kpi=measured.kpi).count() == 3


# --- without JavaScript ---------------------------------------------------------------------


def test_without_javascript_edit_is_a_page_and_a_save_redirects_back(client, world, measured):
    client.force_login(world.team_lead)

    page = client.get(edit_url(measured))
    saved = client.post(edit_url(measured), {"value": "4.1", "version": "1"})

    assert page.status_code == 200
    assert "<h1>Correct Customer satisfaction</h1>" in page.content.decode()
    assert "hx-post" not in page.content.decode()
    assert saved.status_code == 302
    assert saved["Location"] == f"/projects/PAY/?kpi={measured.kpi_id}#kpi-row-{measured.kpi_id}"
    measured.refresh_from_db()
    assert measured.value == Decimal("4.1")


def test_without_javascript_errors_and_conflicts_are_shown_on_the_page(client, world, measured):
    client.force_login(world.team_lead)

    bad = client.post(edit_url(measured), {"value": "9", "version": "1"})
    kpi_measurement_correct(actor=world.pmo_leader, measurement=measured, value="3.9", version=1)
    stale = client.post(edit_url(measured), {"value": "4", "version": "1"})

    assert bad.status_code == 200
    assert "9 score is outside the allowed range 1 score to 5 score." in bad.content.decode()
    assert stale.status_code == 409
    assert "pmo_leader changed this value to 3.9 score" in stale.content.decode()


def test_without_javascript_a_new_value_goes_back_where_the_form_came_from(client, world, measured):
    client.force_login(world.team_lead)
    detail = reverse("metrics:kpi-detail", args=[measured.kpi_id])

    response = client.post(
        add_url(measured.kpi), {"period_start": "2026-03-01", "value": "4", "next": detail}
    )
    evil = client.post(
        add_url(measured.kpi),
        {"period_start": "2026-04-01", "value": "4", "next": "https://evil.example/"},
    )

    assert response["Location"] == detail
    assert evil["Location"].startswith("/projects/PAY/")


# --- a KPI's pages ----------------------------------------------------------------------------


def test_the_kpi_page_draws_every_value_with_target_and_bands(client, world, measured):
    client.force_login(world.viewer)

    html = client.get(reverse("metrics:kpi-detail", args=[measured.kpi_id])).content.decode()

    figure = json.loads(
        re.search(r'id="kpi-trend-plot" data-plotly="([^"]+)"', html)
        .group(1)
        .replace("&quot;", '"')
    )
    assert figure["data"][0]["x"] == ["2026-01-01", "2026-02-01"]
    assert figure["data"][1]["name"] == "Target 4.5 score"
    # higher is better: amber between red and amber threshold, red below red
    amber, red = figure["layout"]["shapes"]
    assert (amber["y0"], amber["y1"]) == (3.5, 4.0)
    assert red["y1"] == 3.5
    assert 'data-chart-table="kpi-trend"' in html
    assert reverse("metrics:kpi-csv", args=[measured.kpi_id]) in html


def test_the_history_page_shows_who_when_old_and_new(client, world, measured):
    kpi_measurement_correct(
        actor=world.team_lead, measurement=measured, value="3.9", note="recount", version=1
    )
    client.force_login(world.viewer)

    html = client.get(reverse("metrics:kpi-history", args=[measured.kpi_id])).content.decode()

    row = re.search(r'<tr data-change="corrected">.*?</tr>', html, re.S).group(0)
    assert "team_lead" in row
    assert ">4.4<" in row
    assert ">3.9<" in row
    assert "recount" in row


def test_the_kpi_csv_holds_the_rows_of_the_table(client, world, measured):
    client.force_login(world.viewer)

    response = client.get(reverse("metrics:kpi-csv", args=[measured.kpi_id]))

    lines = response.content.decode().splitlines()
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert lines[0].startswith("Period start,Period,Value (score),Status,Target")
    assert lines[1].startswith("2026-01-01,Jan 2026,4.6,green,4.5")


# --- definitions --------------------------------------------------------------------------------


def definition(**overrides):
    return {
        "name": "Forecast accuracy",
        "unit": "%",
        "direction": "higher_is_better",
        "cadence": "monthly",
        "computed_from": "",
        "target": "90",
        "amber_threshold": "80",
        "red_threshold": "70",
        "min_value": "0",
        "max_value": "100",
        "owner": "team_lead",
        "description": "",
        "active": "on",
        **overrides,
    }


def test_a_pmo_leader_defines_a_kpi_with_a_form(client, world):
    client.force_login(world.pmo_leader)
    url = reverse("metrics:kpi-create", args=["PAY"])

    page = client.get(url)
    response = client.post(url, definition())

    assert page.status_code == 200
    assert 'value="team_lead"' in page.content.decode()  # owners: people with a role here
    kpi = KPI.objects.get()
    assert response.status_code == 302
    assert (kpi.name, kpi.owner, kpi.project) == (
        "Forecast accuracy",
        world.team_lead,
        world.own_project,
    )


def test_a_bad_definition_is_shown_again_with_field_messages(client, world):
    client.force_login(world.pmo_leader)

    response = client.post(
        reverse("metrics:kpi-create", args=["PAY"]), definition(amber_threshold="95")
    )

    assert response.status_code == 200
    assert "the amber threshold must be at or below the target" in response.content.decode()
    assert not KPI.objects.exists()


def test_a_stale_definition_edit_is_refused_with_a_conflict(client, world, satisfaction):
    client.force_login(world.pmo_leader)
    url = reverse("metrics:kpi-edit", args=[satisfaction.pk])
    client.post(url, definition(name="Customer satisfaction", version="1", target="95"))

    stale = client.post(url, definition(name="Customer satisfaction", version="1", target="91"))

    assert stale.status_code == 409
    assert "Someone changed this KPI" in stale.content.decode()
    satisfaction.refresh_from_db()
    assert satisfaction.target == Decimal(95)


def test_the_portfolio_page_links_its_kpis_and_shows_kpi_health_reasons(client, world, sibling_kpi):
    MeasurementFactory(kpi=sibling_kpi, value=Decimal(2))
    client.force_login(world.pmo_leader)

    html = client.get(reverse("portfolio:portfolio-detail", args=["payments"])).content.decode()

    assert reverse("metrics:portfolio-kpis", args=["payments"]) in html
    card = re.search(r'<tr data-project="CARD">.*?</tr>', html, re.S).group(0)
    assert "badge-red" in card
    assert "Customer satisfaction 2 score for 2026-01-01 is below its red threshold 3.5" in card


def test_the_portfolio_kpi_page_lists_the_portfolios_own_kpis(client, world):
    KPIFactory(project=None, portfolio=world.own, name="Portfolio NPS", cadence="quarterly")
    client.force_login(world.executive)

    response = client.get(reverse("metrics:portfolio-kpis", args=["payments"]))

    assert response.status_code == 200
    assert "Portfolio NPS" in response.content.decode()


def test_an_owner_without_a_role_here_is_refused(client, world):
    client.force_login(world.pmo_leader)

    response = client.post(
        reverse("metrics:kpi-create", args=["PAY"]), definition(owner="outsider")
    )

    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not KPI.objects.exists()


@pytest.mark.parametrize("page", ["metrics:kpi-detail", "metrics:kpi-history"])
def test_a_kpis_pages_run_the_same_number_of_queries_with_more_values(
    client, world, satisfaction, django_assert_num_queries, page
):
    MeasurementFactory(kpi=satisfaction, period_start=JANUARY)
    url = reverse(page, args=[satisfaction.pk])
    client.force_login(world.team_lead)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        client.get(url)

    for month in range(2, 10):
        measurement = MeasurementFactory(
            kpi=satisfaction, period_start=JANUARY.replace(month=month), value=Decimal(4)
        )
        kpi_measurement_correct(
            actor=world.team_lead, measurement=measurement, value="3", version=1
        )

    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200
