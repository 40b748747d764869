"""Foundation journeys in a real browser: log in, see exactly what the role allows."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_pmo_leader_logs_in_and_sees_their_portfolio_and_its_projects(world, page):
    log_in(page, "pmo_leader")

    assert page.url.endswith("/portfolios/")
    assert page.get_by_role("link", name="Payments").is_visible()
    assert page.get_by_text("Logistics").count() == 0

    page.get_by_role("link", name="Payments").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("link", name="PAY").first.is_visible()
    assert page.get_by_role("link", name="CARD").first.is_visible()


def test_team_lead_sees_only_their_own_project(world, page):
    log_in(page, "team_lead")

    page.get_by_role("link", name="Payments").click()
    page.wait_for_load_state("networkidle")

    assert page.get_by_role("link", name="PAY").first.is_visible()
    assert page.get_by_text("CARD").count() == 0
    response = page.goto("/projects/CARD/")
    assert response.status == 404


def test_wrong_password_shows_a_clear_message(world, page):
    log_in(page, "pmo_leader", password="not-the-password")

    assert "/accounts/login/" in page.url
    assert page.get_by_role("alert").inner_text().strip() != ""
    assert "enter a correct username and password" in page.get_by_role("alert").inner_text()


def test_pmo_leader_grants_a_role_without_a_page_reload(world, page):
    from tests.factories import UserFactory

    UserFactory(username="newcomer")
    log_in(page, "pmo_leader")
    page.goto("/portfolios/payments/members/")
    page.evaluate("window.__marker = 'same page'")

    page.get_by_label("Username", exact=True).fill("newcomer")
    page.get_by_label("Role", exact=True).select_option(label="Viewer")
    page.get_by_role("button", name="Grant").click()

    page.get_by_role("cell", name="newcomer").wait_for()
    assert page.evaluate("window.__marker") == "same page"
