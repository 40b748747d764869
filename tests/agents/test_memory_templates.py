"""The "Similar past decisions" partial and the tags that feed it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.test import RequestFactory

from agents.memory import memory_recall, memory_remember
from agents.memory_decisions import memory_remember_decisions
from agents.models import MemoryKind
from governance.models import DecisionLog
from governance.services import recommendation_approve
from tests.governance.factories import make_epics, moved_last_to_first, propose, swapped_first_two

pytestmark = pytest.mark.django_db


def request_of(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def stored(**changes):
    """A recalled item as a run stores it in its result (RecalledMemory.as_dict)."""
    return {
        "id": 0,
        "kind": "decision",
        "kind_label": "Decision",
        "text": "Decision: the supplier slipped the delivery; rollout moved a quarter.",
        "similarity": 0.4912,
        "source_type": "decision_log",
        "source_id": "7",
        "url": "/approvals/3/",
        "superseded": False,
        "superseded_by_id": None,
        "superseded_by_url": "",
        "created_at": dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC).isoformat(),
        "portfolio_id": 0,
        "project_id": None,
        "exact_terms": False,
        "score": 0.0328,
        **changes,
    }


def test_partial_shows_text_kind_similarity_superseded_badge_and_links(world, embedding_model):
    old = memory_remember(
        portfolio=world.own, kind=MemoryKind.DECISION, source_type="agent_run", source_id="41",
        text="Decision: the supplier slipped the delivery; rollout moved a quarter.",
    )  # fmt: skip
    new = memory_remember(
        portfolio=world.own, kind=MemoryKind.DECISION, source_type="agent_run", source_id="42",
        text="Decision: we switched supplier.", supersedes=[old],
    )  # fmt: skip
    recalled = [
        stored(id=old.pk, portfolio_id=world.own.pk, url="/agents/runs/41/"),
        stored(id=new.pk, portfolio_id=world.own.pk, similarity=0.31, exact_terms=True),
    ]

    html = render_to_string(
        "agents/partials/memory_recalled.html",
        {"recalled": recalled},
        request=request_of(world.viewer),
    )

    assert "Similar past decisions" in html
    assert "the supplier slipped the delivery" in html
    assert "49% similar" in html
    assert "31% similar" in html
    assert html.count("Superseded</span>") == 1  # marked now, though stored before
    assert 'href="/agents/runs/41/"' in html
    assert 'href="/agents/runs/42/">What replaced it' in html
    assert "exact terms" in html
    assert "2 Mar 2026" in html


def test_partial_hides_items_the_viewer_may_not_see(world, embedding_model):
    theirs = memory_remember(
        portfolio=world.foreign, kind=MemoryKind.DECISION, source_type="t", source_id="1",
        text="Decision: carriers are paid weekly.",
    )  # fmt: skip

    html = render_to_string(
        "agents/partials/memory_recalled.html",
        {"recalled": [stored(id=theirs.pk, portfolio_id=world.foreign.pk)]},
        request=request_of(world.viewer),
    )

    assert "carriers" not in html
    assert html.strip() == ""


def test_partial_renders_nothing_and_queries_nothing_without_recalled_memory(
    world, django_assert_num_queries
):
    with django_assert_num_queries(0):
        html = render_to_string(
            "agents/partials/memory_recalled.html",
            {"recalled": []},
            request=request_of(world.viewer),
        )

    assert html.strip() == ""


def test_partial_takes_live_recalled_memory_without_a_query(
    world, embedding_model, django_assert_num_queries
):
    memory_remember(
        portfolio=world.own, kind=MemoryKind.RISK, source_type="t", source_id="1",
        text="Risk: the terminal vendor is late.",
    )  # fmt: skip
    recalled = memory_recall(user=world.viewer, query="vendor delay")

    with django_assert_num_queries(0):
        html = render_to_string(
            "agents/partials/memory_recalled.html",
            {"recalled": recalled, "memory_heading": "Recalled memory"},
        )

    assert "Recalled memory" in html
    assert "terminal vendor is late" in html
    assert '<span class="tag">Risk</span>' in html


def test_recommendation_page_tag_shows_similar_past_decisions_but_not_its_own(
    world, embedding_model, django_assert_num_queries
):
    epics = make_epics(world.own, 5)
    earlier = propose(
        world.pmo_leader, world.own, moved_last_to_first(epics),
        rationale="The supplier slipped the delivery of the card readers; payouts first.",
    )  # fmt: skip
    recommendation_approve(actor=world.executive, recommendation=earlier, comment="Agreed.")
    current = list(world.own.epics.order_by("rank"))
    later = propose(
        world.pmo_leader, world.own, swapped_first_two(current),
        rationale="The vendor is late again with the terminals; move payouts up.",
    )  # fmt: skip
    memory_remember_decisions(DecisionLog.objects.values_list("pk", flat=True))
    template = Template("{% load agent_memory %}{% similar_past_decisions recommendation %}")
    context = Context({"request": request_of(world.viewer), "recommendation": later})
    world.viewer.is_authenticated  # noqa: B018
    memory_recall(user=world.viewer, query="fill the permission cache")

    with django_assert_num_queries(3):  # the proposal's memory, SET LOCAL, the recall
        html = template.render(context)

    assert "Similar past decisions" in html
    assert f"recommendation #{earlier.pk}" in html
    assert f"recommendation #{later.pk}" not in html
    assert f'href="/approvals/{earlier.pk}/"' in html


def test_recommendation_page_tag_before_the_proposal_is_remembered(world):
    epics = make_epics(world.own, 5)
    recommendation = propose(world.pmo_leader, world.own, moved_last_to_first(epics))
    template = Template("{% load agent_memory %}{% similar_past_decisions recommendation %}")

    html = template.render(
        Context({"request": request_of(world.viewer), "recommendation": recommendation})
    )

    assert "appear once this recommendation has been remembered" in html
