"""The team lead's KPI journey in a real browser: edit a value inline on the project page and
see the row, the trend chart and the project health change without a reload; a second
session saving the same value gets the conflict message; field messages, Escape to cancel,
the plain-POST fallback without JavaScript, and another team's KPI out of reach."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from metrics.models import KPIMeasurement
from tests.e2e.conftest import log_in
from tests.kpis.factories import KPIFactory, MeasurementFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def kpis(world):
    """PAY's customer satisfaction (4.6 then 4.4: green, so PAY is green) and CARD's own."""
    satisfaction = KPIFactory(project=world.own_project, name="Customer satisfaction")
    MeasurementFactory(kpi=satisfaction, period_start=dt.date(2026, 1, 1), value=Decimal("4.6"))
    latest = MeasurementFactory(
        kpi=satisfaction, period_start=dt.date(2026, 2, 1), value=Decimal("4.4")
    )
    card = KPIFactory(project=world.sibling_project, name="Card satisfaction")
    MeasurementFactory(kpi=card, period_start=dt.date(2026, 1, 1), value=Decimal(4))
    return {"pay": satisfaction, "latest": latest, "card": card}


@pytest.fixture
def second_page(browser, live_server) -> Iterator:
    """Another browser context (its own cookies): a second person at another desk."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def row(page, kpi):
    return page.locator(f"#kpi-row-{kpi.pk}")


def open_inline_editor(page, kpi) -> None:
    row(page, kpi).get_by_role("link", name="Edit").click()
    page.locator(f"#kpi{kpi.pk}-value").wait_for()


def trend_values(page) -> list[float]:
    return page.evaluate("document.getElementById('kpi-trend-plot').data[0].y")


def test_team_lead_edits_a_value_inline_and_row_trend_and_health_change_without_reload(
    world, kpis, page
):
    log_in(page, "team_lead")
    page.goto("/projects/PAY/")
    page.locator("#kpi-trend-plot.js-plotly-plot .main-svg").first.wait_for()
    assert page.locator("#project-health .badge").inner_text() == "Green"
    assert trend_values(page) == [4.6, 4.4]
    page.evaluate("window.__marker = 'same page'")

    # when: Edit, type a new value, press Enter (the keyboard path)
    open_inline_editor(page, kpis["pay"])
    value = page.locator(f"#kpi{kpis['pay'].pk}-value")
    assert value.evaluate("element => element === document.activeElement")  # autofocus
    value.fill("3.2")
    value.press("Enter")

    # then: the row, the trend and the health changed in place
    row(page, kpis["pay"]).locator(".kpi-value", has_text="3.2 score").wait_for()
    assert row(page, kpis["pay"]).locator(".badge").inner_text() == "Red"
    page.locator("#project-health .badge", has_text="Red").wait_for()
    assert "Customer satisfaction 3.2 score" in page.locator("#project-health").inner_text()
    page.wait_for_function(
        "document.getElementById('kpi-trend-plot').data"
        " && document.getElementById('kpi-trend-plot').data[0].y[1] === 3.2"
    )
    assert page.evaluate("window.__marker") == "same page"
    # focus is back on the row's Edit button, so the keyboard user carries on
    assert page.evaluate("document.activeElement.textContent").startswith("Edit")
    measurement = KPIMeasurement.objects.get(pk=kpis["latest"].pk)
    assert (measurement.value, measurement.version) == (Decimal("3.2"), 2)


def test_a_second_session_saving_the_same_value_gets_the_conflict_message(
    world, kpis, page, second_page
):
    # given: the team lead and the PMO leader both opened the same value
    log_in(page, "team_lead")
    page.goto("/projects/PAY/")
    open_inline_editor(page, kpis["pay"])
    log_in(second_page, "pmo_leader")
    second_page.goto("/projects/PAY/")
    open_inline_editor(second_page, kpis["pay"])

    # when: the team lead saves first, then the PMO leader
    page.locator(f"#kpi{kpis['pay'].pk}-value").fill("3.9")
    page.get_by_role("button", name="Save").click()
    row(page, kpis["pay"]).locator(".kpi-value", has_text="3.9 score").wait_for()
    second_page.locator(f"#kpi{kpis['pay'].pk}-value").fill("4.8")
    second_page.get_by_role("button", name="Save").click()

    # then: the PMO leader is told who changed it to what; nothing was overwritten
    alert = second_page.locator(".kpi-conflict")
    alert.wait_for()
    assert "Not saved: someone else changed this value." in alert.inner_text()
    assert "team_lead changed this value to 3.9 score" in alert.inner_text()
    assert second_page.locator(".kpi-current").first.inner_text() == "3.9 score"
    assert second_page.locator(f"#kpi{kpis['pay'].pk}-value").input_value() == "4.8"
    assert KPIMeasurement.objects.get(pk=kpis["latest"].pk).value == Decimal("3.9")


def test_a_bad_value_shows_its_field_message_and_escape_cancels(world, kpis, page):
    log_in(page, "team_lead")
    page.goto("/projects/PAY/")
    open_inline_editor(page, kpis["pay"])
    value = page.locator(f"#kpi{kpis['pay'].pk}-value")

    value.fill("9")
    value.press("Enter")
    page.get_by_text("9 score is outside the allowed range 1 score to 5 score.").wait_for()
    assert page.locator(f"#kpi{kpis['pay'].pk}-value").get_attribute("aria-invalid") == "true"

    page.locator(f"#kpi{kpis['pay'].pk}-value").press("Escape")
    row(page, kpis["pay"]).locator(".kpi-value", has_text="4.4 score").wait_for()
    assert KPIMeasurement.objects.get(pk=kpis["latest"].pk).version == 1


def test_without_javascript_the_same_links_and_forms_work(world, kpis, browser, live_server):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in(page, "team_lead")
        page.goto("/projects/PAY/")
        row(page, kpis["pay"]).get_by_role("link", name="Edit").click()
        page.get_by_label("Value").fill("4.1")
        page.get_by_role("button", name="Save").click()
        page.wait_for_load_state()

        assert page.url.endswith(f"/projects/PAY/?kpi={kpis['pay'].pk}#kpi-row-{kpis['pay'].pk}")
        assert "4.1 score" in row(page, kpis["pay"]).inner_text()
        assert page.get_by_text("Customer satisfaction: value corrected.").is_visible()
    finally:
        context.close()


def test_another_teams_kpi_is_out_of_reach_in_pages_and_api(world, kpis, page):
    log_in(page, "team_lead")

    kpi_page = page.goto(f"/kpis/{kpis['card'].pk}/")
    form = page.goto(f"/kpis/{kpis['card'].pk}/values/new/")
    api = page.request.get(f"/api/kpis/{kpis['card'].pk}/")
    listed = page.request.get("/api/kpis/").json()

    assert (kpi_page.status, form.status, api.status) == (404, 404, 404)
    assert [kpi["name"] for kpi in listed["results"]] == ["Customer satisfaction"]
