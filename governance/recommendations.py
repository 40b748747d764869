"""Recommendations and approvals: a proposed new ranking of a portfolio's epics, decided by
the portfolio's executives, applied atomically with its decision-log entry.

State machine (PENDING_STATES = proposed, escalated; every other state is final):

    proposed  --approve (all approvals in)--> approved   (the ranking is applied)
    proposed  --approve (1 of 2)-----------> proposed    (a second approver is needed)
    proposed  --reject---------------------> rejected
    proposed  --request changes------------> changes_requested
    (proposal) --policy needs an executive-> escalated   (approve / reject / request
                                                           changes as from proposed)
    proposed | escalated --newer proposal--> superseded  (same portfolio)
    proposed | escalated --past expires_at-> expired     (`recommendation_expire_due`, or
                                                           the first decision attempted)

Rules:
- Separation of duties: whoever proposed (the user, or the user who started the agent) can
  never decide on it; deciding takes the approve right on the portfolio; an escalated one
  needs a holder of the Executive role there.
- Policies are evaluated at proposal (a block refuses the proposal) and again at approval on
  the epics as they are then (a block refuses the approval; a second-review or executive
  requirement that appeared since applies).
- Approving applies the ranking only if the portfolio's epics are still exactly the snapshot,
  in the same order (else the recommendation is stale: RecommendationConflict).
- Writers of one portfolio are serialized by a row lock on the portfolio, then the
  recommendation row is locked and its state and version checked: two executives acting at
  once produce exactly one outcome; the other gets RecommendationConflict (HTTP 409).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from governance.decision_log import canonical_confidence, decision_record, snapshot_hash
from governance.models import (
    PENDING_STATES,
    Approval,
    ApprovalDecision,
    DecisionKind,
    Recommendation,
    RecommendationKind,
    RecommendationState,
    RoleAssignment,
)
from governance.policies import EpicPosition, Evaluation, Outcome, recommendation_evaluate
from governance.roles import Role
from portfolio.models import Epic, Portfolio
from portfolio.permissions import PortfolioPermission, has_portfolio_permission

RECOMMENDATION_LIFETIME = dt.timedelta(days=14)
MAX_EVIDENCE_LINKS = 20


class RecommendationConflict(Exception):
    """The recommendation's current state does not allow the action: already decided, changed
    since the caller read it, expired, stale, or blocked by a policy. Nothing was changed
    (except an expiry, which is recorded). The API answers 409."""


@dataclass(frozen=True)
class RankingRow:
    """One epic in a ranking diff: its place before and after."""

    epic_id: int
    key: str
    title: str
    status: str
    current_position: int
    proposed_position: int

    @property
    def moved(self) -> int:
        """Places moved: positive is up (towards rank 1), negative down."""
        return self.current_position - self.proposed_position

    @property
    def moved_up(self) -> int:
        return max(self.moved, 0)

    @property
    def moved_down(self) -> int:
        return max(-self.moved, 0)


def ranking_diff(recommendation: Recommendation) -> list[RankingRow]:
    """The proposed ranking against the snapshot, in proposed order (no query)."""
    snapshot = recommendation.epic_snapshot
    before = {epic["id"]: (index + 1, epic) for index, epic in enumerate(snapshot)}
    rows = []
    for index, epic_id in enumerate(recommendation.proposed_ranking):
        position, epic = before[epic_id]
        rows.append(
            RankingRow(
                epic_id=epic_id,
                key=epic["key"],
                title=epic["title"],
                status=epic["status"],
                current_position=position,
                proposed_position=index + 1,
            )
        )
    return rows


# --- helpers ---------------------------------------------------------------------------------


def _epic_snapshot(portfolio: Portfolio, *, lock: bool) -> list[dict[str, Any]]:
    """The portfolio's epics in backlog order, as a recommendation freezes them."""
    queryset = Epic.objects.filter(portfolio=portfolio).order_by("rank", "id")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    return [
        {
            "id": epic.id,
            "key": epic.key,
            "title": epic.title,
            "status": epic.status,
            "rank": epic.rank,
        }
        for epic in queryset
    ]


def _positions(snapshot: Iterable[Mapping[str, Any]]) -> list[EpicPosition]:
    return [EpicPosition(epic["id"], epic["key"], epic["status"]) for epic in snapshot]


def _lock_portfolio(portfolio: Portfolio) -> None:
    """Serialize the recommendation writers of one portfolio. FOR NO KEY UPDATE, so rows that
    merely reference the portfolio (decision-log entries, projects) can still be inserted."""
    Portfolio.objects.select_for_update(no_key=True).filter(pk=portfolio.pk).values_list(
        "pk", flat=True
    ).get()


_url_validator = URLValidator(schemes=["http", "https"])


def evidence_clean(evidence: Iterable[Any]) -> list[dict[str, str]]:
    """Evidence links as stored: [{label, url}], each url absolute (http/https) or a path of
    this site ("/projects/PAY/"); the label defaults to the url. Raises ValidationError."""
    links = []
    for number, item in enumerate(evidence, start=1):
        if isinstance(item, Mapping):
            label, url = str(item.get("label") or "").strip(), str(item.get("url") or "").strip()
        else:
            label, url = "", str(item).strip()
        if not url:
            raise ValidationError(f"Evidence link {number} has no URL.")
        if url.startswith("/") and not url.startswith("//"):
            if any(character.isspace() for character in url):
                raise ValidationError(f"Evidence link {number}: {url!r} is not a valid path.")
        else:
            try:
                _url_validator(url)
            except ValidationError:
                raise ValidationError(
                    f"Evidence link {number}: {url!r} is not an http(s) URL or a path of this "
                    "site such as /projects/PAY/."
                ) from None
        if len(url) > 500 or len(label) > 200:
            raise ValidationError(f"Evidence link {number} is too long.")
        links.append({"label": label or url, "url": url})
    if len(links) > MAX_EVIDENCE_LINKS:
        raise ValidationError(f"Cite at most {MAX_EVIDENCE_LINKS} evidence links.")
    return links


def _block_errors(evaluation: Evaluation) -> ValidationError:
    errors: dict[str, list[str]] = {}
    for verdict in evaluation.blocks:
        errors.setdefault(verdict.field or NON_FIELD_ERRORS, []).append(
            f"Blocked by policy: {verdict.reason}"
        )
    return ValidationError(errors)


def _holds_executive_role(user: AbstractBaseUser, portfolio: Portfolio) -> bool:
    return RoleAssignment.objects.filter(
        user=user, role=Role.EXECUTIVE, portfolio=portfolio
    ).exists()


def _subject(recommendation: Recommendation) -> str:
    return f"recommendation:{recommendation.pk}"


# --- propose ---------------------------------------------------------------------------------


def recommendation_propose(
    *,
    portfolio: Portfolio,
    proposed_ranking: Sequence[int],
    rationale: str,
    confidence: Decimal | float | str,
    evidence: Iterable[Any] = (),
    expected_impact: str = "",
    actor: AbstractBaseUser | None = None,
    agent_label: str | None = None,
    agent_provider: str | None = None,
    expected_current: Sequence[int] | None = None,
) -> Recommendation:
    """Propose a new ranking of the portfolio's epics (all of them, first = rank 1).

    A person proposes with `actor` (needs the change right on the portfolio: a PMO leader).
    An agent proposes with `agent_label` (provider / model / prompt version) and
    `agent_provider`, and `actor` = the user who started it, if any: that user may not
    decide on it either. `expected_current` is the ranking the proposer saw; if the epics
    moved since, the proposal is refused rather than built on a ranking nobody reviewed.

    Supersedes the portfolio's pending recommendations. Raises PermissionDenied, or
    ValidationError keyed by field (rationale, confidence, evidence, proposed_ranking) with
    nothing written; a policy block is such a ValidationError too.
    """
    if actor is None and not agent_label:
        raise ValueError("A recommendation is proposed by a user (actor) or an agent_label.")
    if actor is not None and not has_portfolio_permission(
        actor, PortfolioPermission.CHANGE, portfolio
    ):
        raise PermissionDenied("Only a PMO leader of this portfolio may propose a ranking.")
    errors: dict[str, Any] = {}
    rationale = (rationale or "").strip()
    if not rationale:
        errors["rationale"] = "Explain why: a rationale is required."
    try:
        confidence_value = canonical_confidence(confidence)
    except ValueError:
        confidence_value = None
    if confidence_value is None:
        errors["confidence"] = "Enter a confidence between 0 and 1, e.g. 0.7."
    try:
        links = evidence_clean(evidence)
    except ValidationError as error:
        errors["evidence"] = error.messages
    try:
        proposed = [int(epic_id) for epic_id in proposed_ranking]
    except (TypeError, ValueError):
        errors["proposed_ranking"] = "List epic ids (whole numbers)."
    if errors:
        raise ValidationError(errors)
    assert confidence_value is not None

    with transaction.atomic():
        _lock_portfolio(portfolio)
        snapshot = _epic_snapshot(portfolio, lock=True)
        current = [epic["id"] for epic in snapshot]
        if expected_current is not None and [int(pk) for pk in expected_current] != current:
            raise ValidationError(
                {
                    "proposed_ranking": "The portfolio's ranking changed while you edited it; "
                    "review the current ranking and propose again."
                }
            )
        if len(set(proposed)) != len(proposed) or set(proposed) != set(current):
            raise ValidationError(
                {"proposed_ranking": "Rank every epic of the portfolio exactly once."}
            )
        if proposed == current:
            raise ValidationError(
                {"proposed_ranking": "This is the current ranking: move at least one epic."}
            )
        evaluation = recommendation_evaluate(
            portfolio=portfolio,
            current=_positions(snapshot),
            proposed_ids=proposed,
            confidence=confidence_value,
            evidence_count=len(links),
            provider=agent_provider,
        )
        if evaluation.blocked:
            raise _block_errors(evaluation)
        now = timezone.now()
        escalated = evaluation.executive_required
        recommendation = Recommendation.objects.create(
            portfolio=portfolio,
            kind=RecommendationKind.REPRIORITIZATION,
            state=RecommendationState.ESCALATED if escalated else RecommendationState.PROPOSED,
            proposed_by=actor,
            agent_label=agent_label or "",
            epic_snapshot=snapshot,
            snapshot_hash=snapshot_hash(snapshot),
            proposed_ranking=proposed,
            rationale=rationale,
            evidence=links,
            expected_impact=(expected_impact or "").strip(),
            confidence=confidence_value,
            policy_verdicts=evaluation.as_list(),
            required_approvals=evaluation.approvals_required,
            executive_required=escalated,
            created_at=now,
            expires_at=now + RECOMMENDATION_LIFETIME,
        )
        superseded = list(
            Recommendation.objects.select_for_update(of=("self",))
            .filter(portfolio=portfolio, state__in=PENDING_STATES)
            .exclude(pk=recommendation.pk)
            .values_list("pk", flat=True)
        )
        Recommendation.objects.filter(pk__in=superseded).update(
            state=RecommendationState.SUPERSEDED,
            superseded_by=recommendation,
            decided_at=now,
            version=F("version") + 1,
        )
        moves = recommendation.moved_count
        decision_record(
            kind=DecisionKind.RECOMMENDATION,
            actor=actor,
            actor_label=agent_label or None,
            portfolio=portfolio,
            subject=_subject(recommendation),
            summary=f"Proposed a reprioritization of {portfolio.name}: {moves} of "
            f"{len(proposed)} epics change place",
            rationale=rationale,
            inputs={
                "epic_snapshot_sha256": recommendation.snapshot_hash,
                "current_ranking": current,
                "evidence": links,
                "agent_provider": agent_provider,
            },
            outputs={
                "recommendation_id": recommendation.pk,
                "proposed_ranking": proposed,
                "expected_impact": recommendation.expected_impact,
                "state": recommendation.state,
                "required_approvals": recommendation.required_approvals,
                "supersedes": superseded,
            },
            confidence=confidence_value,
            policy_verdicts=evaluation.as_list(),
        )
        if escalated:
            reasons = [v for v in evaluation.verdicts if v.outcome == Outcome.NEEDS_EXECUTIVE]
            decision_record(
                kind=DecisionKind.ESCALATION,
                actor=None,
                actor_label="policy",
                portfolio=portfolio,
                subject=_subject(recommendation),
                summary=f"Escalated recommendation #{recommendation.pk} to the executives of "
                f"{portfolio.name}",
                rationale=" ".join(verdict.reason for verdict in reasons),
                inputs={"recommendation_id": recommendation.pk},
                outputs={"state": recommendation.state},
                policy_verdicts=[verdict.as_dict() for verdict in reasons],
            )
    return recommendation


# --- decide ----------------------------------------------------------------------------------


def recommendation_approve(
    *,
    actor: AbstractBaseUser,
    recommendation: Recommendation,
    comment: str,
    version: int | None = None,
) -> Recommendation:
    """Approve; with every required approval in, apply the ranking (see the module doc)."""
    return recommendation_decide(
        actor=actor,
        recommendation=recommendation,
        decision=ApprovalDecision.APPROVE,
        comment=comment,
        version=version,
    )


def recommendation_reject(
    *,
    actor: AbstractBaseUser,
    recommendation: Recommendation,
    comment: str,
    version: int | None = None,
) -> Recommendation:
    return recommendation_decide(
        actor=actor,
        recommendation=recommendation,
        decision=ApprovalDecision.REJECT,
        comment=comment,
        version=version,
    )


def recommendation_request_changes(
    *,
    actor: AbstractBaseUser,
    recommendation: Recommendation,
    comment: str,
    version: int | None = None,
) -> Recommendation:
    return recommendation_decide(
        actor=actor,
        recommendation=recommendation,
        decision=ApprovalDecision.REQUEST_CHANGES,
        comment=comment,
        version=version,
    )


def decision_refusal(*, user: AbstractBaseUser, recommendation: Recommendation) -> str | None:
    """Why this user may not decide on this recommendation (None: they may, as far as rights
    go). The services enforce the same rules; pages use it to hide the forms."""
    if recommendation.proposed_by_id is not None and recommendation.proposed_by_id == user.pk:
        return (
            "You proposed this recommendation: someone else must decide on it "
            "(separation of duties)."
        )
    if not has_portfolio_permission(
        user, PortfolioPermission.APPROVE_PRIORITIZATION, recommendation.portfolio
    ):
        return "Only an executive of this portfolio may decide on its recommendations."
    return None


def recommendation_decide(
    *,
    actor: AbstractBaseUser,
    recommendation: Recommendation,
    decision: str,
    comment: str,
    version: int | None = None,
) -> Recommendation:
    """Approve, reject or request changes, with a required comment.

    Raises PermissionDenied (the proposer, or no approve right), ValidationError (no
    comment, unknown decision), or RecommendationConflict (not pending any more, changed
    since `version`, expired, stale, blocked by a policy, or already approved by this user).
    """
    refusal = decision_refusal(user=actor, recommendation=recommendation)
    if refusal is not None:
        raise PermissionDenied(refusal)
    if decision not in ApprovalDecision.values:
        raise ValidationError({"decision": "Choose approve, reject or request changes."})
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError({"comment": "Explain your decision: a comment is required."})

    expired_at = None
    with transaction.atomic():
        _lock_portfolio(recommendation.portfolio)
        locked = (
            Recommendation.objects.select_for_update(of=("self",))
            .select_related("portfolio")
            .get(pk=recommendation.pk)
        )
        if not locked.pending:
            raise RecommendationConflict(
                f"This recommendation is already {locked.get_state_display().lower()}; "
                "nothing was changed."
            )
        if version is not None and version != locked.version:
            raise RecommendationConflict(
                "This recommendation changed since you opened it (another decision was "
                "recorded); review it again."
            )
        now = timezone.now()
        if locked.expires_at <= now:
            _expire(locked, now=now)
            expired_at = locked.expires_at
        elif Approval.objects.filter(recommendation=locked, approver=actor).exists():
            raise RecommendationConflict(
                "You already approved this recommendation; it needs another approver."
            )
        elif decision == ApprovalDecision.APPROVE:
            _approve(actor, locked, comment, now=now)
        else:
            _close(actor, locked, decision, comment, now=now)
    if expired_at is not None:
        raise RecommendationConflict(
            f"This recommendation expired on {expired_at:%Y-%m-%d %H:%M} UTC; nothing was "
            "applied. Propose it again if it still holds."
        )
    return locked


def _approve(
    actor: AbstractBaseUser, recommendation: Recommendation, comment: str, *, now: dt.datetime
) -> None:
    portfolio = recommendation.portfolio
    current = _epic_snapshot(portfolio, lock=True)
    expected = [epic["id"] for epic in recommendation.epic_snapshot]
    if [epic["id"] for epic in current] != expected:
        raise RecommendationConflict(
            "Stale: the portfolio's epics changed since this was proposed (added, removed or "
            "re-ranked), so the proposed ranking cannot be applied. Request changes or reject it."
        )
    evaluation = recommendation_evaluate(
        portfolio=portfolio,
        current=_positions(current),
        proposed_ids=recommendation.proposed_ranking,
        confidence=recommendation.confidence,
        evidence_count=len(recommendation.evidence),
        provider=None,
    )
    if evaluation.blocked:
        raise RecommendationConflict(
            "Blocked by policy: " + " ".join(verdict.reason for verdict in evaluation.blocks)
        )
    executive_required = recommendation.executive_required or evaluation.executive_required
    if executive_required and not _holds_executive_role(actor, portfolio):
        raise PermissionDenied(
            "This recommendation was escalated: only an Executive of the portfolio may approve it."
        )
    required = max(recommendation.required_approvals, evaluation.approvals_required)
    approvals = (
        Approval.objects.filter(
            recommendation=recommendation, decision=ApprovalDecision.APPROVE
        ).count()
        + 1
    )
    applied: list[dict[str, Any]] = []
    if approvals >= required:
        applied = _apply_ranking(current, recommendation.proposed_ranking)
        recommendation.state = RecommendationState.APPROVED
        recommendation.decided_at = now
        summary = (
            f"Approved recommendation #{recommendation.pk} for {portfolio.name}"
            + (f" ({approvals} of {required})" if required > 1 else "")
            + f": new ranking applied, {len(applied)} epics moved"
        )
    else:
        summary = (
            f"Approved recommendation #{recommendation.pk} for {portfolio.name} ({approvals} "
            f"of {required}): waiting for another approver"
        )
    recommendation.required_approvals = required
    recommendation.executive_required = executive_required
    recommendation.version += 1
    recommendation.save(
        update_fields=["state", "decided_at", "required_approvals", "executive_required", "version"]
    )
    entry = decision_record(
        kind=DecisionKind.APPROVAL,
        actor=actor,
        portfolio=portfolio,
        subject=_subject(recommendation),
        summary=summary,
        rationale=comment,
        inputs={
            "recommendation_id": recommendation.pk,
            "epic_snapshot_sha256": recommendation.snapshot_hash,
            "proposed_ranking": recommendation.proposed_ranking,
        },
        outputs={
            "state": recommendation.state,
            "approvals": approvals,
            "required_approvals": required,
            "rank_changes": applied,
        },
        confidence=recommendation.confidence,
        policy_verdicts=evaluation.as_list(),
    )
    Approval.objects.create(
        recommendation=recommendation,
        approver=actor,
        decision=ApprovalDecision.APPROVE,
        comment=comment,
        created_at=now,
        log_entry=entry,
    )


def _apply_ranking(current: list[dict[str, Any]], proposed: Sequence[int]) -> list[dict[str, Any]]:
    """Give the epics the proposed order, reusing the portfolio's rank numbers (gaps kept),
    in one UPDATE; the (portfolio, rank) uniqueness is checked at commit (DEFERRABLE)."""
    ranks = sorted(epic["rank"] for epic in current)
    by_id = {epic["id"]: epic for epic in current}
    epics, changes = [], []
    for epic_id, rank in zip(proposed, ranks, strict=True):
        before = by_id[epic_id]
        if before["rank"] != rank:
            epics.append(Epic(pk=epic_id, rank=rank))
            changes.append({"epic": before["key"], "from": before["rank"], "to": rank})
    Epic.objects.bulk_update(epics, ["rank"])
    return changes


_CLOSING = {
    ApprovalDecision.REJECT: (RecommendationState.REJECTED, DecisionKind.REJECTION, "Rejected"),
    ApprovalDecision.REQUEST_CHANGES: (
        RecommendationState.CHANGES_REQUESTED,
        DecisionKind.CHANGES_REQUEST,
        "Requested changes to",
    ),
}


def _close(
    actor: AbstractBaseUser,
    recommendation: Recommendation,
    decision: str,
    comment: str,
    *,
    now: dt.datetime,
) -> None:
    state, kind, verb = _CLOSING[ApprovalDecision(decision)]
    recommendation.state = state
    recommendation.decided_at = now
    recommendation.version += 1
    recommendation.save(update_fields=["state", "decided_at", "version"])
    entry = decision_record(
        kind=kind,
        actor=actor,
        portfolio=recommendation.portfolio,
        subject=_subject(recommendation),
        summary=f"{verb} recommendation #{recommendation.pk} for {recommendation.portfolio.name}",
        rationale=comment,
        inputs={
            "recommendation_id": recommendation.pk,
            "epic_snapshot_sha256": recommendation.snapshot_hash,
        },
        outputs={"state": state},
        confidence=recommendation.confidence,
        policy_verdicts=recommendation.policy_verdicts,
    )
    Approval.objects.create(
        recommendation=recommendation,
        approver=actor,
        decision=decision,
        comment=comment,
        created_at=now,
        log_entry=entry,
    )


def _expire(recommendation: Recommendation, *, now: dt.datetime) -> None:
    recommendation.state = RecommendationState.EXPIRED
    recommendation.decided_at = now
    recommendation.version += 1
    recommendation.save(update_fields=["state", "decided_at", "version"])
    decision_record(
        kind=DecisionKind.EXPIRY,
        actor=None,
        portfolio=recommendation.portfolio,
        subject=_subject(recommendation),
        summary=f"Recommendation #{recommendation.pk} for {recommendation.portfolio.name} "
        "expired undecided",
        inputs={"recommendation_id": recommendation.pk},
        outputs={"state": recommendation.state, "expires_at": recommendation.expires_at},
    )


def recommendation_expire_due(*, now: dt.datetime | None = None) -> int:
    """Mark every pending recommendation past its expiry as expired (one logged entry each);
    returns how many. Idempotent, so a periodic task may call it as often as it likes."""
    now = now or timezone.now()
    expired = 0
    due = Recommendation.objects.filter(state__in=PENDING_STATES, expires_at__lte=now)
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            locked = (
                Recommendation.objects.select_for_update(of=("self",))
                .select_related("portfolio")
                .get(pk=pk)
            )
            if locked.pending and locked.expires_at <= now:
                _expire(locked, now=now)
                expired += 1
    return expired
