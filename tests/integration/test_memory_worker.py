"""A real worker remembers a decision the web committed, with the real embedding model."""

from __future__ import annotations

import pytest
from django.db import transaction

from agents.memory import memory_recall_like_item
from agents.models import MemoryItem, MemoryKind
from governance.services import recommendation_approve
from tests.governance.factories import make_epics, moved_last_to_first, propose
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_committed_decisions_are_remembered_by_the_worker_and_the_proposal_marked_stale(
    world, celery_worker_process
):
    epics = make_epics(world.own, 5)
    with transaction.atomic():
        recommendation = propose(
            world.pmo_leader,
            world.own,
            moved_last_to_first(epics),
            rationale="The supplier slipped the delivery of the card readers.",
        )
        assert not MemoryItem.objects.exists()  # nothing is enqueued before the commit
    recommendation_approve(
        actor=world.executive, recommendation=recommendation, comment="Payouts first."
    )

    # The worker loads the model once (seconds), then embeds both entries.
    wait_for(lambda: MemoryItem.objects.filter(kind=MemoryKind.DECISION).count() == 2, timeout=180)
    proposal, approval = MemoryItem.objects.order_by("created_at")
    wait_for(lambda: MemoryItem.objects.filter(pk=proposal.pk, superseded_by=approval).exists())

    assert proposal.text.startswith("Proposed reprioritization")
    assert approval.text.startswith("Approved reprioritization")
    assert len(approval.embedding) == 384
    similar = memory_recall_like_item(user=world.viewer, item_id=approval.pk)
    assert [item.id for item in similar] == [proposal.pk]
    assert similar[0].superseded is True
