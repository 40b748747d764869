"""Which decisions the agents remember, in what words, and which earlier memory each one
makes stale.

Remembered (decision-log kinds): a proposed reprioritization, its final approval, a
rejection, a request for changes, an escalation, a policy change, a KPI correction and a
project change: judgements someone (or a policy) made, with a rationale worth recalling
when a similar situation comes back. Not remembered: role changes and history imports
(administration, not judgement), routine KPI measurements, expiries (nobody decided), agent
runs (the run remembers its own summary and risks, see `memory_remember_run`), and
approvals that still wait for another approver (the final approval carries every
approver's comment). Entries without a portfolio are never remembered: recall is
portfolio-scoped.

A remembered recommendation is written in the words of the recommendation itself (the epics
it moves, its rationale, the approvers' comments), not the log's one-line summary, so that
its meaning is what gets embedded.

Supersession (a stale decision is marked, not silently reused):
- a proposal and its escalation are superseded by the decision that closed them (final
  approval, rejection, changes requested), or by the newer proposal that replaced them;
- an approved ranking is superseded by the next approved ranking of the portfolio;
- a policy change, KPI correction or project change is superseded by the next one of the
  same kind on the same subject.
Links are computed from the decision log in both directions, so the outcome does not depend
on the order in which tasks remember the entries.

Hooked in by a post_save receiver on DecisionLog (agents/receivers_memory.py) that enqueues
`memory_remember_decisions_task` after the commit: governance stays unaware of memory, and
an entry rolled back with its transaction is never remembered. `memory_backfill_decisions`
catches up on anything missed (a broker outage at commit time, decisions older than this
feature).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast

from agents.memory import SOURCE_DECISION_LOG, MemoryEntry, memory_remember_many
from agents.models.memory import MemoryItem, MemoryKind
from governance.models import (
    Approval,
    ApprovalDecision,
    DecisionKind,
    DecisionLog,
    Recommendation,
    RecommendationState,
)
from portfolio.models import Project
from portfolio.permissions import visible_portfolio_ids

REMEMBERED_DECISION_KINDS = frozenset(
    {
        DecisionKind.RECOMMENDATION,
        DecisionKind.APPROVAL,
        DecisionKind.REJECTION,
        DecisionKind.CHANGES_REQUEST,
        DecisionKind.ESCALATION,
        DecisionKind.POLICY_CHANGE,
        DecisionKind.KPI_CORRECTION,
        DecisionKind.PROJECT_CHANGE,
    }
)
PENDING_KINDS = (DecisionKind.RECOMMENDATION, DecisionKind.ESCALATION)
SUBJECT_CHAIN_KINDS = (
    DecisionKind.POLICY_CHANGE,
    DecisionKind.KPI_CORRECTION,
    DecisionKind.PROJECT_CHANGE,
)
MAX_MOVES_DESCRIBED = 6


def decision_is_remembered(*, kind: str, portfolio_id: int | None, outputs: Any) -> bool:
    """Whether a decision-log entry becomes a memory (see the module docstring)."""
    if portfolio_id is None or kind not in REMEMBERED_DECISION_KINDS:
        return False
    if kind == DecisionKind.APPROVAL:
        return isinstance(outputs, Mapping) and outputs.get("state") == RecommendationState.APPROVED
    return True


def _final_approval() -> Q:
    return Q(kind=DecisionKind.APPROVAL, outputs__state=RecommendationState.APPROVED)


def _closing() -> Q:
    return _final_approval() | Q(kind__in=[DecisionKind.REJECTION, DecisionKind.CHANGES_REQUEST])


def _recommendation_id(entry: DecisionLog) -> int | None:
    scope, _, ident = entry.subject.partition(":")
    return int(ident) if scope == "recommendation" and ident.isdigit() else None


# --- text ------------------------------------------------------------------------------------


def _moves(recommendation: Recommendation) -> str:
    """The biggest moves of a proposed ranking, in words ("EPIC-3 Checkout up 2 places")."""
    before = {epic["id"]: (index, epic) for index, epic in enumerate(recommendation.epic_snapshot)}
    moves = []
    for new_index, epic_id in enumerate(recommendation.proposed_ranking):
        if epic_id not in before:
            continue
        old_index, epic = before[epic_id]
        if old_index != new_index:
            moves.append((abs(old_index - new_index), old_index - new_index, epic))
    moves.sort(key=lambda move: -move[0])
    words = [
        f"{epic['key']} {epic['title']} {'up' if delta > 0 else 'down'} {size} "
        f"place{'s' if size > 1 else ''}"
        for size, delta, epic in moves[:MAX_MOVES_DESCRIBED]
    ]
    if len(moves) > MAX_MOVES_DESCRIBED:
        words.append(f"and {len(moves) - MAX_MOVES_DESCRIBED} more")
    return "; ".join(words)


def _sentence(text: str) -> str:
    text = " ".join((text or "").split())
    return text if not text or text[-1] in ".!?" else text + "."


def decision_text(
    entry: DecisionLog,
    *,
    recommendation: Recommendation | None = None,
    comments: Iterable[str] = (),
) -> str:
    """The words a decision is remembered by."""
    kind = entry.kind
    if recommendation is not None and kind in (
        DecisionKind.RECOMMENDATION,
        DecisionKind.APPROVAL,
        DecisionKind.REJECTION,
        DecisionKind.CHANGES_REQUEST,
        DecisionKind.ESCALATION,
    ):
        moves = _moves(recommendation)
        what = f"reprioritization of the epics (recommendation #{recommendation.pk})"
        if moves:
            what += f": {moves}"
        argued = _sentence(recommendation.rationale)
        impact = _sentence(recommendation.expected_impact)
        parts = {
            DecisionKind.RECOMMENDATION: [
                f"Proposed {what}.",
                f"Rationale: {argued}",
                f"Expected impact: {impact}" if impact else "",
            ],
            DecisionKind.APPROVAL: [
                f"Approved {what}.",
                f"Rationale: {argued}",
                "Approvers' comments: " + " ".join(_sentence(c) for c in comments)
                if comments
                else "",
            ],
            DecisionKind.REJECTION: [
                f"Rejected {what}.",
                f"Reason: {_sentence(entry.rationale)}",
                f"The proposal argued: {argued}",
            ],
            DecisionKind.CHANGES_REQUEST: [
                f"Requested changes to {what}.",
                f"Reason: {_sentence(entry.rationale)}",
                f"The proposal argued: {argued}",
            ],
            DecisionKind.ESCALATION: [
                f"Escalated to the executives: {what}.",
                f"Why: {_sentence(entry.rationale)}",
                f"The proposal argued: {argued}",
            ],
        }[DecisionKind(kind)]
        return " ".join(part for part in parts if part)
    label = DecisionKind(kind).label if kind in DecisionKind.values else kind
    return " ".join(
        part
        for part in (f"{label}: {_sentence(entry.summary)}", _sentence(entry.rationale))
        if part
    )


# --- remember --------------------------------------------------------------------------------


def _context(entries: list[DecisionLog]) -> tuple[dict[int, Recommendation], dict[int, list]]:
    """The recommendations the entries are about, and the approval comments of each."""
    ids = {pk for pk in map(_recommendation_id, entries) if pk is not None}
    recommendations = Recommendation.objects.in_bulk(ids) if ids else {}
    comments: dict[int, list[str]] = defaultdict(list)
    if any(entry.kind == DecisionKind.APPROVAL for entry in entries):
        for recommendation_id, comment in (
            Approval.objects.filter(recommendation_id__in=ids, decision=ApprovalDecision.APPROVE)
            .order_by("created_at", "id")
            .values_list("recommendation_id", "comment")
        ):
            comments[recommendation_id].append(comment)
    return recommendations, comments


def _projects(entries: list[DecisionLog]) -> dict[tuple[int, str], int]:
    keys = {
        (entry.portfolio_id, entry.subject.partition(":")[2])
        for entry in entries
        if entry.subject.startswith("project:")
    }
    if not keys:
        return {}
    condition = Q(pk__in=[])
    for portfolio_id, key in keys:
        condition |= Q(portfolio_id=portfolio_id, key=key)
    return {
        (portfolio_id, key): pk
        for pk, portfolio_id, key in Project.objects.filter(condition).values_list(
            "pk", "portfolio_id", "key"
        )
    }


def memory_remember_decisions(decision_ids: Iterable[int]) -> list[MemoryItem]:
    """Remember these decision-log entries (those worth it; others are skipped), in one
    embedding batch, and mark what they supersede. Idempotent. Runs in a Celery task."""
    entries = [
        entry
        for entry in DecisionLog.objects.filter(
            pk__in=list(decision_ids), kind__in=REMEMBERED_DECISION_KINDS
        ).order_by("pk")
        if decision_is_remembered(
            kind=entry.kind, portfolio_id=entry.portfolio_id, outputs=entry.outputs
        )
    ]
    if not entries:
        return []
    recommendations, comments = _context(entries)
    projects = _projects(entries)
    memory = []
    for entry in entries:
        recommendation_id = _recommendation_id(entry)
        recommendation = recommendations.get(recommendation_id) if recommendation_id else None
        memory.append(
            MemoryEntry(
                portfolio_id=entry.portfolio_id,
                project_id=projects.get((entry.portfolio_id, entry.subject.partition(":")[2]))
                if entry.subject.startswith("project:")
                else None,
                kind=MemoryKind.DECISION,
                text=decision_text(
                    entry,
                    recommendation=recommendation,
                    comments=comments.get(recommendation_id or 0, ()),
                ),
                source_type=SOURCE_DECISION_LOG,
                source_id=str(entry.pk),
                created_at=entry.created_at,
            )
        )
    items = memory_remember_many(memory)
    _link_supersessions(entries, recommendations)
    return items


def _supersession_links(
    entry: DecisionLog, recommendations: Mapping[int, Recommendation]
) -> set[tuple[int, int]]:
    """(older entry id, newer entry id) pairs involving `entry`, in both directions."""
    same = DecisionLog.objects.filter(portfolio_id=entry.portfolio_id)
    links: set[tuple[int, int]] = set()
    recommendation_id = _recommendation_id(entry)
    if entry.kind in PENDING_KINDS and recommendation_id is not None:
        closer = (
            same.filter(_closing(), subject=entry.subject, pk__gt=entry.pk).order_by("pk").first()
        )
        if closer is not None:
            links.add((entry.pk, closer.pk))
        recommendation = recommendations.get(recommendation_id)
        if recommendation is not None and recommendation.superseded_by_id is not None:
            newer = (
                same.filter(
                    kind=DecisionKind.RECOMMENDATION,
                    subject=f"recommendation:{recommendation.superseded_by_id}",
                )
                .order_by("pk")
                .first()
            )
            if newer is not None:
                links.add((entry.pk, newer.pk))
        if entry.kind == DecisionKind.RECOMMENDATION:
            replaced = [
                f"recommendation:{pk}"
                for pk in (entry.outputs or {}).get("supersedes") or []
                if isinstance(pk, int)
            ]
            for older in same.filter(kind__in=PENDING_KINDS, subject__in=replaced, pk__lt=entry.pk):
                links.add((older.pk, entry.pk))
    if entry.kind in (DecisionKind.REJECTION, DecisionKind.CHANGES_REQUEST) or (
        entry.kind == DecisionKind.APPROVAL
    ):
        for older in same.filter(kind__in=PENDING_KINDS, subject=entry.subject, pk__lt=entry.pk):
            links.add((older.pk, entry.pk))
    if entry.kind == DecisionKind.APPROVAL:
        approvals = same.filter(_final_approval())
        previous = approvals.filter(pk__lt=entry.pk).order_by("-pk").first()
        following = approvals.filter(pk__gt=entry.pk).order_by("pk").first()
        if previous is not None:
            links.add((previous.pk, entry.pk))
        if following is not None:
            links.add((entry.pk, following.pk))
    if entry.kind in SUBJECT_CHAIN_KINDS:
        chain = same.filter(kind=entry.kind, subject=entry.subject)
        previous = chain.filter(pk__lt=entry.pk).order_by("-pk").first()
        following = chain.filter(pk__gt=entry.pk).order_by("pk").first()
        if previous is not None:
            links.add((previous.pk, entry.pk))
        if following is not None:
            links.add((entry.pk, following.pk))
    return links


def _link_supersessions(
    entries: list[DecisionLog], recommendations: Mapping[int, Recommendation]
) -> None:
    links: set[tuple[int, int]] = set()
    for entry in entries:
        links |= _supersession_links(entry, recommendations)
    if not links:
        return
    involved = {str(pk) for link in links for pk in link}
    items = {
        int(source_id): pk
        for pk, source_id in MemoryItem.objects.filter(
            source_type=SOURCE_DECISION_LOG, source_id__in=involved, kind=MemoryKind.DECISION
        ).values_list("pk", "source_id")
    }
    by_newer: dict[int, list[int]] = defaultdict(list)
    for older, newer in links:
        if older in items and newer in items:
            by_newer[items[newer]].append(items[older])
    for newer_item, older_items in by_newer.items():
        MemoryItem.objects.filter(pk__in=older_items, superseded_by__isnull=True).exclude(
            pk=newer_item
        ).update(superseded_by_id=newer_item)


def decision_memory_of_recommendation(*, user: Any, recommendation_id: int) -> MemoryItem | None:
    """The memory of a recommendation's proposal, if remembered and the user may see its
    portfolio (one query)."""
    proposal = DecisionLog.objects.filter(
        kind=DecisionKind.RECOMMENDATION, subject=f"recommendation:{int(recommendation_id)}"
    ).annotate(text_id=Cast("pk", CharField()))
    return (
        MemoryItem.objects.filter(
            source_type=SOURCE_DECISION_LOG,
            kind=MemoryKind.DECISION,
            source_id__in=proposal.values("text_id"),
            portfolio_id__in=visible_portfolio_ids(user),
        )
        .only("id", "portfolio_id")
        .first()
    )


def decisions_not_remembered(*, limit: int = 500) -> list[int]:
    """Ids of remembered-kind entries that have no memory yet, oldest first."""
    remembered = MemoryItem.objects.filter(
        source_type=SOURCE_DECISION_LOG, source_id=OuterRef("text_id"), kind=MemoryKind.DECISION
    )
    candidates = (
        DecisionLog.objects.filter(kind__in=REMEMBERED_DECISION_KINDS, portfolio__isnull=False)
        .exclude(Q(kind=DecisionKind.APPROVAL) & ~_final_approval())
        .annotate(text_id=Cast("pk", CharField()))
        .filter(~Exists(remembered))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return list(candidates[:limit])


def memory_backfill_decisions(*, limit: int = 500) -> int:
    """Remember up to `limit` decisions that were missed; returns how many were remembered.
    Idempotent: run it periodically, or once after installing the agents."""
    ids = decisions_not_remembered(limit=limit)
    return len(memory_remember_decisions(ids)) if ids else 0
