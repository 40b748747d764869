"""Agent memory: remember decisions, risks, retrospectives and run summaries; recall the ones
that resemble a new situation, within the portfolios the requester may see.

Writes (services)
    `memory_remember` / `memory_remember_many` embed the text and store one MemoryItem per
    source (unique on source_type, source_id, kind): remembering the same source again changes
    nothing, so tasks may be retried. They embed with the configured model, so they run in
    Celery tasks only; from a web request, `memory_remember_later` enqueues the same work
    after the commit. `memory_supersede` marks older items as superseded by a newer one (a
    reversed decision stays recallable, marked stale, never silently reused). Memory is
    derived data, not a governed action: no decision-log entry is written for it.

Reads (selectors)
    `memory_recall` answers with `RecalledMemory` rows for a user; `memory_recall_for_run`
    for an agent run (the run's portfolio only, and only what its requester may see).

How a recall works (one statement, plus one to size the HNSW search)
    1. Semantic half: the `fetch` nearest items by cosine distance, with the portfolio /
       kind / superseded filters inside the same SQL. A permitted scope of fewer than
       EXACT_BELOW items (counted through the (portfolio, kind) index, the count capped
       there) is searched exactly: a few milliseconds, no approximation. A larger one goes
       through the HNSW index. pgvector 0.6 has no iterative index scan: an HNSW scan
       yields at most `hnsw.ef_search` candidates *before* the filter, so a scope holding a
       small share of the table may get fewer than `fetch` rows. Two defences, both in the
       statement: ef_search is raised for the recall (SET LOCAL, 400 for the default 20
       candidates), and when the index still returns fewer than `fetch` rows the exact scan
       of the permitted rows runs instead (one-time filters on the counts: a branch not
       taken costs nothing). On the benchmark's deliberately clustered 100,000 items,
       ef_search 400 finds about 90 % of the exact top 20 (200: 84 %, 800: 99.7 %), the
       misses being near-ties, for about 10 ms.
    2. Lexical half: PostgreSQL full text on the stored `search_vector` (GIN index), as an
       OR of the query's lexemes (a risk description rarely contains every word of a past
       decision), ranked by ts_rank. Lexemes that the table's statistics (pg_stats, kept by
       ANALYZE) show in more than 1 % of all items (and more than 50) are dropped: without
       IDF, "project" or a portfolio's own name would match everything, and ranking
       thousands of matches costs tens of milliseconds. What remains are the distinctive
       terms: ticket keys, vendor names, people, systems. At most LEXICAL_RANKED matches
       are ranked (any, when more match), which bounds the cost of the worst query.
    3. Fusion: reciprocal rank fusion, score = sum of 1 / (60 + rank) over the two lists
       (Cormack et al.). Cosine distances and ts_rank are not on comparable scales; ranks
       are, and RRF needs no tuning. A candidate found only semantically must still reach
       `min_similarity`; a lexical match is kept (it shares a distinctive term).
    `similarity` is always the cosine similarity of the item to the query (0..1, 1 =
    same direction), whichever half found it, so pages can show it as a percentage.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import CharField, Q
from django.db.models.functions import Cast
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents.models.memory import EMBEDDING_DIMENSIONS, SEARCH_CONFIG, MemoryItem, MemoryKind
from governance.models import DecisionLog
from portfolio.models import Portfolio, Project
from portfolio.permissions import visible_portfolio_ids

logger = logging.getLogger(__name__)

AnyUser = AbstractBaseUser | AnonymousUser

MAX_TEXT_LENGTH = 4000
"""Longer texts are cut: the model reads the first 256 tokens anyway, full text the rest."""

EXACT_BELOW = 5000
"""Permitted scopes smaller than this many items are searched exactly, without the index."""

RRF_K = 60
"""Reciprocal-rank-fusion constant: 1 / (RRF_K + rank)."""

DEFAULT_MIN_SIMILARITY = 0.25
"""Below this cosine similarity a memory found only by meaning is not worth showing
(all-MiniLM-L6-v2 rates unrelated sentences of the same domain around 0.05 to 0.2)."""

COMMON_TERM_SHARE = 0.01
COMMON_TERM_ITEMS = 50
"""A lexeme in more than this share of all memory items, and in more than this many of them,
is too common to count as an exact term match (see the module docstring); the count keeps a
young memory's rare words (one item in 80 is more than 1 %) distinctive."""

LEXICAL_RANKED = 1000
"""At most this many full-text matches are ranked: ts_rank reads every row it ranks."""

MAX_QUERY_LEXEMES = 64

SOURCE_DECISION_LOG = "decision_log"
SOURCE_AGENT_RUN = "agent_run"
SOURCE_RETROSPECTIVE = "retrospective"


# --- writes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryEntry:
    """One thing to remember, as `memory_remember_many` takes it.

    `supersedes`: items (ids) or sources ((source_type, source_id) pairs) that this entry
    replaces; they are marked superseded by it, if they belong to the same portfolio.
    `created_at`: when the remembered thing happened (default: now).
    """

    portfolio_id: int
    kind: str
    text: str
    source_type: str
    source_id: str
    project_id: int | None = None
    supersedes: tuple[int | tuple[str, str], ...] = ()
    created_at: dt.datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source_type, self.source_id, self.kind)


def _clean_entry(entry: MemoryEntry) -> MemoryEntry:
    """Validate one entry; raises ValidationError keyed by field."""
    errors: dict[str, str] = {}
    if entry.kind not in MemoryKind.values:
        errors["kind"] = f"Unknown memory kind {entry.kind!r}: use {', '.join(MemoryKind.values)}."
    text = " ".join((entry.text or "").split())
    if not text:
        errors["text"] = "Nothing to remember: the text is empty."
    source_type, source_id = str(entry.source_type or "").strip(), str(entry.source_id).strip()
    if not source_type or len(source_type) > 40:
        errors["source_type"] = "Name the source in 1 to 40 characters, e.g. decision_log."
    if not source_id or len(source_id) > 64:
        errors["source_id"] = "Identify the source in 1 to 64 characters."
    if entry.created_at is not None and timezone.is_naive(entry.created_at):
        errors["created_at"] = "Use a timezone-aware datetime."
    if errors:
        raise ValidationError(errors)
    return MemoryEntry(
        portfolio_id=int(entry.portfolio_id),
        kind=str(entry.kind),
        text=text[:MAX_TEXT_LENGTH],
        source_type=source_type,
        source_id=source_id,
        project_id=None if entry.project_id is None else int(entry.project_id),
        supersedes=tuple(entry.supersedes),
        created_at=entry.created_at,
    )


def _source_filter(keys: Iterable[tuple[str, str, str]]) -> Q:
    condition = Q(pk__in=[])
    for source_type, source_id, kind in keys:
        condition |= Q(source_type=source_type, source_id=source_id, kind=kind)
    return condition


def memory_remember_many(entries: Sequence[MemoryEntry]) -> list[MemoryItem]:
    """Remember several things at once: one batch through the embedding model, one insert.

    Idempotent: an entry whose source is already remembered is neither embedded nor
    changed (its existing item is returned). Returns the items in the order of `entries`.
    Embeds with the configured model: call it from a Celery task, not a web request.
    """
    from agents.embeddings import get_embeddings

    cleaned = [_clean_entry(entry) for entry in entries]
    if not cleaned:
        return []
    unique = list({entry.key: entry for entry in cleaned}.values())
    existing = {
        (item.source_type, item.source_id, item.kind): item
        for item in MemoryItem.objects.filter(_source_filter(entry.key for entry in unique))
    }
    missing = [entry for entry in unique if entry.key not in existing]
    if missing:
        vectors = get_embeddings().embed_documents([entry.text for entry in missing])
        now = timezone.now()
        rows = [
            MemoryItem(
                portfolio_id=entry.portfolio_id,
                project_id=entry.project_id,
                kind=entry.kind,
                text=entry.text,
                embedding=vector,
                source_type=entry.source_type,
                source_id=entry.source_id,
                created_at=entry.created_at or now,
            )
            for entry, vector in zip(missing, vectors, strict=True)
        ]
        with transaction.atomic():
            # A concurrent task may have remembered the same source meanwhile: keep its row.
            MemoryItem.objects.bulk_create(rows, ignore_conflicts=True)
            for item in MemoryItem.objects.filter(_source_filter(e.key for e in missing)):
                existing[(item.source_type, item.source_id, item.kind)] = item
            for entry in missing:
                if entry.supersedes:
                    memory_supersede(older=entry.supersedes, newer=existing[entry.key])
    return [existing[entry.key] for entry in cleaned]


def memory_remember(
    *,
    portfolio: Portfolio | int,
    kind: str,
    text: str,
    source_type: str,
    source_id: str | int,
    project: Project | int | None = None,
    supersedes: Iterable[MemoryItem | int | tuple[str, str]] | None = None,
    created_at: dt.datetime | None = None,
) -> MemoryItem:
    """Remember one thing (see `memory_remember_many`); idempotent on its source."""
    entry = MemoryEntry(
        portfolio_id=portfolio if isinstance(portfolio, int) else portfolio.pk,
        kind=kind,
        text=text,
        source_type=source_type,
        source_id=str(source_id),
        project_id=project if project is None or isinstance(project, int) else project.pk,
        supersedes=tuple(
            item.pk if isinstance(item, MemoryItem) else item for item in (supersedes or ())
        ),
        created_at=created_at,
    )
    return memory_remember_many([entry])[0]


def memory_remember_later(
    *,
    portfolio: Portfolio | int,
    kind: str,
    text: str,
    source_type: str,
    source_id: str | int,
    project: Project | int | None = None,
    supersedes: Iterable[int | tuple[str, str]] | None = None,
) -> None:
    """`memory_remember`, run by a task on the `agents` queue after the current transaction
    commits: what a web request calls (it never loads the model itself). Validates now."""
    entry = _clean_entry(
        MemoryEntry(
            portfolio_id=portfolio if isinstance(portfolio, int) else portfolio.pk,
            kind=kind,
            text=text,
            source_type=source_type,
            source_id=str(source_id),
            project_id=project if project is None or isinstance(project, int) else project.pk,
            supersedes=tuple(supersedes or ()),
        )
    )
    payload = {
        "portfolio_id": entry.portfolio_id,
        "kind": entry.kind,
        "text": entry.text,
        "source_type": entry.source_type,
        "source_id": entry.source_id,
        "project_id": entry.project_id,
        "supersedes": [
            list(item) if isinstance(item, tuple) else item for item in entry.supersedes
        ],
    }
    from agents.tasks.memory import memory_remember_task

    enqueue_on_commit(memory_remember_task, payload)


def enqueue_on_commit(task: Any, *args: Any) -> None:
    """Send `task` after the commit; a broker outage is logged, never raised into the request
    that already committed (`memory_backfill_decisions` catches up on decisions later)."""

    def send() -> None:
        try:
            task.delay(*args)
        except Exception:
            logger.exception("agent memory: could not enqueue %s%r", task.name, args)

    transaction.on_commit(send)


def _older_ids(older: Iterable[MemoryItem | int | tuple[str, str]]) -> tuple[list[int], Q]:
    ids: list[int] = []
    sources = Q(pk__in=[])
    for item in older:
        if isinstance(item, MemoryItem):
            ids.append(item.pk)
        elif isinstance(item, tuple | list):
            source_type, source_id = item
            sources |= Q(source_type=source_type, source_id=str(source_id))
        else:
            ids.append(int(item))
    return ids, sources


def memory_supersede(
    *, older: Iterable[MemoryItem | int | tuple[str, str]], newer: MemoryItem
) -> int:
    """Mark `older` items (ids, items, or (source_type, source_id) sources) as superseded by
    `newer`. Only items of the same portfolio not already superseded are marked (the first
    successor stays); returns how many were."""
    ids, sources = _older_ids(older)
    return (
        MemoryItem.objects.filter(Q(pk__in=ids) | sources)
        .filter(portfolio_id=newer.portfolio_id, superseded_by__isnull=True)
        .exclude(pk=newer.pk)
        .update(superseded_by=newer)
    )


# --- agent runs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskToRemember:
    """A risk an agent run flagged. `key` identifies the risk within its scope across runs
    (e.g. the signal code "aging_wip" or "dependency:PAY-12"), so the next run's flag of the
    same risk supersedes this one."""

    key: str
    text: str
    project_id: int | None = None


def memory_remember_run(
    *, run: Any, summary: str = "", risks: Sequence[RiskToRemember] = ()
) -> list[MemoryItem]:
    """Remember a finished agent run: its summary (kind run_summary, source agent_run:<id>)
    and each risk it flagged (kind risk, source agent_run:<id>#<key>), in one embedding
    batch. A run's summary supersedes the previous summary of the same kind of run on the
    same scope; a risk supersedes the previous flag of the same key on the same project.
    Idempotent (a retried run remembers nothing twice). Call it from the run's task."""
    from agents.models import AgentRun

    finished = getattr(run, "finished_at", None) or timezone.now()
    entries = []
    if summary.strip():
        entries.append(
            MemoryEntry(
                portfolio_id=run.portfolio_id,
                project_id=run.project_id,
                kind=MemoryKind.RUN_SUMMARY,
                text=summary,
                source_type=SOURCE_AGENT_RUN,
                source_id=str(run.pk),
                created_at=finished,
            )
        )
    for risk in risks:
        key = " ".join(str(risk.key).split())[:40]
        entries.append(
            MemoryEntry(
                portfolio_id=run.portfolio_id,
                project_id=risk.project_id if risk.project_id is not None else run.project_id,
                kind=MemoryKind.RISK,
                text=risk.text,
                source_type=SOURCE_AGENT_RUN,
                source_id=f"{run.pk}#{key}",
                created_at=finished,
            )
        )
    items = memory_remember_many(entries)
    same_kind_runs = (
        AgentRun.objects.filter(kind=run.kind, portfolio_id=run.portfolio_id)
        .exclude(pk=run.pk)
        .annotate(text_id=Cast("pk", CharField()))
        .values("text_id")
    )
    for item in items:
        earlier = MemoryItem.objects.filter(
            portfolio_id=item.portfolio_id,
            project_id=item.project_id,
            kind=item.kind,
            source_type=SOURCE_AGENT_RUN,
            superseded_by__isnull=True,
            created_at__lte=item.created_at,
        ).exclude(pk=item.pk)
        if item.kind == MemoryKind.RUN_SUMMARY:
            earlier = earlier.filter(source_id__in=same_kind_runs)
        else:
            earlier = earlier.filter(source_id__endswith="#" + item.source_id.partition("#")[2])
        earlier.update(superseded_by=item)
    return items


# --- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecalledMemory:
    """One recalled item, as runs store it (`as_dict`, JSON-safe) and pages show it."""

    id: int
    kind: str
    text: str
    similarity: float
    source_type: str
    source_id: str
    url: str
    superseded: bool
    superseded_by_id: int | None
    superseded_by_url: str
    created_at: dt.datetime
    portfolio_id: int
    project_id: int | None
    exact_terms: bool = False
    score: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def kind_label(self) -> str:
        try:
            return MemoryKind(self.kind).label
        except ValueError:
            return self.kind

    @property
    def similarity_percent(self) -> int:
        return round(max(0.0, min(1.0, self.similarity)) * 100)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["created_at"] = self.created_at.isoformat()
        data["kind_label"] = self.kind_label
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecalledMemory | None:
        """Back from `as_dict` (e.g. a run's stored result); None if it is not one."""
        try:
            created = data.get("created_at")
            if isinstance(created, str):
                created = parse_datetime(created)
            if not isinstance(created, dt.datetime):
                return None
            superseded_by = data.get("superseded_by_id")
            project_id = data.get("project_id")
            return cls(
                id=int(data["id"]),
                kind=str(data.get("kind") or ""),
                text=str(data.get("text") or ""),
                similarity=float(data.get("similarity") or 0.0),
                source_type=str(data.get("source_type") or ""),
                source_id=str(data.get("source_id") or ""),
                url=str(data.get("url") or ""),
                superseded=bool(data.get("superseded")),
                superseded_by_id=None if superseded_by is None else int(superseded_by),
                superseded_by_url=str(data.get("superseded_by_url") or ""),
                created_at=created,
                portfolio_id=int(data["portfolio_id"]),
                project_id=None if project_id is None else int(project_id),
                exact_terms=bool(data.get("exact_terms")),
                score=float(data.get("score") or 0.0),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _reverse(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def source_url(
    *,
    source_type: str,
    source_id: str,
    portfolio_slug: str,
    decision_subject: str | None = None,
    decision_kind: str | None = None,
) -> str:
    """Where a memory's source can be read ("" when it has no page). No query."""
    if source_type == SOURCE_DECISION_LOG:
        scope, _, ident = (decision_subject or "").partition(":")
        if scope == "recommendation" and ident.isdigit():
            return _reverse("governance:recommendation-detail", int(ident))
        if scope == "policy" and ident.isdigit():
            return _reverse("governance:policy-edit", portfolio_slug, int(ident))
        if scope == "project" and ident:
            return _reverse("portfolio:project-detail", ident)
        base = _reverse("governance:decision-log")
        if not base:
            return ""
        query = {"portfolio": portfolio_slug, "kind": decision_kind or ""}
        return f"{base}?{urlencode({k: v for k, v in query.items() if v})}"
    if source_type == SOURCE_AGENT_RUN:
        run_id = source_id.partition("#")[0]
        return _reverse("agents:run-detail", int(run_id)) if run_id.isdigit() else ""
    return ""


def _vector_literal(vector: Sequence[float]) -> str:
    if len(vector) != EMBEDDING_DIMENSIONS:
        raise ValueError(
            f"A query vector has {EMBEDDING_DIMENSIONS} dimensions, not {len(vector)}."
        )
    return "[" + ",".join(f"{float(value):.7g}" for value in vector) + "]"


def _recall_sql(*, anchor: bool, kinds: bool, current_only: bool) -> str:
    table = connection.ops.quote_name(MemoryItem._meta.db_table)
    portfolios = connection.ops.quote_name(Portfolio._meta.db_table)
    decisions = connection.ops.quote_name(DecisionLog._meta.db_table)
    filters = ["m.portfolio_id = ANY(%(portfolios)s)"]
    if kinds:
        filters.append("m.kind = ANY(%(kinds)s)")
    if current_only:
        filters.append("m.superseded_by_id IS NULL")
    if anchor:
        filters.append("m.id <> %(anchor)s")
        probe = f"SELECT embedding, text FROM {table} WHERE id = %(anchor)s"
    else:
        probe = "SELECT %(vector)s::vector AS embedding, %(text)s::text AS text"
    where = " AND ".join(filters)
    config = f"'{SEARCH_CONFIG}'::regconfig"
    decision_of = (
        "CASE WHEN {alias}.source_type = 'decision_log' AND {alias}.source_id ~ '^[0-9]{{1,18}}$' "
        "THEN {alias}.source_id::bigint END"
    )
    # Every filter sits inside each half, so the HNSW and GIN scans only ever yield
    # permitted rows; nothing is filtered after the fusion except the similarity floor.
    return f"""
WITH probe AS MATERIALIZED ({probe}),
scope AS MATERIALIZED (
    SELECT count(*) AS size
    FROM (SELECT 1 FROM {table} m WHERE {where} LIMIT %(exact_below)s) permitted
),
nearest AS MATERIALIZED (
    SELECT m.id, m.embedding <=> (SELECT embedding FROM probe) AS distance
    FROM {table} m
    WHERE (SELECT size FROM scope) >= %(exact_below)s AND {where}
    ORDER BY m.embedding <=> (SELECT embedding FROM probe)
    LIMIT %(fetch)s
),
nearest_exact AS MATERIALIZED (
    SELECT m.id, cosine_distance(m.embedding, (SELECT embedding FROM probe)) AS distance
    FROM {table} m
    WHERE (SELECT count(*) FROM nearest) < %(fetch)s AND {where}
    ORDER BY 2, m.id
    LIMIT %(fetch)s
),
semantic AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS position
    FROM (
        SELECT id, distance FROM nearest_exact
        UNION ALL
        SELECT id, distance FROM nearest WHERE NOT EXISTS (SELECT 1 FROM nearest_exact)
    ) hits
),
common_terms AS (
    SELECT c.term
    FROM pg_stats s,
         unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS c(term, share)
    WHERE s.schemaname = current_schema() AND s.tablename = '{MemoryItem._meta.db_table}'
      AND s.attname = 'search_vector' AND c.term IS NOT NULL AND c.share > %(common_share)s
      AND c.share * (SELECT reltuples FROM pg_class WHERE oid = '{table}'::regclass)
          > %(common_items)s
),
terms AS (
    SELECT string_agg(quote_literal(t.lexeme), ' | ')::tsquery AS query
    FROM (
        SELECT lexeme
        FROM unnest(to_tsvector({config}, (SELECT text FROM probe)))
        WHERE position(E'\\\\' IN lexeme) = 0
          AND lexeme NOT IN (SELECT term FROM common_terms)
        LIMIT {MAX_QUERY_LEXEMES}
    ) t
),
lexical AS (
    SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS position
    FROM (
        SELECT matched.id, ts_rank(matched.search_vector, terms.query, 1) AS rank
        FROM terms, LATERAL (
            SELECT m.id, m.search_vector
            FROM {table} m
            WHERE m.search_vector @@ terms.query AND {where}
            LIMIT {LEXICAL_RANKED}
        ) matched
        ORDER BY rank DESC, matched.id
        LIMIT %(fetch)s
    ) matches
),
fused AS (
    SELECT id, sum(1.0 / ({RRF_K} + position)) AS score, bool_or(lexical) AS lexical
    FROM (
        SELECT id, position, false AS lexical FROM semantic
        UNION ALL
        SELECT id, position, true AS lexical FROM lexical
    ) candidates
    GROUP BY id
),
scored AS (
    SELECT f.id, f.score, f.lexical,
           greatest(0.0, least(1.0, 1 - (m.embedding <=> (SELECT embedding FROM probe))))
               AS similarity
    FROM fused f JOIN {table} m ON m.id = f.id
)
SELECT m.id, m.kind, m.text, s.similarity, m.source_type, m.source_id, m.superseded_by_id,
       m.created_at, m.portfolio_id, m.project_id, p.slug, d.subject, d.kind,
       newer.source_type, newer.source_id, nd.subject, nd.kind, s.score, s.lexical
FROM scored s
JOIN {table} m ON m.id = s.id
JOIN {portfolios} p ON p.id = m.portfolio_id
LEFT JOIN {decisions} d ON d.id = {decision_of.format(alias="m")}
LEFT JOIN {table} newer ON newer.id = m.superseded_by_id
LEFT JOIN {decisions} nd ON nd.id = {decision_of.format(alias="newer")}
WHERE s.lexical OR s.similarity >= %(min_similarity)s
ORDER BY s.score DESC, s.similarity DESC, m.id DESC
LIMIT %(limit)s
"""


def _search_breadth(limit: int) -> tuple[int, int]:
    """(candidates per half, hnsw.ef_search) for a recall of `limit` items."""
    fetch = max(4 * limit, 20)
    return fetch, min(1000, max(400, 10 * fetch))


def _recall(
    *,
    portfolio_ids: Iterable[int],
    query: str | None = None,
    vector: Sequence[float] | None = None,
    like_item_id: int | None = None,
    kinds: Iterable[str] | None = None,
    limit: int = 5,
    include_superseded: bool = True,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> list[RecalledMemory]:
    portfolios = sorted({int(pk) for pk in portfolio_ids})
    limit = max(1, min(int(limit), 50))
    kind_values = sorted({str(kind) for kind in kinds}) if kinds is not None else None
    if not portfolios or kind_values == []:
        return []
    params: dict[str, Any] = {
        "portfolios": portfolios,
        "common_share": COMMON_TERM_SHARE,
        "common_items": COMMON_TERM_ITEMS,
    }
    if like_item_id is not None:
        params["anchor"] = int(like_item_id)
    else:
        text = " ".join((query or "").split())[:MAX_TEXT_LENGTH]
        if not text and vector is None:
            return []
        if vector is None:
            from agents.embeddings import get_embeddings

            vector = get_embeddings().embed_query(text)
        params["vector"], params["text"] = _vector_literal(vector), text
    fetch, ef_search = _search_breadth(limit)
    params.update(
        fetch=fetch,
        # Twice the answer: repeated runs remember the same sentence again (each run's risk
        # is its own item), and a recall lists a text once, at its best rank.
        limit=limit * 2,
        kinds=kind_values,
        min_similarity=float(min_similarity),
        exact_below=EXACT_BELOW,
    )
    sql = _recall_sql(
        anchor=like_item_id is not None,
        kinds=kind_values is not None,
        current_only=not include_superseded,
    )
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # SET LOCAL: for this transaction only (see the module docstring).
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _distinct_texts([_recalled(row) for row in rows])[:limit]


def _distinct_texts(recalled: list[RecalledMemory]) -> list[RecalledMemory]:
    """The first (best ranked) of the items that say the same thing in the same kind."""
    seen: set[tuple[str, str]] = set()
    distinct = []
    for memory in recalled:
        key = (memory.kind, " ".join(memory.text.split()).casefold())
        if key not in seen:
            seen.add(key)
            distinct.append(memory)
    return distinct


def _recalled(row: Sequence[Any]) -> RecalledMemory:
    (
        pk,
        kind,
        text,
        similarity,
        source_type,
        source_id,
        superseded_by_id,
        created_at,
        portfolio_id,
        project_id,
        slug,
        subject,
        decision_kind,
        newer_source_type,
        newer_source_id,
        newer_subject,
        newer_decision_kind,
        score,
        lexical,
    ) = row
    newer_url = ""
    if superseded_by_id is not None:
        newer_url = source_url(
            source_type=newer_source_type,
            source_id=newer_source_id,
            portfolio_slug=slug,
            decision_subject=newer_subject,
            decision_kind=newer_decision_kind,
        )
    return RecalledMemory(
        id=pk,
        kind=kind,
        text=text,
        similarity=round(float(similarity), 4),
        source_type=source_type,
        source_id=source_id,
        url=source_url(
            source_type=source_type,
            source_id=source_id,
            portfolio_slug=slug,
            decision_subject=subject,
            decision_kind=decision_kind,
        ),
        superseded=superseded_by_id is not None,
        superseded_by_id=superseded_by_id,
        superseded_by_url=newer_url,
        created_at=created_at,
        portfolio_id=portfolio_id,
        project_id=project_id,
        exact_terms=bool(lexical),
        score=round(float(score), 6),
        extra={"decision_subject": subject or ""},
    )


def memory_recall(
    *,
    user: AnyUser,
    query: str,
    portfolio_ids: Iterable[int] | None = None,
    kinds: Iterable[str] | None = None,
    limit: int = 5,
    include_superseded: bool = True,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> list[RecalledMemory]:
    """The remembered items most like `query`, best first, from the portfolios the user may
    see (narrowed to `portfolio_ids` if given), optionally only of some `kinds`.

    Superseded items are included and marked unless `include_superseded` is False. Embeds
    the query with the configured model: call it from a task (pages use
    `memory_recall_like_item`, which reuses a stored vector). Two SQL statements.
    """
    allowed = visible_portfolio_ids(user)
    if portfolio_ids is not None:
        allowed = allowed & {int(pk) for pk in portfolio_ids}
    return _recall(
        portfolio_ids=allowed,
        query=query,
        kinds=kinds,
        limit=limit,
        include_superseded=include_superseded,
        min_similarity=min_similarity,
    )


def memory_recall_for_run(
    *,
    run: Any,
    query: str,
    kinds: Iterable[str] | None = None,
    limit: int = 5,
    include_superseded: bool = True,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> list[RecalledMemory]:
    """What an agent run recalls: memory of the run's portfolio only, and, when a user
    requested the run, only if that user may still see it (a scheduled or event-triggered
    run has no requester: its scope is its portfolio)."""
    allowed = {run.portfolio_id}
    requester = getattr(run, "requested_by", None) if run.requested_by_id else None
    if requester is not None:
        allowed &= visible_portfolio_ids(requester)
    return _recall(
        portfolio_ids=allowed,
        query=query,
        kinds=kinds,
        limit=limit,
        include_superseded=include_superseded,
        min_similarity=min_similarity,
    )


def memory_recall_like_item(
    *,
    user: AnyUser,
    item_id: int,
    kinds: Iterable[str] | None = None,
    limit: int = 5,
    include_superseded: bool = True,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> list[RecalledMemory]:
    """Items like a remembered one (its stored vector and text as the query; itself
    excluded), within what the user may see. Needs no model: fit for a page."""
    return _recall(
        portfolio_ids=visible_portfolio_ids(user),
        like_item_id=item_id,
        kinds=kinds,
        limit=limit,
        include_superseded=include_superseded,
        min_similarity=min_similarity,
    )


def memory_item_for_source(
    *, user: AnyUser, source_type: str, source_id: str | int, kind: str | None = None
) -> MemoryItem | None:
    """The remembered item of a source, if the user may see its portfolio (one query)."""
    queryset = MemoryItem.objects.filter(
        source_type=source_type,
        source_id=str(source_id),
        portfolio_id__in=visible_portfolio_ids(user),
    )
    if kind is not None:
        queryset = queryset.filter(kind=kind)
    return queryset.only("id", "portfolio_id", "kind", "superseded_by_id").first()


def memory_refresh(*, user: AnyUser, recalled: Iterable[Any]) -> list[RecalledMemory]:
    """Recalled items as stored earlier (RecalledMemory or its `as_dict`), brought up to date
    for showing now: items the user may no longer see (or that were deleted) are dropped and
    the superseded mark is the current one. One query, none when there is nothing."""
    items = [
        item if isinstance(item, RecalledMemory) else RecalledMemory.from_dict(item)
        for item in recalled
        if isinstance(item, RecalledMemory | Mapping)
    ]
    items = [item for item in items if item is not None]
    if not items:
        return []
    allowed = visible_portfolio_ids(user)
    current = {
        row["id"]: row
        for row in MemoryItem.objects.filter(
            pk__in=[item.id for item in items], portfolio_id__in=allowed
        ).values(
            "id",
            "superseded_by_id",
            "superseded_by__source_type",
            "superseded_by__source_id",
            "portfolio__slug",
        )
    }
    fresh = []
    for item in items:
        row = current.get(item.id)
        if row is None:
            continue
        newer = row["superseded_by_id"]
        if newer == item.superseded_by_id:
            fresh.append(item)
            continue
        url = ""
        if newer is not None:
            # The decision's subject would need another query: its portfolio's log will do.
            url = source_url(
                source_type=row["superseded_by__source_type"],
                source_id=row["superseded_by__source_id"],
                portfolio_slug=row["portfolio__slug"],
            )
        fresh.append(
            RecalledMemory(
                **{
                    **{name: getattr(item, name) for name in item.__dataclass_fields__},
                    "superseded": newer is not None,
                    "superseded_by_id": newer,
                    "superseded_by_url": url,
                }
            )
        )
    return fresh


def memory_recalled_context(*, user: AnyUser, recalled: Iterable[Any]) -> dict[str, Any]:
    """Context of templates/agents/partials/memory_recalled.html: {"memories": [...]}."""
    return {"memories": memory_refresh(user=user, recalled=recalled)}
