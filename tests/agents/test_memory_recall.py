"""Recall with the real embedding model: meaning, exact terms, scope, staleness, cost."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from django.db import connection, transaction

from agents.memory import (
    MemoryEntry,
    memory_item_for_source,
    memory_recall,
    memory_recall_for_run,
    memory_recall_like_item,
    memory_remember,
    memory_remember_many,
)
from agents.models import MemoryItem, MemoryKind
from tests.factories import PortfolioFactory, UserFactory

pytestmark = pytest.mark.django_db

SUPPLIER_SLIPPED = (
    "Decision: we moved the card-reader rollout to the next quarter because the supplier "
    "slipped the delivery of the terminals by six weeks."
)
UNRELATED = [
    "Decision: the onboarding epic goes above reporting in the backlog.",
    "Retrospective: pairing on code reviews cut the review queue in half.",
    "Policy change: confidence floor of agent recommendations set to 0.7.",
    "Decision: two more engineers join the checkout team for the holiday peak.",
]


def remember(portfolio, text, *, kind=MemoryKind.DECISION, source_id=None, **extra):
    remember.counter = getattr(remember, "counter", 0) + 1
    return memory_remember(
        portfolio=portfolio,
        kind=kind,
        text=text,
        source_type="test",
        source_id=source_id or f"t{remember.counter}",
        **extra,
    )


@pytest.fixture
def own_memory(world, embedding_model):
    """The supplier decision among unrelated memories of `own`, and a near-copy in `foreign`."""
    slipped = remember(world.own, SUPPLIER_SLIPPED)
    for text in UNRELATED:
        remember(world.own, text)
    foreign = remember(
        world.foreign,
        "Decision: the supplier slipped the delivery of the trucks, so shipping waits a month.",
    )
    return SimpleNamespace(slipped=slipped, foreign=foreign)


def test_supplier_slipped_decision_is_recalled_for_a_vendor_delay_risk_and_nothing_from_another_portfolio(  # noqa: E501
    world, own_memory
):
    recalled = memory_recall(
        user=world.viewer, query="Risk: vendor delay on the payment terminals", limit=5
    )

    assert recalled[0].id == own_memory.slipped.id
    assert 0.3 < recalled[0].similarity <= 1
    assert recalled[0].kind == MemoryKind.DECISION
    assert own_memory.foreign.id not in {item.id for item in recalled}
    assert {item.portfolio_id for item in recalled} == {world.own.pk}


def test_the_foreign_near_copy_is_recalled_only_by_someone_who_may_see_its_portfolio(
    world, own_memory
):
    recalled = memory_recall(user=world.outsider, query="vendor delay", limit=5)

    assert [item.id for item in recalled] == [own_memory.foreign.id]


def test_superuser_recalls_from_every_portfolio_and_portfolio_ids_narrow_it(world, own_memory):
    everywhere = memory_recall(user=world.admin, query="vendor delay", limit=5)
    narrowed = memory_recall(
        user=world.admin, query="vendor delay", portfolio_ids=[world.foreign.pk], limit=5
    )

    assert {own_memory.slipped.id, own_memory.foreign.id} <= {item.id for item in everywhere}
    assert [item.id for item in narrowed] == [own_memory.foreign.id]


def test_portfolio_ids_cannot_widen_recall_beyond_what_the_user_may_see(world, own_memory):
    recalled = memory_recall(
        user=world.viewer, query="vendor delay", portfolio_ids=[world.foreign.pk], limit=5
    )

    assert recalled == []


@pytest.mark.parametrize("who", ["nobody", "anonymous"])
def test_user_without_a_visible_portfolio_recalls_nothing_and_runs_no_recall_sql(
    world, own_memory, who, django_assert_max_num_queries
):
    from django.contrib.auth.models import AnonymousUser

    user = UserFactory(username="nobody") if who == "nobody" else AnonymousUser()

    with django_assert_max_num_queries(3):  # the permission lookups only
        recalled = memory_recall(user=user, query="vendor delay", limit=5)

    assert recalled == []


def test_an_exact_term_the_embedding_misses_is_matched_through_full_text(world, embedding_model):
    ticket = remember(
        world.own, "Decision: postpone the data migration until OPS-7731 is resolved by Quorvane."
    )
    for text in UNRELATED:
        remember(world.own, text)

    analyze()  # one item in five holds the term: rare in count, so still distinctive

    # With a similarity floor no meaning can reach, only the full-text half can answer.
    by_key = memory_recall(user=world.viewer, query="OPS-7731", min_similarity=0.99)
    by_vendor = memory_recall(
        user=world.viewer, query="Quorvane contract renewal", min_similarity=0.99
    )

    assert [item.id for item in by_key] == [ticket.id]
    assert by_key[0].exact_terms is True
    assert by_key[0].similarity < 0.99
    assert [item.id for item in by_vendor] == [ticket.id]


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {MemoryItem._meta.db_table}")


def random_unit_vectors(count: int, seed: int = 3) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, 384)).astype("float32")
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_term_most_memories_share_is_not_an_exact_match_once_statistics_exist(
    world, embedding_model
):
    MemoryItem.objects.bulk_create(
        MemoryItem(
            portfolio=world.own,
            kind=MemoryKind.DECISION,
            text=f"Decision {number}: the payments backlog order changes.",
            embedding=vector.tolist(),
            source_type="common",
            source_id=str(number),
        )
        for number, vector in enumerate(random_unit_vectors(60))
    )
    rare = remember(world.own, "Decision: the Quorvane payments contract is renewed.")
    analyze()

    recalled = memory_recall(user=world.viewer, query="payments Quorvane", min_similarity=0.99)

    # "payment" is in every item (more than 1 % and more than 50 of them): it no longer
    # counts as an exact term; "quorvan" still does.
    assert [item.id for item in recalled] == [rare.id]


def test_superseded_memory_is_recalled_marked_stale_or_left_out_on_request(world, embedding_model):
    old = remember(world.own, "Decision: the supplier slipped the delivery; we wait for them.")
    new = remember(
        world.own,
        "Decision: after the supplier slipped the delivery again, we switched vendors.",
        supersedes=[old],
    )

    recalled = memory_recall(user=world.viewer, query="vendor delay", limit=5)
    current = memory_recall(
        user=world.viewer, query="vendor delay", limit=5, include_superseded=False
    )

    by_id = {item.id: item for item in recalled}
    assert by_id[old.id].superseded is True
    assert by_id[old.id].superseded_by_id == new.id
    assert by_id[new.id].superseded is False
    assert [item.id for item in current] == [new.id]


def test_recall_of_some_kinds_only(world, embedding_model):
    remember(world.own, "Risk: the supplier may slip the delivery.", kind=MemoryKind.RISK)
    decision = remember(world.own, SUPPLIER_SLIPPED)

    recalled = memory_recall(
        user=world.viewer, query="vendor delay", kinds=[MemoryKind.DECISION], limit=5
    )

    assert [item.id for item in recalled] == [decision.id]
    assert memory_recall(user=world.viewer, query="vendor delay", kinds=[]) == []


def test_unrelated_memories_below_the_similarity_floor_are_not_recalled(world, embedding_model):
    for text in UNRELATED:
        remember(world.own, text)

    assert memory_recall(user=world.viewer, query="vendor delay on terminals") == []


def test_a_run_recalls_its_own_portfolio_only(world, own_memory):
    scheduled = SimpleNamespace(portfolio_id=world.own.pk, requested_by_id=None)

    recalled = memory_recall_for_run(run=scheduled, query="vendor delay", limit=5)

    assert recalled[0].id == own_memory.slipped.id
    assert {item.portfolio_id for item in recalled} == {world.own.pk}


def test_a_run_requested_by_someone_who_lost_access_recalls_nothing(world, own_memory):
    requested = SimpleNamespace(
        portfolio_id=world.own.pk, requested_by_id=world.outsider.pk, requested_by=world.outsider
    )

    assert memory_recall_for_run(run=requested, query="vendor delay") == []


def test_recall_like_a_remembered_item_reuses_its_vector_and_leaves_it_out(
    world, own_memory, django_assert_num_queries
):
    world.viewer.is_authenticated  # noqa: B018
    memory_recall(user=world.viewer, query="warm the permission cache")

    with django_assert_num_queries(2):  # SET LOCAL hnsw.ef_search, the recall
        similar = memory_recall_like_item(user=world.viewer, item_id=own_memory.slipped.id)

    assert own_memory.slipped.id not in {item.id for item in similar}
    assert own_memory.foreign.id not in {item.id for item in similar}


def test_memory_item_for_source_answers_only_within_visible_portfolios(world, own_memory):
    assert memory_item_for_source(user=world.viewer, source_type="test", source_id="x") is None
    found = memory_item_for_source(
        user=world.viewer, source_type="test", source_id=own_memory.slipped.source_id
    )
    hidden = memory_item_for_source(
        user=world.viewer, source_type="test", source_id=own_memory.foreign.source_id
    )

    assert found == own_memory.slipped
    assert hidden is None


@pytest.mark.parametrize(
    "exact_below",
    [
        pytest.param(3, id="HNSW scan, too few rows after the filter, exact scan takes over"),
        pytest.param(5000, id="small scope searched exactly from the start"),
    ],
)
def test_a_portfolio_with_a_tiny_share_of_the_memory_still_gets_its_nearest_items(
    world, embedding_model, exact_below, monkeypatch
):
    """pgvector 0.6 filters after the HNSW scan: with the index forced and the portfolio's
    rows a tiny share of the table, the index yields too few rows and the exact scan must
    take over; a scope under EXACT_BELOW items skips the index altogether."""
    monkeypatch.setattr("agents.memory.EXACT_BELOW", exact_below)
    crowd = PortfolioFactory()
    vectors = random_unit_vectors(400)
    MemoryItem.objects.bulk_create(
        MemoryItem(
            portfolio=crowd,
            kind=MemoryKind.RISK,
            text=f"Crowd item {index}",
            embedding=vector.tolist(),
            source_type="crowd",
            source_id=str(index),
        )
        for index, vector in enumerate(vectors)
    )
    mine = memory_remember_many(
        [
            MemoryEntry(
                portfolio_id=world.own.pk,
                kind=MemoryKind.DECISION,
                text=text,
                source_type="test",
                source_id=f"small-{index}",
            )
            for index, text in enumerate([SUPPLIER_SLIPPED, *UNRELATED])
        ]
    )

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        recalled = memory_recall(
            user=world.viewer, query="vendor delay", limit=5, min_similarity=0.0
        )

    assert len(recalled) == 5
    assert recalled[0].id == mine[0].id
    assert {item.portfolio_id for item in recalled} == {world.own.pk}


def test_recalled_memory_survives_a_round_trip_through_json(world, own_memory):
    import json

    from agents.memory import RecalledMemory

    recalled = memory_recall(user=world.viewer, query="vendor delay", limit=1)[0]

    again = RecalledMemory.from_dict(json.loads(json.dumps(recalled.as_dict())))

    assert again == recalled
    assert RecalledMemory.from_dict({"id": "x"}) is None


def test_the_same_sentence_remembered_by_two_runs_is_recalled_once(world, embedding_model):
    # given: two runs flagged the same risk in the same words
    text = "PAY: Burndown behind the ideal line. PAY Sprint 12 is behind its ideal line."
    for run in (1, 2):
        remember(world.own, text, kind=MemoryKind.RISK, source_id=f"{run}:BURNDOWN")

    # when
    recalled = memory_recall(user=world.pmo_leader, query="burndown behind the ideal line")

    # then
    assert [memory.text for memory in recalled].count(text) == 1
