"""Policies (guardrails): declarative rules of a portfolio, stored in the database, edited by
its PMO leaders, evaluated on every recommendation (at proposal and again at approval).

Kinds and their parameters (validated by `policy_parameters_clean`):

- confidence_floor {"minimum": "0.600"}: a recommendation whose confidence is below the
  minimum needs a second reviewer: two distinct approvers (never the proposer).
- max_rank_move {"max_places": 3}: moving any epic by more than N places needs an
  executive: the recommendation is escalated, and only a holder of the Executive role on the
  portfolio may approve it (a superuser's global rights are not enough).
- gate_freeze {"statuses": ["implementing", "done"]}: an epic in one of these statuses is
  past the gate and keeps its place: a ranking that changes its position is blocked.
- evidence_required {"minimum_links": 1}: a recommendation citing fewer evidence links is
  blocked.
- provider_restriction {"providers": ["openai"]}: these model providers may not see the
  portfolio's data; `provider_allowed(portfolio=..., provider=...)` answers for the agents,
  and an agent recommendation made through such a provider is blocked.

Every evaluation yields one verdict per active policy (pass / needs_second_review /
needs_executive / block, with a reason); the verdicts are stored with the recommendation and
in its decision-log entries. Changing a policy is itself a logged decision (policy_change,
with the old and new values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance.decision_log import decision_record
from governance.models import DecisionKind, Policy, PolicyKind
from portfolio.models import Epic, Portfolio
from portfolio.permissions import PortfolioPermission, has_portfolio_permission


class Outcome:
    PASS = "pass"
    NEEDS_SECOND_REVIEW = "needs_second_review"
    NEEDS_EXECUTIVE = "needs_executive"
    BLOCK = "block"

    LABELS = {
        PASS: "Pass",
        NEEDS_SECOND_REVIEW: "Needs a second reviewer",
        NEEDS_EXECUTIVE: "Needs an executive",
        BLOCK: "Blocked",
    }


PARAMETER_FIELDS: dict[str, tuple[str, ...]] = {
    PolicyKind.CONFIDENCE_FLOOR: ("minimum",),
    PolicyKind.MAX_RANK_MOVE: ("max_places",),
    PolicyKind.GATE_FREEZE: ("statuses",),
    PolicyKind.EVIDENCE_REQUIRED: ("minimum_links",),
    PolicyKind.PROVIDER_RESTRICTION: ("providers",),
}
"""The parameters each kind takes; form fields and API errors use these names."""


@dataclass(frozen=True)
class PolicyVerdict:
    """What one policy says about one recommendation (or one provider)."""

    policy_id: int | None
    kind: str
    outcome: str
    reason: str
    field: str = ""  # the input the verdict is about, to show a block on its form field

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """Every verdict of one evaluation, and what they require together."""

    verdicts: tuple[PolicyVerdict, ...]

    @property
    def blocks(self) -> tuple[PolicyVerdict, ...]:
        return tuple(v for v in self.verdicts if v.outcome == Outcome.BLOCK)

    @property
    def blocked(self) -> bool:
        return bool(self.blocks)

    @property
    def executive_required(self) -> bool:
        return any(v.outcome == Outcome.NEEDS_EXECUTIVE for v in self.verdicts)

    @property
    def approvals_required(self) -> int:
        return 2 if any(v.outcome == Outcome.NEEDS_SECOND_REVIEW for v in self.verdicts) else 1

    def as_list(self) -> list[dict[str, Any]]:
        return [verdict.as_dict() for verdict in self.verdicts]


@dataclass(frozen=True)
class EpicPosition:
    """An epic as a ranking sees it (from a recommendation's frozen snapshot)."""

    id: int
    key: str
    status: str


# --- parameters ------------------------------------------------------------------------------


def _decimal_0_to_1(value: Any, field: str) -> str:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: "Enter a number between 0 and 1, e.g. 0.6."}) from None
    if not number.is_finite() or not Decimal(0) < number <= Decimal(1):
        raise ValidationError({field: "Enter a number above 0 and at most 1, e.g. 0.6."})
    return str(number.quantize(Decimal("0.001")))


def _positive_int(value: Any, field: str, *, maximum: int = 10_000) -> int:
    if isinstance(value, bool):
        raise ValidationError({field: "Enter a whole number of at least 1."})
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError({field: "Enter a whole number of at least 1."}) from None
    if not 1 <= number <= maximum:
        raise ValidationError({field: f"Enter a whole number between 1 and {maximum}."})
    return number


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace("\n", ",").split(",")
    if not isinstance(value, list | tuple):
        return []
    return [str(item).strip() for item in value if str(item).strip()]


def policy_parameters_clean(kind: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a policy of this kind, validated and normalized; raises a
    ValidationError keyed by parameter name (a form shows it on that field)."""
    if kind not in PARAMETER_FIELDS:
        raise ValidationError({"kind": f"Unknown policy kind {kind!r}."})
    if not isinstance(parameters, Mapping):
        raise ValidationError({"parameters": "Send the parameters as an object."})
    field = PARAMETER_FIELDS[kind][0]
    value = parameters.get(field)
    if value is None or (isinstance(value, str | list | tuple) and not value):
        raise ValidationError({field: "This policy needs this value."})
    if kind == PolicyKind.CONFIDENCE_FLOOR:
        return {field: _decimal_0_to_1(value, field)}
    if kind in (PolicyKind.MAX_RANK_MOVE, PolicyKind.EVIDENCE_REQUIRED):
        return {field: _positive_int(value, field, maximum=1000 if field == "max_places" else 20)}
    if kind == PolicyKind.GATE_FREEZE:
        statuses = _string_list(value)
        unknown = sorted(set(statuses) - set(Epic.Status.values))
        if unknown or not statuses:
            allowed = ", ".join(Epic.Status.values)
            raise ValidationError({field: f"Choose epic statuses among {allowed}."})
        return {field: [status for status in Epic.Status.values if status in statuses]}
    providers = sorted({name.casefold() for name in _string_list(value)})
    if not providers or any(len(name) > 60 for name in providers):
        raise ValidationError(
            {field: "Name at least one provider (e.g. openai), 60 characters max."}
        )
    return {field: providers}


def policy_describe(kind: str, parameters: Mapping[str, Any]) -> str:
    """One sentence a page shows for a policy."""
    if kind == PolicyKind.CONFIDENCE_FLOOR:
        return f"Confidence below {parameters['minimum']} needs a second reviewer."
    if kind == PolicyKind.MAX_RANK_MOVE:
        return f"Moving an epic more than {parameters['max_places']} places needs an executive."
    if kind == PolicyKind.GATE_FREEZE:
        return f"Epics {' or '.join(parameters['statuses'])} cannot be reprioritized."
    if kind == PolicyKind.EVIDENCE_REQUIRED:
        count = parameters["minimum_links"]
        return (
            f"A recommendation must cite at least {count} evidence link{'s' if count > 1 else ''}."
        )
    return f"Providers {', '.join(parameters['providers'])} may not see this portfolio's data."


# --- evaluation ------------------------------------------------------------------------------


def _active_policies(portfolio: Portfolio) -> list[Policy]:
    return list(Policy.objects.filter(portfolio=portfolio, active=True).order_by("kind", "id"))


def _moves(current: Sequence[EpicPosition], proposed_ids: Sequence[int]) -> dict[int, int]:
    """Epic id -> places moved (positive: up, towards rank 1)."""
    before = {epic.id: index for index, epic in enumerate(current)}
    return {
        epic_id: before[epic_id] - index
        for index, epic_id in enumerate(proposed_ids)
        if epic_id in before
    }


def _verdict(policy: Policy, outcome: str, reason: str, field: str = "") -> PolicyVerdict:
    return PolicyVerdict(policy.pk, policy.kind, outcome, reason, field)


def _evaluate_one(
    policy: Policy,
    *,
    portfolio: Portfolio,
    current: Sequence[EpicPosition],
    proposed_ids: Sequence[int],
    confidence: Decimal,
    evidence_count: int,
    provider: str | None,
) -> PolicyVerdict | None:
    parameters = policy.parameters
    if policy.kind == PolicyKind.CONFIDENCE_FLOOR:
        minimum = Decimal(parameters["minimum"])
        if confidence < minimum:
            return _verdict(
                policy,
                Outcome.NEEDS_SECOND_REVIEW,
                f"Confidence {confidence} is below the floor of {minimum}: two approvers needed.",
            )
        return _verdict(policy, Outcome.PASS, f"Confidence {confidence} meets the floor {minimum}.")
    if policy.kind == PolicyKind.MAX_RANK_MOVE:
        limit = parameters["max_places"]
        keys = {epic.id: epic.key for epic in current}
        moved = sorted(
            (abs(places), keys[epic_id])
            for epic_id, places in _moves(current, proposed_ids).items()
            if abs(places) > limit
        )
        if moved:
            largest, key = moved[-1]
            return _verdict(
                policy,
                Outcome.NEEDS_EXECUTIVE,
                f"{key} moves {largest} places, more than {limit}: an executive must approve.",
                "proposed_ranking",
            )
        return _verdict(policy, Outcome.PASS, f"No epic moves more than {limit} places.")
    if policy.kind == PolicyKind.GATE_FREEZE:
        statuses = set(parameters["statuses"])
        moves = _moves(current, proposed_ids)
        frozen = [epic.key for epic in current if epic.status in statuses and moves.get(epic.id)]
        if frozen:
            return _verdict(
                policy,
                Outcome.BLOCK,
                f"{', '.join(frozen)} {'is' if len(frozen) == 1 else 'are'} past the gate "
                f"({' / '.join(sorted(statuses))}) and cannot change position.",
                "proposed_ranking",
            )
        return _verdict(policy, Outcome.PASS, "No epic past the gate changes position.")
    if policy.kind == PolicyKind.EVIDENCE_REQUIRED:
        needed = parameters["minimum_links"]
        if evidence_count < needed:
            return _verdict(
                policy,
                Outcome.BLOCK,
                f"Cites {evidence_count} evidence link{'s' if evidence_count != 1 else ''}; "
                f"this portfolio requires at least {needed}.",
                "evidence",
            )
        return _verdict(policy, Outcome.PASS, f"Cites {evidence_count} evidence links.")
    if policy.kind == PolicyKind.PROVIDER_RESTRICTION:
        if provider is None:
            return None  # made by a person: no provider saw the data
        return _provider_verdict(policy, provider, portfolio)
    return None


def _provider_verdict(policy: Policy, provider: str, portfolio: Portfolio) -> PolicyVerdict:
    if provider.casefold() in policy.parameters["providers"]:
        return _verdict(
            policy,
            Outcome.BLOCK,
            f"Provider {provider} may not see the data of portfolio {portfolio.name}.",
        )
    return _verdict(policy, Outcome.PASS, f"Provider {provider} is allowed.")


def recommendation_evaluate(
    *,
    portfolio: Portfolio,
    current: Sequence[EpicPosition],
    proposed_ids: Sequence[int],
    confidence: Decimal,
    evidence_count: int,
    provider: str | None = None,
) -> Evaluation:
    """Every active policy of the portfolio applied to a proposed ranking."""
    verdicts = []
    for policy in _active_policies(portfolio):
        verdict = _evaluate_one(
            policy,
            portfolio=portfolio,
            current=current,
            proposed_ids=proposed_ids,
            confidence=confidence,
            evidence_count=evidence_count,
            provider=provider,
        )
        if verdict is not None:
            verdicts.append(verdict)
    return Evaluation(tuple(verdicts))


def provider_allowed(*, portfolio: Portfolio, provider: str) -> PolicyVerdict:
    """Whether a model provider may see this portfolio's data (data sovereignty): a block
    verdict naming the policy, or a pass. Agents call it before sending any data out."""
    policy = Policy.objects.filter(
        portfolio=portfolio, kind=PolicyKind.PROVIDER_RESTRICTION, active=True
    ).first()
    if policy is None:
        return PolicyVerdict(
            None, PolicyKind.PROVIDER_RESTRICTION, Outcome.PASS, "No provider restriction."
        )
    return _provider_verdict(policy, provider, portfolio)


# --- writes ----------------------------------------------------------------------------------


def _check_can_edit(actor: AbstractBaseUser, portfolio: Portfolio) -> None:
    if not has_portfolio_permission(actor, PortfolioPermission.CHANGE, portfolio):
        raise PermissionDenied("Only a PMO leader of this portfolio may change its policies.")


def _policy_state(policy: Policy) -> dict[str, Any]:
    return {
        "kind": policy.kind,
        "parameters": policy.parameters,
        "active": policy.active,
        "description": policy.description,
    }


def _record_policy_change(
    actor: AbstractBaseUser, policy: Policy, old: dict[str, Any] | None, verb: str
) -> None:
    decision_record(
        kind=DecisionKind.POLICY_CHANGE,
        actor=actor,
        portfolio=policy.portfolio,
        subject=f"policy:{policy.pk}",
        summary=f"{verb} policy {policy.get_kind_display()} of {policy.portfolio.name}: "
        f"{policy_describe(policy.kind, policy.parameters)}"
        + ("" if policy.active else " (inactive)"),
        inputs={"policy_id": policy.pk, "version": policy.version},
        outputs={"old": old, "new": _policy_state(policy)},
    )


@transaction.atomic
def policy_create(
    *,
    actor: AbstractBaseUser,
    portfolio: Portfolio,
    kind: str,
    parameters: Mapping[str, Any],
    active: bool = True,
    description: str = "",
) -> Policy:
    """Add a guardrail to a portfolio (one per kind), logged as a policy change."""
    _check_can_edit(actor, portfolio)
    clean = policy_parameters_clean(kind, parameters)
    if Policy.objects.filter(portfolio=portfolio, kind=kind).exists():
        raise ValidationError(
            {"kind": "This portfolio already has a policy of this kind; edit that one."}
        )
    policy = Policy.objects.create(
        portfolio=portfolio,
        kind=kind,
        parameters=clean,
        active=active,
        description=description.strip(),
        created_by=actor,
    )
    _record_policy_change(actor, policy, None, "Added")
    return policy


class PolicyConflict(Exception):
    """The policy changed since the caller read it (optimistic concurrency)."""


def policy_update(
    *,
    actor: AbstractBaseUser,
    policy: Policy,
    parameters: Mapping[str, Any] | None = None,
    active: bool | None = None,
    description: str | None = None,
    version: int | None = None,
) -> Policy:
    """Change a policy's parameters, description or activity; logs old and new values. An
    update that changes nothing writes nothing. With `version`, refuses (PolicyConflict) if
    someone changed the policy since that version was read."""
    _check_can_edit(actor, policy.portfolio)
    clean = policy_parameters_clean(policy.kind, parameters) if parameters is not None else None
    with transaction.atomic():
        locked = (
            Policy.objects.select_for_update(of=("self",))
            .select_related("portfolio")
            .get(pk=policy.pk)
        )
        if version is not None and version != locked.version:
            raise PolicyConflict(
                "Someone changed this policy since you opened it; review it again."
            )
        old = _policy_state(locked)
        if clean is not None:
            locked.parameters = clean
        if active is not None:
            locked.active = active
        if description is not None:
            locked.description = description.strip()
        if _policy_state(locked) == old:
            return locked
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save(update_fields=["parameters", "active", "description", "version", "updated_at"])
        _record_policy_change(actor, locked, old, "Changed")
    return locked
