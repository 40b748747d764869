"""The dashboards in a real browser: Plotly draws the server's figures from /static/, and the
filters swap their regions through htmx without reloading the page."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import log_in
from tests.factories import EpicFactory
from tests.metrics.history import item, utc
from tests.metrics.test_views import build_history, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def histories(world):
    """PAY with six sprints (the last active) and CARD with a late target, both evaluated at
    the fixed snapshot instant of tests/metrics/test_views.py."""
    snapshot(world.own_project)
    snapshot(world.sibling_project)
    build_history(world.own_project, sprints=6, items_per_sprint=6)
    build_history(world.sibling_project, sprints=3, items_per_sprint=4)
    for number in range(6):
        item(world.sibling_project, f"CARD-OPEN-{number}", created=utc(2026, 3, 1))
    world.sibling_project.target_date = dt.date(2026, 3, 25)
    world.sibling_project.save(update_fields=["target_date"])
    EpicFactory(portfolio=world.own, project=world.own_project, key="EP-PAY", rank=1)


def watch_requests(page) -> list[str]:
    """Every URL the page requests, to prove nothing leaves the live server."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def assert_all_local(urls: list[str]) -> None:
    hosts = {urlsplit(url).hostname for url in urls if not url.startswith("data:")}
    assert hosts <= {"127.0.0.1", "localhost"}, hosts


def test_project_dashboard_draws_every_chart_with_local_plotly(world, histories, page):
    urls = watch_requests(page)
    log_in(page, "team_lead")

    page.goto("/projects/PAY/")
    page.locator("#burndown-plot.js-plotly-plot .main-svg").first.wait_for()
    page.wait_for_load_state("networkidle")

    plots = page.locator(".js-plotly-plot")
    assert plots.count() == page.locator("[data-plotly]").count() == 9
    for plot in [
        "burndown",
        "velocity",
        "cycle-time",
        "throughput",
        "cumulative-flow",
        "wip-aging",
        "forecast",
        "how-many",
        "epics",
    ]:
        assert page.locator(f"#{plot}-plot .main-svg").count() >= 1, plot
        traces = page.evaluate(f"document.getElementById('{plot}-plot').data.length")
        assert traces >= 1, plot
    assert page.locator("#velocity-plot .bars .point").count() > 0
    assert page.locator("#burndown-plot .scatterlayer .trace").count() >= 2
    assert any(url.endswith("/static/vendor/plotly/plotly.min.js") for url in urls)
    assert any("/static/js/charts.js" in url for url in urls)
    assert_all_local(urls)
    assert page.locator(".modebar-btn--logo").count() == 0  # displaylogo: False


def test_switching_the_sprint_swaps_only_the_burndown(world, histories, page):
    urls = watch_requests(page)
    log_in(page, "pmo_leader")
    page.goto("/projects/PAY/")
    page.locator("#burndown-plot .main-svg").first.wait_for()
    assert page.locator("#burndown-title").inner_text() == "Burndown: PAY Sprint 6"
    page.evaluate("window.__marker = 'same page'")
    page.evaluate("document.getElementById('velocity-plot').__kept = true")

    page.locator("#burndown-sprint").select_option(label="PAY Sprint 2 (closed)")

    page.locator("#burndown-title", has_text="Burndown: PAY Sprint 2").wait_for()
    page.locator("#burndown-plot.js-plotly-plot .main-svg").first.wait_for()
    assert page.evaluate("window.__marker") == "same page"
    assert page.evaluate("document.getElementById('velocity-plot').__kept") is True
    assert "sprint=" in page.url
    first_day = page.locator("table[data-chart-table='burndown'] tbody tr td").first
    assert first_day.text_content() == "2026-01-19"  # inside a closed <details>
    assert_all_local(urls)


def test_period_and_forecast_date_swap_their_regions(world, histories, page):
    log_in(page, "pmo_leader")
    page.goto("/projects/PAY/")
    page.locator("#cycle-time-plot .main-svg").first.wait_for()
    page.evaluate("window.__marker = 'same page'")

    page.locator("#flow-period").select_option("30")
    page.locator("#cycle-time-title", has_text="last 30 days").wait_for()
    page.locator("#cycle-time-plot.js-plotly-plot .main-svg").first.wait_for()

    page.locator("#forecast-until").fill("2026-04-30")
    page.get_by_role("button", name="Forecast").click()
    page.get_by_text("By 30 Apr 2026").wait_for()

    assert page.evaluate("window.__marker") == "same page"
    assert "period=30" in page.url
    assert "until=2026-04-30" in page.url


def test_portfolio_dashboard_sorts_and_filters_without_a_reload(world, histories, page):
    urls = watch_requests(page)
    log_in(page, "pmo_leader")
    page.goto("/portfolios/payments/")
    rows = page.locator("#projects-table tbody tr")
    assert rows.nth(0).get_attribute("data-project") == "CARD"
    assert page.locator("svg.sparkline").count() >= 2
    page.evaluate("window.__marker = 'same page'")

    page.locator("#projects-table thead").get_by_role("link", name="Project").click()
    page.locator("#projects-table th[aria-sort='descending']").wait_for()

    assert rows.nth(0).get_attribute("data-project") == "PAY"
    assert "sort=key" in page.url
    assert "dir=desc" in page.url

    page.locator("#projects-table thead").get_by_role("link", name="Health").click()
    page.locator("#projects-table th[aria-sort='ascending'] a", has_text="Health").wait_for()
    page.locator("#projects-table thead").get_by_role("link", name="Health").click()
    page.locator("#projects-table th[aria-sort='descending'] a", has_text="Health").wait_for()
    assert rows.nth(0).get_attribute("data-project") == "CARD"
    assert page.locator("#projects-table .badge-red", has_text="Red").count() == 1

    page.get_by_label("Search").fill("pay")
    page.locator("#projects-table tbody tr[data-project='CARD']").wait_for(state="detached")
    assert rows.count() == 1
    assert "q=pay" in page.url
    assert "sort=health" in page.url  # the sort survives the filter

    assert page.evaluate("window.__marker") == "same page"
    assert_all_local(urls)
