"""The tamper-evident decision log: canonical form, hash chain, append and verification.

Chains
    Entries are chained per portfolio; entries without a portfolio form one "global" chain.
    In each chain `sequence` runs 1, 2, 3, ... and every entry stores the `entry_hash` of the
    entry before it as `previous_hash` (GENESIS_HASH, 64 zeros, for the first).

Canonical form (what `entry_hash` is the SHA-256 of, as UTF-8 bytes)
    A JSON object with exactly these keys: actor_id, actor_label, confidence, created_at,
    inputs, kind, outputs, policy_verdicts, portfolio_id, previous_hash, rationale, subject,
    summary. Serialized with sorted keys at every level, no whitespace (separators "," and
    ":"), non-ASCII characters as themselves (not \\u escapes), no NaN or Infinity.
    - created_at: ISO 8601 in UTC with microseconds and a Z: 2026-01-05T09:00:00.000000Z;
    - confidence: a decimal string with three places ("0.650") or null;
    - inside inputs / outputs / policy_verdicts: decimals as strings (str(Decimal)),
      datetimes as created_at, dates as YYYY-MM-DD, tuples as lists, dictionary keys as
      strings, and floats with an integral value as integers (2.0 -> 2), so that a value reads
      back from PostgreSQL's jsonb exactly as it was hashed. `decision_record` stores these
      normalized values, so what the table holds is what was hashed.
    `sequence` and the row id are not hashed: they are positions, proven by the links (a
    reordering is then reported as such, not as a content change).

Concurrency
    `decision_record` takes a transaction-level advisory lock keyed by the chain before it
    reads the chain's last entry, so two writers of one chain queue instead of both appending
    after the same entry (a fork); the lock is released when the caller's transaction ends.
    A unique (portfolio, sequence) constraint backs this up.

Append-only
    Migration 0004 adds triggers that refuse UPDATE and DELETE on the table for every role,
    and TRUNCATE for roles that are not superusers (Django's test flush and `manage.py flush`
    run as a superuser, who could disable the triggers anyway). What a hash chain alone cannot
    show is the loss of the newest entries of a chain (or of a whole chain): auditors keep the
    head hash each verification reports (and each export carries) and compare it later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from governance.models import GENESIS_HASH, DecisionKind, DecisionLog
from portfolio.models import Portfolio

CONFIDENCE_PLACES = Decimal("0.001")

HASHED_FIELDS = (
    "portfolio_id",
    "kind",
    "actor_id",
    "actor_label",
    "subject",
    "summary",
    "rationale",
    "inputs",
    "outputs",
    "confidence",
    "policy_verdicts",
    "created_at",
    "previous_hash",
)
"""The model fields the canonical form covers (see the module docstring)."""

PUBLISHED_FIELDS = ("id", HASHED_FIELDS[0], "sequence", *HASHED_FIELDS[1:], "entry_hash")
"""Every stored field of an entry, in the order exports and the API publish them: the hashed
fields plus the positions (id, sequence) and the entry's own hash, so an auditor can recompute
each hash from an export alone."""

CHAIN_LOCK_NAMESPACE = "pmo.decision_log:"


# --- canonical form --------------------------------------------------------------------------


def canonical_timestamp(value: dt.datetime) -> str:
    """ISO 8601, UTC, microseconds, Z: one spelling per instant."""
    if timezone.is_naive(value):
        raise ValueError("Decision log timestamps must be timezone-aware.")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_value(value: Any) -> Any:
    """`value` as plain JSON types that survive a round trip through jsonb unchanged."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be stored in the decision log.")
        return int(value) if value.is_integer() else value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be stored in the decision log.")
        return str(value)
    if isinstance(value, dt.datetime):
        return canonical_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): canonical_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_value(item) for item in value]
    raise TypeError(f"{type(value).__name__} cannot be stored in the decision log.")


def canonical_confidence(value: Decimal | float | str | None) -> Decimal | None:
    """A confidence as the table stores it (three decimal places), checked to be in 0..1."""
    if value is None:
        return None
    try:
        number = Decimal(str(value)).quantize(CONFIDENCE_PLACES, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise ValueError(f"Confidence {value!r} is not a number.") from None
    if not Decimal(0) <= number <= Decimal(1):
        raise ValueError(f"Confidence {value} is not between 0 and 1.")
    return number


def canonical_entry(fields: Mapping[str, Any]) -> bytes:
    """The bytes `entry_hash` is computed over, from the HASHED_FIELDS of one entry."""
    confidence = fields["confidence"]
    document = {
        "portfolio_id": fields["portfolio_id"],
        "kind": str(fields["kind"]),
        "actor_id": fields["actor_id"],
        "actor_label": fields["actor_label"],
        "subject": fields["subject"],
        "summary": fields["summary"],
        "rationale": fields["rationale"],
        "inputs": canonical_value(fields["inputs"]),
        "outputs": canonical_value(fields["outputs"]),
        "confidence": None if confidence is None else f"{Decimal(confidence):.3f}",
        "policy_verdicts": canonical_value(fields["policy_verdicts"]),
        "created_at": canonical_timestamp(fields["created_at"]),
        "previous_hash": fields["previous_hash"],
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def entry_hash_of(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_entry(fields)).hexdigest()


def snapshot_hash(value: Any) -> str:
    """SHA-256 of any JSON-able input snapshot, in the same canonical JSON spelling."""
    text = json.dumps(
        canonical_value(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- append ----------------------------------------------------------------------------------


def _lock_chain(portfolio_id: int | None) -> None:
    """Queue behind any other writer of this chain until the current transaction ends."""
    key = CHAIN_LOCK_NAMESPACE + ("global" if portfolio_id is None else str(portfolio_id))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def decision_record(
    *,
    kind: DecisionKind | str,
    actor: AbstractBaseUser | None,
    summary: str,
    subject: str,
    portfolio: Portfolio | None,
    actor_label: str | None = None,
    rationale: str = "",
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    confidence: Decimal | float | str | None = None,
    policy_verdicts: Iterable[Mapping[str, Any]] | None = None,
) -> DecisionLog:
    """Append one entry to its portfolio's chain. Call it inside the transaction of the change,
    so that the change and its record commit together (it opens one if there is none).

    The chain stays locked until that transaction ends: keep the call near its end.
    """
    if actor_label is None:
        actor_label = actor.get_username() if actor is not None else "system"
    portfolio_id = None if portfolio is None else portfolio.pk
    entry = DecisionLog(
        portfolio_id=portfolio_id,
        kind=str(kind),
        actor=actor,
        actor_label=actor_label[:200],
        subject=subject[:200],
        summary=summary[:500],
        rationale=rationale,
        inputs=canonical_value(dict(inputs or {})),
        outputs=canonical_value(dict(outputs or {})),
        confidence=canonical_confidence(confidence),
        policy_verdicts=canonical_value(list(policy_verdicts or [])),
    )
    with transaction.atomic(savepoint=False):
        _lock_chain(portfolio_id)
        last = (
            DecisionLog.objects.filter(portfolio_id=portfolio_id)
            .order_by("-sequence")
            .values_list("sequence", "entry_hash")
            .first()
        )
        entry.sequence, entry.previous_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        # Timestamped under the lock, so that time never goes backwards along a chain.
        entry.created_at = timezone.now()
        entry.entry_hash = entry_hash_of(_fields_of(entry))
        entry.save(force_insert=True)
    return entry


def _fields_of(entry: DecisionLog) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


# --- verification ----------------------------------------------------------------------------


class Problem:
    CONTENT_CHANGED = "content_changed"
    MISSING_ENTRY = "missing_entry"
    REORDERED = "reordered"
    DUPLICATE = "duplicate_sequence"


@dataclass(frozen=True)
class ChainFault:
    """The first entry of a chain that does not verify, and why."""

    entry_id: int
    sequence: int
    problem: str
    message: str


@dataclass(frozen=True)
class ChainVerification:
    """The outcome of recomputing one chain."""

    portfolio_id: int | None
    entries: int
    head_sequence: int
    head_hash: str
    fault: ChainFault | None

    @property
    def ok(self) -> bool:
        return self.fault is None


class _ChainChecker:
    """Walks one chain in sequence order and keeps the first fault."""

    def __init__(self, portfolio_id: int | None) -> None:
        self.portfolio_id = portfolio_id
        self.entries = 0
        self.expected_sequence = 1
        self.previous_id: int | None = None
        self.previous_hash = GENESIS_HASH
        self.fault: ChainFault | None = None

    def feed(self, entry_id: int, sequence: int, stored_hash: str, fields: dict[str, Any]) -> None:
        self.entries += 1
        if self.fault is None:
            self.fault = self._check(entry_id, sequence, stored_hash, fields)
        self.expected_sequence = sequence + 1
        self.previous_id = entry_id
        self.previous_hash = stored_hash

    def _check(
        self, entry_id: int, sequence: int, stored_hash: str, fields: dict[str, Any]
    ) -> ChainFault | None:
        where = f"entry #{entry_id} (sequence {sequence})"
        if entry_hash_of(fields) != stored_hash:
            return ChainFault(
                entry_id,
                sequence,
                Problem.CONTENT_CHANGED,
                f"{where}: content changed: its fields no longer hash to its entry_hash",
            )
        if sequence > self.expected_sequence:
            missing = (
                f"sequence {self.expected_sequence}"
                if sequence == self.expected_sequence + 1
                else f"sequences {self.expected_sequence} to {sequence - 1}"
            )
            return ChainFault(
                entry_id,
                sequence,
                Problem.MISSING_ENTRY,
                f"{where}: missing entry: sequence gap, {missing} not found (deleted)",
            )
        if sequence < self.expected_sequence:
            return ChainFault(
                entry_id,
                sequence,
                Problem.DUPLICATE,
                f"{where}: sequence {sequence} appears twice in the chain",
            )
        if fields["previous_hash"] != self.previous_hash:
            before = (
                "the start of the chain"
                if self.previous_id is None
                else f"entry #{self.previous_id} (sequence {sequence - 1})"
            )
            return ChainFault(
                entry_id,
                sequence,
                Problem.REORDERED,
                f"{where}: reordered: its previous_hash does not match {before}; entries were "
                "reordered, replaced, or the entry before it rewritten",
            )
        return None

    def result(self) -> ChainVerification:
        return ChainVerification(
            portfolio_id=self.portfolio_id,
            entries=self.entries,
            head_sequence=self.expected_sequence - 1,
            head_hash=self.previous_hash,
            fault=self.fault,
        )


def _rows(portfolio_ids: Iterable[int | None] | None) -> Iterator[tuple]:
    """Every entry of the chains, streamed from a server-side cursor in chain order."""
    queryset = DecisionLog.objects.all()
    if portfolio_ids is not None:
        ids = list(portfolio_ids)
        condition = Q(portfolio_id__in=[pk for pk in ids if pk is not None])
        if None in ids:
            condition |= Q(portfolio_id__isnull=True)
        queryset = queryset.filter(condition)
    return (
        queryset.order_by("portfolio_id", "sequence", "id")
        .values_list("id", "sequence", "entry_hash", *HASHED_FIELDS)
        .iterator(chunk_size=2000)
    )


def chains_verify(
    *, portfolio_ids: Iterable[int | None] | None = None
) -> dict[int | None, ChainVerification]:
    """Recompute the chains of these portfolios (None: the global chain; no argument: every
    chain), in one streamed query. A requested chain without entries verifies, empty."""
    requested = None if portfolio_ids is None else list(portfolio_ids)
    results: dict[int | None, ChainVerification] = {}
    checker: _ChainChecker | None = None
    for row in _rows(requested):
        entry_id, sequence, stored_hash, *values = row
        fields = dict(zip(HASHED_FIELDS, values, strict=True))
        if checker is None or checker.portfolio_id != fields["portfolio_id"]:
            if checker is not None:
                results[checker.portfolio_id] = checker.result()
            checker = _ChainChecker(fields["portfolio_id"])
        checker.feed(entry_id, sequence, stored_hash, fields)
    if checker is not None:
        results[checker.portfolio_id] = checker.result()
    for portfolio_id in requested or []:
        results.setdefault(portfolio_id, _ChainChecker(portfolio_id).result())
    return results


def export_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One entry as exported for auditors: every hashed field in its canonical spelling, plus
    id, portfolio slug, sequence and entry_hash, so the hash can be recomputed outside."""
    confidence = entry["confidence"]
    return {
        "id": entry["id"],
        "portfolio_id": entry["portfolio_id"],
        "portfolio": entry.get("portfolio_slug"),
        "sequence": entry["sequence"],
        "kind": entry["kind"],
        "actor_id": entry["actor_id"],
        "actor_label": entry["actor_label"],
        "subject": entry["subject"],
        "summary": entry["summary"],
        "rationale": entry["rationale"],
        "inputs": canonical_value(entry["inputs"]),
        "outputs": canonical_value(entry["outputs"]),
        "confidence": None if confidence is None else f"{Decimal(confidence):.3f}",
        "policy_verdicts": canonical_value(entry["policy_verdicts"]),
        "created_at": canonical_timestamp(entry["created_at"]),
        "previous_hash": entry["previous_hash"],
        "entry_hash": entry["entry_hash"],
    }
