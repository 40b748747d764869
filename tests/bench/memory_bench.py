"""Agent-memory recall at scale: 100,000 memory items, hybrid recall latency.

The corpus is generated once into the bench database (skipped when already there): ten
portfolios of skewed sizes (30 % of the items down to 2 %), texts built from PMO sentences with
ticket keys and vendor names, and embeddings near the real all-MiniLM-L6-v2 embeddings of 240
seed sentences (seed + Gaussian noise, normalized; 240 seeds take seconds to embed, 100,000
items would take an hour). Rows go in with a binary COPY while the HNSW and GIN indexes are
dropped, then the indexes are rebuilt and the table analyzed.

Measured, each over `repeats` different queries:
- the embedding model's load (once per worker process) and one query's embedding;
- the recall SQL (given the query vector): for a superuser (all portfolios), for a viewer of
  the largest portfolio (30 %) and of the smallest (2 %: the HNSW filter returns too few
  rows and the exact scan takes over), and "like a remembered item" (what pages run);
- recall end to end (embedding + SQL), as an agent run does it;
- an exact nearest-neighbour scan of the same portfolios as the baseline (ratio), and the
  share of its top 20 that the HNSW half finds (recall@20) in the row's name.

    .venv/bin/python -m tests.bench.memory_bench          # on its own
    bench_memory_recall()                                  # from tests/bench/run.py
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable

BENCH_SOURCE = "bench"
PORTFOLIO_SHARES = (0.30, 0.20, 0.15, 0.10, 0.08, 0.06, 0.04, 0.03, 0.02, 0.02)
RECALL_GOAL_MS = 100.0
EMBED_GOAL_MS = 50.0
NOISE = 0.045  # per-dimension noise: cosine to its seed about 0.75

SUBJECTS = [
    "The supplier", "The card-reader vendor", "The payments team", "The platform team",
    "The carrier", "The cloud provider", "The security review", "The data migration",
    "The mobile team", "The regulator", "The design agency", "The QA contractor",
]  # fmt: skip
EVENTS = [
    "slipped the delivery by three weeks", "missed the certification deadline",
    "raised an unplanned dependency", "ran out of capacity for the sprint",
    "found a compliance gap in the checkout flow", "delivered ahead of plan",
    "asked to reprioritize the onboarding epic", "reported flaky integration tests",
    "needed two more engineers", "changed the API contract without notice",
    "blocked the release on a licence question", "cut scope to keep the date",
    "flagged aging work in progress", "doubled the cycle time of reviews",
    "escalated a budget overrun", "moved the go-live to next quarter",
    "proposed a new ranking of the epics", "requested changes to the roadmap",
    "approved the vendor switch", "rejected the risky shortcut",
]  # fmt: skip
KINDS = ("decision", "risk", "retrospective", "run_summary")
QUERIES = [
    "Risk: vendor delay on the payment terminals",
    "supplier is late with the hardware",
    "team capacity shortage this sprint",
    "regulatory compliance issue in checkout",
    "release blocked by licensing",
    "scope cut to protect the deadline",
    "reprioritize the epics for onboarding",
    "integration tests keep failing",
    "budget overrun escalated to executives",
    "go-live postponed",
]


def _timed(function: Callable[[], object], repeat: int) -> list[float]:
    function()  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def _row(group, name, samples, queries, goal, ratio=None) -> dict:
    return {
        "group": group,
        "name": name,
        "p50_ms": statistics.median(samples),
        "p95_ms": _percentile(samples, 0.95),
        "queries": queries,
        "goal_ms": goal,
        "ratio_to_baseline": ratio,
    }


def _count_queries(function: Callable[[], object], database_alias: str) -> int:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections[database_alias]) as captured:
        function()
    return len(captured.captured_queries)


# --- corpus ----------------------------------------------------------------------------------


def _bench_portfolios():
    from portfolio.models import Portfolio

    return [
        Portfolio.objects.get_or_create(
            slug=f"memory-bench-{index:02d}", defaults={"name": f"Memory bench {index:02d}"}
        )[0]
        for index in range(len(PORTFOLIO_SHARES))
    ]


def _bench_users(portfolios):
    from governance.roles import Role
    from governance.services import role_grant
    from tests.factories import UserFactory

    admin = UserFactory(username="memory-bench-admin", is_superuser=True, is_staff=True)
    users = {"admin": admin}
    for label, portfolio in (("large", portfolios[0]), ("small", portfolios[-1])):
        user = UserFactory(username=f"memory-bench-viewer-{label}")
        if not user.role_assignments.exists():
            role_grant(actor=admin, user=user, role=Role.VIEWER, portfolio=portfolio)
        users[label] = user
    return users


def _seeds() -> list[str]:
    return [f"{subject} {event}." for subject in SUBJECTS for event in EVENTS]


def _generate(items: int, portfolios, database_alias: str) -> None:
    """Write `items` memory items with a binary COPY, indexes dropped meanwhile."""
    import numpy as np
    import psycopg
    from django.db import connections
    from django.utils import timezone
    from pgvector.psycopg import register_vector

    from agents.embeddings import get_embeddings
    from agents.models import MemoryItem

    connection = connections[database_alias]
    seeds = _seeds()
    print(f"memory bench: embedding {len(seeds)} seed sentences ...", flush=True)
    centers = np.asarray(get_embeddings().embed_documents(seeds), dtype=np.float32)
    rng = np.random.default_rng(2026)
    shares = np.asarray(PORTFOLIO_SHARES) / sum(PORTFOLIO_SHARES)
    owners = rng.choice(len(portfolios), size=items, p=shares)
    topics = rng.integers(0, len(seeds), size=items)
    vectors = centers[topics] + rng.normal(0, NOISE, size=(items, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    kinds = rng.choice(len(KINDS), size=items, p=[0.4, 0.3, 0.15, 0.15])
    tickets = rng.integers(1, 60_000, size=items)
    vendors = rng.integers(0, 400, size=items)
    now = timezone.now()
    ages = rng.integers(0, 3 * 365 * 24 * 3600, size=items)

    indexes = [
        index
        for index in MemoryItem._meta.indexes
        if index.name in ("memory_embedding_hnsw", "memory_search_gin")
    ]
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.remove_index(MemoryItem, index)
    print(f"memory bench: writing {items:,} items (binary COPY) ...", flush=True)
    started = time.perf_counter()
    table = MemoryItem._meta.db_table
    with psycopg.connect(**connection.get_connection_params()) as raw:
        register_vector(raw)
        with (
            raw.cursor() as cursor,
            cursor.copy(
                f"COPY {table} (portfolio_id, kind, text, embedding, source_type, source_id, "
                "created_at) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(
                ["int8", "varchar", "text", "vector", "varchar", "varchar", "timestamptz"]
            )
            for index in range(items):
                text = (
                    f"{KINDS[kinds[index]].replace('_', ' ').capitalize()}: {seeds[topics[index]]}"
                    f" Ticket OPS-{tickets[index]}, vendor Vendorix{vendors[index]}."
                )
                copy.write_row(
                    (
                        portfolios[owners[index]].pk,
                        KINDS[kinds[index]],
                        text,
                        vectors[index],
                        BENCH_SOURCE,
                        str(index),
                        now - dt.timedelta(seconds=int(ages[index])),
                    )
                )
    print(f"memory bench: written in {time.perf_counter() - started:.0f} s; indexing ...")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 2")
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.add_index(MemoryItem, index)
    with connection.cursor() as cursor:
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute(f"ANALYZE {table}")
    print(f"memory bench: indexes built in {time.perf_counter() - started:.0f} s", flush=True)


def ensure_memory_corpus(*, items: int = 100_000, database_alias: str = "default"):
    """The bench portfolios, users and `items` memory items; generated only once."""
    from agents.models import MemoryItem

    portfolios = _bench_portfolios()
    users = _bench_users(portfolios)
    present = MemoryItem.objects.using(database_alias).filter(source_type=BENCH_SOURCE).count()
    if present != items:
        if present:
            MemoryItem.objects.using(database_alias).filter(source_type=BENCH_SOURCE).delete()
        _generate(items, portfolios, database_alias)
    else:
        print(f"memory bench: reusing the {items:,} memory items already generated")
    return portfolios, users


# --- measures --------------------------------------------------------------------------------


def _exact_top(vector_literal: str, portfolio_ids: list[int], k: int, alias: str) -> list[int]:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT id FROM agents_memoryitem WHERE portfolio_id = ANY(%s) "
            "ORDER BY cosine_distance(embedding, %s::vector), id LIMIT %s",
            [portfolio_ids, vector_literal, k],
        )
        return [row[0] for row in cursor.fetchall()]


def _semantic_top(vector_literal: str, portfolio_ids: list[int], k: int, alias: str) -> list[int]:
    """The semantic half of a recall alone: an exact scan for a scope under EXACT_BELOW
    items, else the HNSW scan with the recall's filter and ef_search, replaced by the exact
    scan when it yields fewer than `k` rows."""
    from django.db import connections, transaction

    from agents.memory import EXACT_BELOW, _search_breadth

    fetch, ef_search = _search_breadth(5)
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM agents_memoryitem WHERE portfolio_id = ANY(%s) "
            "LIMIT %s) scope",
            [portfolio_ids, EXACT_BELOW],
        )
        if cursor.fetchone()[0] < EXACT_BELOW:
            return _exact_top(vector_literal, portfolio_ids, k, alias)
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
        cursor.execute(
            "SELECT id FROM agents_memoryitem WHERE portfolio_id = ANY(%s) "
            "ORDER BY embedding <=> %s::vector LIMIT %s",
            [portfolio_ids, vector_literal, k],
        )
        found = [row[0] for row in cursor.fetchall()]
    return found if len(found) >= k else _exact_top(vector_literal, portfolio_ids, k, alias)


def _plan(vector: list[float], text: str, portfolio_ids: list[int], alias: str) -> str:
    """Which scans of the memory table one recall actually ran (EXPLAIN ANALYZE)."""
    from django.db import connections, transaction

    from agents import memory

    fetch, ef_search = memory._search_breadth(5)
    params = {
        "portfolios": portfolio_ids,
        "common_share": memory.COMMON_TERM_SHARE,
        "common_items": memory.COMMON_TERM_ITEMS,
        "vector": memory._vector_literal(vector),
        "text": text,
        "fetch": fetch,
        "limit": 5,
        "kinds": None,
        "min_similarity": memory.DEFAULT_MIN_SIMILARITY,
        "exact_below": memory.EXACT_BELOW,
    }
    sql = memory._recall_sql(anchor=False, kinds=False, current_only=False)
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        lines = [row[0].strip() for row in cursor.fetchall()]
    ran = [
        line.removeprefix("->").strip().split(" on agents_memoryitem")[0]
        for line in lines
        if " on agents_memoryitem" in line and "never executed" not in line and "pkey" not in line
    ]
    return ", ".join(dict.fromkeys(ran))


class _Cycle:
    """0, 1, ..., size - 1, 0, 1, ...: each timed call takes the next query."""

    def __init__(self, size: int):
        self.size, self.position = size, -1

    def __call__(self) -> int:
        self.position = (self.position + 1) % self.size
        return self.position


def _recall_call(allowed: list[int], vectors: list, texts: list[str]) -> Callable[[], object]:
    from agents.memory import _recall

    cycle = _Cycle(len(texts))

    def recall() -> object:
        index = cycle()
        return _recall(portfolio_ids=allowed, vector=vectors[index], query=texts[index])

    return recall


def _exact_call(allowed: list[int], literals: list[str], alias: str) -> Callable[[], object]:
    cycle = _Cycle(len(literals))
    return lambda: _exact_top(literals[cycle()], allowed, 20, alias)


def bench_memory_recall(
    *, database_alias: str = "default", items: int = 100_000, repeats: int = 50
) -> list[dict]:
    """Rows shaped like tests/bench/run.py's Measure, for `make bench` to print."""
    from agents.embeddings import LocalMiniLMEmbeddings, get_embeddings
    from agents.memory import _recall, _vector_literal, memory_recall
    from agents.models import MemoryItem
    from portfolio.permissions import visible_portfolio_ids

    started = time.perf_counter()
    embeddings = get_embeddings()
    embeddings.embed_query("load")
    load_ms = (LocalMiniLMEmbeddings.load_seconds or (time.perf_counter() - started)) * 1000
    portfolios, users = ensure_memory_corpus(items=items, database_alias=database_alias)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"memory bench: load average {load} on {os.cpu_count()} cores (figures scale with it)")
    rows = [_row("memory", "model load (once per worker)", [load_ms], 0, None)]

    texts = [f"{QUERIES[index % len(QUERIES)]} ({index})" for index in range(repeats)]
    query_vectors = embeddings.embed_documents(texts)
    literals = [_vector_literal(vector) for vector in query_vectors]
    embed_cycle = _Cycle(repeats)
    samples = _timed(lambda: embeddings.embed_query(texts[embed_cycle()]), repeats)
    rows.append(_row("memory", "embed one query (MiniLM, CPU)", samples, 0, EMBED_GOAL_MS))

    scopes = [
        ("all 10 portfolios", users["admin"]),
        ("portfolio of 30 %", users["large"]),
        ("portfolio of 2 % (exact)", users["small"]),
    ]
    checked = min(repeats, 20)
    for label, user in scopes:
        allowed = sorted(visible_portfolio_ids(user) & {p.pk for p in portfolios})

        recall = _recall_call(allowed, query_vectors, texts)
        exact = _exact_call(allowed, literals[:checked], database_alias)
        samples = _timed(recall, repeats)
        baseline = _timed(exact, checked)
        found = [
            len(
                set(_semantic_top(literals[index], allowed, 20, database_alias))
                & set(_exact_top(literals[index], allowed, 20, database_alias))
            )
            / 20
            for index in range(checked)
        ]
        scans = _plan(query_vectors[0], texts[0], allowed, database_alias)
        print(f"memory bench: {label}: scans of the memory table: {scans}")
        rows.append(
            _row(
                "memory recall SQL",
                f"{label}, recall@20 {statistics.mean(found):.2f}",
                samples,
                _count_queries(recall, database_alias),
                RECALL_GOAL_MS,
                statistics.median(samples) / statistics.median(baseline),
            )
        )

    anchors = list(
        MemoryItem.objects.using(database_alias)
        .filter(portfolio=portfolios[0], source_type=BENCH_SOURCE)
        .values_list("pk", flat=True)[:repeats]
    )
    everywhere = [p.pk for p in portfolios]

    like_cycle = _Cycle(len(anchors))

    def like_item() -> object:
        return _recall(portfolio_ids=everywhere, like_item_id=anchors[like_cycle()])

    rows.append(
        _row(
            "memory recall SQL",
            "like a stored item (pages, no model)",
            _timed(like_item, repeats),
            _count_queries(like_item, database_alias),
            RECALL_GOAL_MS,
        )
    )

    end_cycle = _Cycle(repeats)

    def end_to_end() -> object:
        return memory_recall(user=users["large"], query=texts[end_cycle()])

    rows.append(
        _row(
            "memory recall",
            "embed + recall, portfolio of 30 % (runs)",
            _timed(end_to_end, repeats),
            _count_queries(end_to_end, database_alias),
            RECALL_GOAL_MS + EMBED_GOAL_MS,
        )
    )
    return rows


def main() -> int:
    from tests.bench import run

    run._prepare_environment()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rows = bench_memory_recall()
    run._print([run.Measure(**row) for row in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
