"""The agents journey in a real browser with a real Celery worker (builtin analyst, so every
answer is computed from the data, deterministic, with no model and nothing leaving the
machine): a PMO leader clicks "Run review" on the portfolio dashboard, watches the run's
progress without a reload and reads a trade-off summary whose every risk links to evidence
pages that exist; "Propose prioritization" creates a Recommendation that the executive
approves in the inbox; both runs and the approval are in the decision log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from agents.models import AgentRun, RunKind, RunStatus
from governance.models import DecisionKind, DecisionLog, RecommendationState
from portfolio.models import Epic
from tests.agents.scenarios import late_project, ranked_epics
from tests.e2e.conftest import log_in
from tests.integration.conftest import celery_worker_process  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The worker loads the embedding model for memory recall on its first run (tens of seconds on
# a busy 2-core machine); later runs take about a second.
FIRST_RUN_MS = 180_000
RUN_MS = 60_000


@pytest.fixture
def executive_page(browser, live_server) -> Iterator:
    """A second browser context (its own cookies): the executive at another desk."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def finished_region(page, kind: str, timeout: int):
    """The status region of the latest run of `kind` once it has finished."""
    run = AgentRun.objects.filter(kind=kind).latest("created_at")
    region = page.locator(f"#run-status-{run.pk}")
    region.locator(".run-result").wait_for(timeout=timeout)
    run.refresh_from_db()
    return run, region


def test_pmo_leader_reviews_and_the_executive_approves_the_agent_prioritization(
    world,
    page,
    executive_page,
    celery_worker_process,  # noqa: F811
):
    late_project(world.own_project)
    ranked_epics(world.own, world.own_project)

    # The PMO leader asks for a portfolio review from the dashboard.
    log_in(page, "pmo_leader")
    page.goto("/portfolios/payments/")
    page.evaluate("window.__marker = 'same page'")
    page.get_by_role("button", name="Run review").click()
    page.get_by_text(re.compile(r"Portfolio review of Payments queued \(run #\d+\)")).wait_for()
    live = page.locator("#agent-run-live")
    assert live.locator("progress").count() == 1  # progress while it runs

    run, region = finished_region(page, RunKind.PORTFOLIO_REVIEW, FIRST_RUN_MS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert page.evaluate("window.__marker") == "same page"  # followed without a reload
    assert region.get_attribute("hx-trigger") is None  # polling stopped
    assert region.get_by_role("heading", name="Summary").is_visible()
    # The builtin analyst's words are the engine's; the page shows them as they are.
    assert "PAY" in run.result["summary"]
    assert region.locator(".run-summary").inner_text() == run.result["summary"]
    assert region.get_by_role("heading", name="Trade-offs").is_visible()
    assert run.result["trade_offs"]
    for trade_off in run.result["trade_offs"]:
        assert region.get_by_text(trade_off["title"], exact=True).is_visible()
    assert region.get_by_text("Provider used: builtin").is_visible()

    # Every risk links to evidence, and every link opens a page of the product that has the
    # anchor it points to.
    risks = region.locator(".risk-flag")
    assert risks.count() >= 2
    assert region.locator(".evidence-unknown").count() == 0
    hrefs: set[str] = set()
    for index in range(risks.count()):
        links = risks.nth(index).locator("a.evidence-link")
        assert links.count() >= 1, risks.nth(index).inner_text()
        hrefs |= {links.nth(number).get_attribute("href") for number in range(links.count())}
    assert "/projects/PAY/#forecast-chart" in hrefs
    evidence = page.context.new_page()
    for href in sorted(hrefs):
        parts = urlsplit(href)
        evidence.goto("about:blank")  # a fragment-only change would not navigate
        response = evidence.goto(href)
        assert response.status == 200, href
        if parts.fragment:
            assert evidence.locator(f"#{parts.fragment}").count() == 1, href
    evidence.close()

    # The same run on its own page, and its entry in the decision log.
    page.goto(f"/agents/runs/{run.pk}/")
    page.get_by_role("link", name=re.compile(r"Entry #\d+ of Payments")).click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".decision-table tbody tr").count() == 1
    assert page.get_by_text(re.compile(r"Portfolio review of Payments: ")).is_visible()

    # The PMO leader asks for a prioritization; it becomes a Recommendation in the inbox.
    page.goto("/portfolios/payments/")
    page.get_by_role("button", name="Propose prioritization").click()
    page.get_by_text(re.compile(r"Prioritization of Payments queued \(run #\d+\)")).wait_for()
    run, region = finished_region(page, RunKind.PRIORITIZATION, RUN_MS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.recommendation is not None, run.result
    assert region.get_by_role("heading", name="Proposed prioritization").is_visible()
    assert region.get_by_role("link", name="Open in the approvals inbox").is_visible()
    recommendation = run.recommendation

    # The executive approves it in the inbox, with a comment and a confirmation.
    log_in(executive_page, "executive")
    executive_page.goto("/approvals/")
    executive_page.get_by_role("link", name=f"Review recommendation #{recommendation.pk}").click()
    box = executive_page.locator(f"#recommendation-{recommendation.pk}")
    box.get_by_label("Comment").fill("Highest cost of delay first: agreed.")
    box.get_by_role("button", name="Approve…").click()
    box.get_by_role("button", name="Confirm approval").click()
    box.get_by_text("Approved: the new ranking of Payments is in effect.").wait_for()
    recommendation.refresh_from_db()
    assert recommendation.state == RecommendationState.APPROVED
    ranking = list(Epic.objects.filter(portfolio=world.own).order_by("rank").values_list(
        "key", flat=True))  # fmt: skip
    assert ranking == ["EP-3", "EP-2", "EP-1"]

    # Both runs and the approval are in the decision log.
    runs = list(AgentRun.objects.order_by("created_at"))
    entries = DecisionLog.objects.filter(kind=DecisionKind.AGENT_RUN, portfolio=world.own)
    assert {entry.subject for entry in entries} == {f"agent_run:{item.pk}" for item in runs}
    assert [item.decision_id for item in runs] == [
        entries.get(subject=f"agent_run:{item.pk}").pk for item in runs
    ]
    executive_page.goto("/decisions/?portfolio=payments")
    assert executive_page.get_by_text(re.compile(r"^Prioritization of Payments: ")).is_visible()
    assert executive_page.get_by_text(re.compile(r"^Portfolio review of Payments: ")).is_visible()
    assert executive_page.get_by_text(
        re.compile(rf"Approved recommendation #{recommendation.pk} for Payments")
    ).is_visible()
