"""Template tags of agent memory.

`{% memory_items recalled as memories %}`
    Recalled items ready to show: RecalledMemory objects as they are; stored dicts (a run's
    result) refreshed for the viewer (`memory_refresh`: dropped if no longer visible, the
    superseded mark brought up to date). One query when there are stored items, else none.

`{% similar_past_decisions recommendation %}`
    "Similar past decisions" for a governance recommendation, from the stored vector of its
    remembered proposal (no model runs in the request): three queries (the proposal's memory,
    then the recall and its HNSW setting). Other decisions on the same recommendation (its own
    approval or rejection) are not "past decisions" and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from agents.memory import RecalledMemory, memory_recall_like_item, memory_refresh
from agents.memory_decisions import decision_memory_of_recommendation
from agents.models import MemoryKind

register = template.Library()

SIMILAR_DECISIONS = 5


def _viewer(context: template.Context) -> Any:
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


@register.simple_tag(takes_context=True)
def memory_items(context: template.Context, recalled: Iterable[Any] | None) -> list[RecalledMemory]:
    items = list(recalled or [])
    live = [item for item in items if isinstance(item, RecalledMemory)]
    stored = [item for item in items if not isinstance(item, RecalledMemory)]
    if not stored:
        return live
    user = _viewer(context)
    if user is None:
        # No viewer to check: the page that holds the run already decided who sees it.
        return [
            item
            for item in (RecalledMemory.from_dict(raw) for raw in stored if hasattr(raw, "get"))
            if item is not None
        ]
    return live + memory_refresh(user=user, recalled=stored)


@register.inclusion_tag("agents/partials/memory_recalled.html", takes_context=True)
def similar_past_decisions(context: template.Context, recommendation: Any) -> dict[str, Any]:
    user = _viewer(context)
    recalled: list[RecalledMemory] = []
    anchor = None
    if user is not None and recommendation is not None:
        anchor = decision_memory_of_recommendation(user=user, recommendation_id=recommendation.pk)
    if anchor is not None:
        own_subject = f"recommendation:{recommendation.pk}"
        recalled = [
            item
            for item in memory_recall_like_item(
                user=user,
                item_id=anchor.pk,
                kinds=[MemoryKind.DECISION],
                limit=SIMILAR_DECISIONS + 3,
            )
            if item.extra.get("decision_subject") != own_subject
        ][:SIMILAR_DECISIONS]
    return {
        "request": context.get("request"),
        "recalled": recalled,
        "memory_heading": "Similar past decisions",
        "memory_heading_id": f"similar-decisions-{recommendation.pk}" if recommendation else "",
        "memory_empty": "No similar past decision is remembered yet."
        if anchor is not None
        else "Similar past decisions appear once this recommendation has been remembered "
        "(a few seconds after it was proposed).",
    }
