"""The approvals journey in a real browser: a PMO leader proposes a reprioritization, the
executive approves it in the inbox (comment, then confirmation, the row updated in place),
the portfolio's ranking changes, and the decision log shows both entries and verifies."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from governance.models import Recommendation, RecommendationState
from tests.e2e.conftest import log_in
from tests.governance.factories import (
    make_epics,
    moved_last_to_first,
    propose,
    ranking,
    swapped_first_two,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def second_page(browser, live_server) -> Iterator:
    """A separate browser context (its own cookies): a second person at another desk."""

    def open_page(width: int = 1280, height: int = 900):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": height}
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    contexts: list = []
    yield open_page
    for context in contexts:
        context.close()


def test_pmo_leader_proposes_and_the_executive_approves_in_the_inbox(world, page, second_page):
    make_epics(world.own, 4)

    # The PMO leader proposes: PAYMEN-4 first.
    log_in(page, "pmo_leader")
    page.goto("/approvals/")
    page.get_by_role("link", name="Propose a ranking for Payments").click()
    page.get_by_label("Position of PAYMEN-4").fill("1")
    page.get_by_label("Rationale").fill("The card regulator moved its deadline to Q3.")
    page.get_by_label("Evidence links").fill("PAY dashboard /projects/PAY/")
    page.get_by_label("Confidence").fill("0.8")
    page.get_by_role("button", name="Propose").click()
    page.wait_for_load_state("networkidle")
    recommendation = Recommendation.objects.get()
    assert page.get_by_text(f"Recommendation #{recommendation.pk} proposed").is_visible()
    assert ranking(world.own) == ["PAYMEN-1", "PAYMEN-2", "PAYMEN-3", "PAYMEN-4"]

    # The executive, in another browser context, opens the inbox and reviews it in place.
    executive = second_page()
    log_in(executive, "executive")
    executive.goto("/approvals/")
    executive.evaluate("window.__marker = 'same page'")
    executive.get_by_role("link", name=f"Review recommendation #{recommendation.pk}").click()
    region = executive.locator(f"#recommendation-{recommendation.pk}")
    region.get_by_text("▲ up 3").wait_for()
    assert region.get_by_role("link", name="PAY dashboard").is_visible()
    assert region.get_by_text("The card regulator moved its deadline to Q3.").is_visible()

    # A comment is required.
    region.get_by_role("button", name="Approve…").click()
    region.get_by_text("Explain your decision: a comment is required.").wait_for()

    # Approve with a comment, then confirm.
    region = executive.locator(f"#recommendation-{recommendation.pk}")
    region.get_by_label("Comment").fill("Agreed: compliance first.")
    region.get_by_role("button", name="Approve…").click()
    region.get_by_role("button", name="Confirm approval").wait_for()
    assert region.get_by_text("applies the proposed ranking to Payments now").is_visible()
    recommendation.refresh_from_db()
    assert recommendation.state == RecommendationState.PROPOSED  # nothing until confirmed
    region.get_by_role("button", name="Confirm approval").click()
    region.get_by_text("Approved: the new ranking of Payments is in effect.").wait_for()

    assert executive.evaluate("window.__marker") == "same page"  # the row updated in place
    assert ranking(world.own) == ["PAYMEN-4", "PAYMEN-1", "PAYMEN-2", "PAYMEN-3"]

    # The portfolio page shows the new order.
    executive.goto("/portfolios/payments/")
    first_epic = executive.locator("#epics-heading ~ * tbody tr").first
    assert "PAYMEN-4" in first_epic.inner_text()

    # The decision log shows both entries, and the chain verifies.
    executive.goto("/decisions/?portfolio=payments")
    assert executive.get_by_text("Proposed a reprioritization of Payments").is_visible()
    assert executive.get_by_text(
        re.compile(rf"Approved recommendation #{recommendation.pk} for Payments")
    ).is_visible()
    chain = executive.get_by_role("row", name=re.compile("Payments"))
    assert "Verified" in chain.first.inner_text()


def test_the_proposer_sees_no_decision_buttons_and_a_viewer_no_inbox(world, page, second_page):
    epics = make_epics(world.own, 3)
    recommendation = propose(world.pmo_leader, world.own, swapped_first_two(epics))

    log_in(page, "pmo_leader")
    page.goto(f"/approvals/{recommendation.pk}/")
    assert page.get_by_text("someone else must decide on it").is_visible()
    assert page.get_by_role("button", name="Approve…").count() == 0

    viewer = second_page()
    log_in(viewer, "viewer")
    assert viewer.goto("/approvals/").status == 404
    assert viewer.goto(f"/approvals/{recommendation.pk}/").status == 404


def test_the_inbox_fits_a_tablet(world, second_page):
    epics = make_epics(world.own, 6)
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    tablet = second_page(width=768, height=1024)
    log_in(tablet, "executive")
    tablet.goto("/approvals/")
    tablet.get_by_role("link", name=f"Review recommendation #{recommendation.pk}").click()
    region = tablet.locator(f"#recommendation-{recommendation.pk}")
    region.get_by_role("button", name="Approve…").wait_for()

    overflow = tablet.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    for name in ("Approve…", "Request changes", "Reject"):
        box = region.get_by_role("button", name=name).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 768
