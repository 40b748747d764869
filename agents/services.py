"""Writes of the agents app: requesting an agent run, and executing it (in a Celery worker).

A run goes queued -> running -> succeeded | degraded | failed:

1. `agent_run_request` (web request, API, trigger receivers): authorizes, validates the
   scope, creates the queued run and enqueues `agents.tasks.runs.agent_run_execute` after
   commit. A risk scan already pending for the project is returned instead of a second one.
2. `agent_run_execute` (worker): claims the run, builds the frozen snapshot and computes the
   facts in code (agents.facts), recalls memory, asks the provider chain for the narrative
   (agents.providers: each configured language model in turn, then the builtin analyst),
   validates every answer against the snapshot (agents.guardrails), and records the outcome:
   one decision-log entry, the Recommendation of a prioritization, the run's result, all in
   one transaction.

Reliability (the worker may be killed at any instant; Celery redelivers with acks_late):
- A session advisory lock per run: a duplicate delivery of a running run is retried later
  (and then finds it finished); a redelivery after a lost worker finds the lock gone with
  the dead session (or retries until PostgreSQL has closed it) and runs again.
- The claim is a conditional UPDATE on (status, attempts): each delivery that starts work
  counts one attempt; past `AGENT_MAX_ATTEMPTS` the run is marked failed with the reason
  (a poison run stops).
- The outcome (decision-log entry, Recommendation, run status) commits in one transaction
  after re-reading the run under a row lock: a redelivery finds the run finished and stops,
  so there is exactly one decision entry and one Recommendation per run, whatever happened.

Reads during a run: as the requesting user (whose right is checked again at run time), or,
for a trigger run with no user, as a `system_reader()`, a principal that may read any portfolio;
the scope is enforced by agents.facts, which reads only the run's portfolio (a dependency on
a project of another portfolio is reported without any of that project's data).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from agents import facts, prompts
from agents.models import AgentBudget, AgentRun, RunKind, RunStatus, RunTrigger
from agents.models.runs import PENDING_STATUSES
from agents.providers import ChainOutcome, run_provider_chain
from agents.schemas import AgentOutput
from governance.decision_log import decision_record
from governance.models import DecisionKind
from governance.recommendations import MAX_EVIDENCE_LINKS, recommendation_propose
from pmo.locks import job_lock
from portfolio.models import Portfolio, Project
from portfolio.permissions import PortfolioPermission, has_portfolio_permission

logger = logging.getLogger(__name__)

STEPS: tuple[tuple[str, str], ...] = (
    ("snapshot", "Building the snapshot"),
    ("facts", "Computing the facts"),
    ("recall", "Recalling memory"),
    ("provider", "Writing the narrative"),
    ("validate", "Validating the output"),
    ("record", "Recording the decision"),
)
FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.DEGRADED, RunStatus.FAILED)


class AgentRunInterrupted(Exception):
    """A transient database error stopped a run's attempt; nothing of its outcome was written.
    The task retries it (the attempt counts against AGENT_MAX_ATTEMPTS)."""


# --- request -------------------------------------------------------------------------------


def _initial_progress() -> list[dict[str, Any]]:
    return [
        {"step": step, "label": label, "state": "pending", "at": None, "detail": ""}
        for step, label in STEPS
    ]


def _validate_scope(*, kind: str, portfolio: Portfolio | None, project: Project | None) -> None:
    errors: dict[str, str] = {}
    if kind not in RunKind.values:
        errors["kind"] = f"Choose a run kind among {', '.join(RunKind.values)}."
    if portfolio is None:
        errors["portfolio"] = "Choose the portfolio the run is about."
    if kind == RunKind.RISK_SCAN:
        if project is None:
            errors["project"] = "A risk scan is about one project: choose it."
        elif portfolio is not None and project.portfolio_id != portfolio.pk:
            errors["project"] = f"{project.key} is not a project of {portfolio.name}."
    elif kind in RunKind.values and project is not None:
        errors["project"] = (
            f"A {RunKind(kind).label.lower()} covers the whole portfolio: choose no project."
        )
    if errors:
        raise ValidationError(errors)


def agent_run_request(
    *,
    actor: AbstractBaseUser | None,
    kind: str,
    portfolio: Portfolio,
    project: Project | None = None,
    trigger: str = RunTrigger.USER,
    idempotency_key: str | None = None,
) -> tuple[AgentRun, bool]:
    """Queue an agent run; returns (run, created).

    `actor` must hold the change right on the portfolio (a PMO leader); None is allowed only
    for a system trigger (KPI measurement, sprint closed, schedule). A risk scan already queued
    or running for the project is returned as (existing, False), and so is the run of an
    `idempotency_key` already used (a retried request). Raises PermissionDenied, or
    ValidationError keyed by field (kind, project, portfolio, trigger)."""
    if trigger not in RunTrigger.values:
        raise ValidationError({"trigger": f"Unknown trigger {trigger!r}."})
    if actor is None and trigger == RunTrigger.USER:
        raise ValidationError({"trigger": "A run requested by a user needs that user (actor)."})
    if actor is not None and (
        portfolio is None
        or not has_portfolio_permission(actor, PortfolioPermission.CHANGE, portfolio)
    ):
        raise PermissionDenied("Only a PMO leader of this portfolio may start an agent run.")
    _validate_scope(kind=kind, portfolio=portfolio, project=project)
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()[:80]
        existing = AgentRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if (existing.kind, existing.portfolio_id, existing.project_id) != (
                kind,
                portfolio.pk,
                project.pk if project else None,
            ):
                raise ValidationError(
                    {"kind": "This idempotency key was used for another run; use a new key."}
                )
            return existing, False
    if kind == RunKind.RISK_SCAN:
        pending = _pending_scan(project)
        if pending is not None:
            return pending, False
    try:
        with transaction.atomic():
            run = AgentRun.objects.create(
                kind=kind,
                portfolio=portfolio,
                project=project if kind == RunKind.RISK_SCAN else None,
                trigger=trigger,
                requested_by=actor,
                status=RunStatus.QUEUED,
                progress=_initial_progress(),
                prompt_version=prompts.PROMPT_VERSION,
                idempotency_key=idempotency_key or f"run-{uuid.uuid4().hex}",
            )
            _enqueue(run.pk)
    except IntegrityError:
        # A concurrent request won the race: the pending scan, or the same idempotency key.
        existing = (
            AgentRun.objects.filter(idempotency_key=idempotency_key).first()
            if idempotency_key
            else None
        ) or (_pending_scan(project) if kind == RunKind.RISK_SCAN else None)
        if existing is None:
            raise
        return existing, False
    return run, True


def _pending_scan(project: Project | None) -> AgentRun | None:
    return AgentRun.objects.filter(
        kind=RunKind.RISK_SCAN, project=project, status__in=PENDING_STATUSES
    ).first()


def _enqueue(run_id: int) -> None:
    from agents.tasks.runs import agent_run_execute_task

    agent_run_execute_task.delay_on_commit(run_id)


# --- execute ---------------------------------------------------------------------------------


class _SystemReader:
    """The reader of a run nobody requested (a trigger): it passes the selectors' permission
    checks for every portfolio, so only agents.facts, which asks about the run's portfolio and
    nothing else, may use it. Never a user of a request, never saved. One per run: the
    permission answers cached on a reader (portfolio.permissions) must not outlive the run,
    or a worker would not see a portfolio created after its first run."""

    is_superuser = True
    is_authenticated = True
    is_active = True
    is_anonymous = False
    pk = None
    id = None

    def get_username(self) -> str:
        return "system"


def system_reader() -> _SystemReader:
    return _SystemReader()


def agent_run_execute(*, run_id: int) -> None:
    """Execute a queued run (or one a lost worker left running). Idempotent: a finished or
    missing run is left alone; see the module docstring for redelivery.

    A run whose lock is held raises AgentRunInterrupted (the task retries with backoff):
    either another worker is running it (the retry then finds it finished), or the session
    of a worker killed an instant ago is not closed yet (the retry then runs it). Returning
    instead would acknowledge the message and could leave the run running forever."""
    try:
        with job_lock(f"agent-run:{run_id}") as locked:
            if locked:
                _execute_locked(run_id)
            elif AgentRun.objects.filter(pk=run_id).exclude(status__in=FINISHED_STATUSES).exists():
                raise AgentRunInterrupted(f"agent run {run_id} is locked by another session")
    except DatabaseError as error:
        raise AgentRunInterrupted(str(error)) from error


def _claim(run_id: int) -> AgentRun | None:
    """Mark the run running and count the attempt; None when finished, missing, or out of
    attempts (then it is marked failed with the reason)."""
    run = AgentRun.objects.select_related("portfolio", "project", "requested_by").filter(pk=run_id)
    run = run.first()
    if run is None or run.status in FINISHED_STATUSES:
        return None
    if run.attempts >= settings.AGENT_MAX_ATTEMPTS:
        _fail(
            run,
            f"The run was interrupted {run.attempts} times (worker lost or stopped); gave up "
            f"after {settings.AGENT_MAX_ATTEMPTS} attempts.",
        )
        return None
    now = timezone.now()
    claimed = AgentRun.objects.filter(
        pk=run_id, status__in=PENDING_STATUSES, attempts=run.attempts
    ).update(
        status=RunStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        progress=_initial_progress(),
        providers_tried=[],
        input_tokens=0,
        output_tokens=0,
        cost=0,
        degraded_reason="",
        error="",
    )
    if not claimed:
        return None
    run.refresh_from_db()
    return run


class _Progress:
    """Writes each step's state to the run row as it happens (the page polls it)."""

    def __init__(self, run: AgentRun) -> None:
        self.run = run
        self.steps = _initial_progress()

    def _set(self, step: str, state: str, *, detail: str = "", label: str | None = None) -> None:
        for entry in self.steps:
            if entry["step"] == step:
                entry.update(state=state, at=timezone.now().isoformat())
                if detail:
                    entry["detail"] = detail[:500]
                if label:
                    entry["label"] = label
        self.run.progress = self.steps
        AgentRun.objects.filter(pk=self.run.pk).update(progress=self.steps)

    def start(self, step: str, *, label: str | None = None) -> None:
        self._set(step, "running", label=label)

    def done(self, step: str, detail: str = "") -> None:
        self._set(step, "done", detail=detail)

    def failed(self, step: str, detail: str) -> None:
        self._set(step, "failed", detail=detail)

    def skipped(self, step: str, detail: str) -> None:
        self._set(step, "skipped", detail=detail)

    def fail_running(self, detail: str) -> None:
        for entry in self.steps:
            if entry["state"] == "running":
                entry.update(state="failed", at=timezone.now().isoformat(), detail=detail[:500])
        self.run.progress = self.steps


def _reader(run: AgentRun) -> Any:
    """Who the run reads as: its requester, whose right is checked again now, or the system
    reader for a trigger run."""
    user = run.requested_by
    if user is None:
        return system_reader()
    if not user.is_active:
        raise PermissionDenied(f"{user.get_username()}, who requested the run, is inactive.")
    if not has_portfolio_permission(user, PortfolioPermission.CHANGE, run.portfolio):
        raise PermissionDenied(
            f"{user.get_username()}, who requested the run, is no longer a PMO leader of "
            f"{run.portfolio.name}."
        )
    return user


def _execute_locked(run_id: int) -> None:
    run = _claim(run_id)
    if run is None:
        return
    progress = _Progress(run)
    try:
        _perform(run, progress)
    except DatabaseError as error:
        raise AgentRunInterrupted(str(error)) from error
    except Exception as error:
        logger.exception("agent run %s failed", run_id)
        progress.fail_running(str(error) or type(error).__name__)
        reason = (
            str(error)
            if isinstance(error, PermissionDenied | ValidationError)
            else f"{type(error).__name__}: {error}"
        )
        _fail(run, reason)


def _perform(run: AgentRun, progress: _Progress) -> None:
    reader = _reader(run)
    started = time.monotonic()

    progress.start("snapshot")
    snapshot = facts.snapshot_build(reader=reader, run=run)
    count = len(snapshot.projects)
    progress.done("snapshot", f"{count} project{'s' if count != 1 else ''} as of {snapshot.as_of}")

    progress.start("facts")
    computed = facts.facts_compute(snapshot)
    data = facts.snapshot_json(snapshot, computed)
    AgentRun.objects.filter(pk=run.pk).update(snapshot=data)
    progress.done("facts", facts.facts_describe(computed))

    progress.start("recall")
    recalled = _recall(reader=reader, run=run, data=data, progress=progress)
    if recalled:
        data = {**data, "recalled": recalled}
        AgentRun.objects.filter(pk=run.pk).update(snapshot=data)
    run.snapshot = data

    context = facts.RunContext(
        snapshot=snapshot, facts=computed, data=data, recalled=tuple(recalled), reader=reader
    )
    outcome = run_provider_chain(run=run, context=context, progress=progress)

    progress.start("record")
    _record(run, context, outcome, seconds=time.monotonic() - started, progress=progress)


# --- memory (agents.memory) -------------------------------------------------------------------


def _recall_query(data: dict[str, Any]) -> str:
    """What to look for in memory: the scope and the risks found, in words."""
    scope = data["scope"]
    subject = (scope.get("project") or {}).get("name") or scope["portfolio"]["name"]
    risks = "; ".join(risk["sentence"] for risk in data["facts"]["risks"][:5])
    return f"{subject}: {risks}"[:1000] if risks else subject


def _recall(
    *, reader: Any, run: AgentRun, data: dict[str, Any], progress: _Progress
) -> list[dict[str, Any]]:
    """Memories related to the run, JSON-safe (`RecalledMemory.as_dict`): the run's portfolio
    only, and only what its requester may still see. Memory is context, never ground truth,
    so a failing recall is noted on the step and the run goes on without it."""
    try:
        from agents.memory import memory_recall_for_run
    except ImportError:  # an installation without the memory module
        progress.skipped("recall", "Memory is not available.")
        return []
    try:
        items = memory_recall_for_run(
            run=run, query=_recall_query(data), limit=settings.AGENT_RECALL_LIMIT
        )
    except Exception as error:
        logger.warning("agent run %s: recall failed: %s", run.pk, error)
        progress.failed("recall", f"Recall failed ({type(error).__name__}); went on without it.")
        return []
    recalled = [item.as_dict() for item in items]
    progress.done("recall", f"{len(recalled)} related memories")
    return recalled


def _remember(run: AgentRun, output: AgentOutput, data: dict[str, Any]) -> None:
    """Remember the run's summary and each risk it flags (agents.memory embeds them now, in
    the outcome's transaction, so a redelivered run remembers exactly once). Memory is
    derived data: a failure is logged and the outcome still commits."""
    try:
        from agents.memory import RiskToRemember, memory_remember_run
    except ImportError:  # an installation without the memory module
        return
    project_ids = {project["key"]: project["id"] for project in data["projects"]}
    risks = [
        RiskToRemember(
            key=_memory_key(risk.code, risk.evidence_ids),
            text=f"{risk.project_key or data['scope']['portfolio']['name']}: {risk.title}. "
            f"{risk.detail}",
            project_id=project_ids.get(risk.project_key or ""),
        )
        for risk in output.risks
    ]
    try:
        with transaction.atomic():
            memory_remember_run(run=run, summary=output.summary, risks=risks)
    except Exception:
        logger.exception("agent run %s: could not remember its outcome", run.pk)


def _memory_key(code: str, evidence_ids: list[str]) -> str:
    """The same risk in a later run gets the same key (so it supersedes this one): the code,
    and for a dependency the provider."""
    fact = next((i for i in evidence_ids if i.startswith("risk:")), "")
    parts = fact.split(":")
    return ":".join(parts[2:]) if len(parts) > 2 else code


def _agent_label(outcome: ChainOutcome) -> str:
    model = f"/{outcome.model}" if outcome.model else ""
    return f"agent:{outcome.provider}{model} (prompt {prompts.PROMPT_VERSION})"


def snapshot_sha256(snapshot: dict[str, Any]) -> str:
    text = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _propose(
    run: AgentRun, frozen: dict[str, Any], output: AgentOutput, outcome: ChainOutcome
) -> tuple[Any, str]:
    """The Recommendation of a prioritization (or None and why not)."""
    ranking = frozen["facts"].get("ranking") or {}
    ids_by_key = {epic["key"]: epic["id"] for epic in ranking.get("epics", [])}
    proposed = [ids_by_key[key] for key in output.proposed_ranking if key in ids_by_key]
    if not proposed:
        if ranking.get("epics"):
            return None, "The current ranking already follows WSJF: nothing to propose."
        return None, "The portfolio has no epic to rank."
    cited = ranking.get("evidence_ids", [])
    capacity_first = [i for i in cited if i.startswith("capacity:")] + [
        i for i in cited if not i.startswith("capacity:")
    ]
    evidence = [
        {"label": frozen["evidence"][evidence_id]["label"][:200], "url": url}
        for evidence_id in capacity_first
        if (url := frozen["evidence"].get(evidence_id, {}).get("url"))
    ][:MAX_EVIDENCE_LINKS]
    try:
        with transaction.atomic():
            recommendation = recommendation_propose(
                portfolio=run.portfolio,
                proposed_ranking=proposed,
                rationale=output.recommendation_rationale or output.summary,
                confidence=Decimal(str(round(output.confidence, 3))),
                evidence=evidence,
                expected_impact=ranking.get("expected_impact", ""),
                actor=run.requested_by,
                agent_label=_agent_label(outcome),
                agent_provider=None if outcome.provider == "builtin" else outcome.provider,
                expected_current=ranking.get("current_ids"),
            )
    except (ValidationError, PermissionDenied) as error:
        messages = error.messages if isinstance(error, ValidationError) else [str(error)]
        return None, " ".join(messages)
    return recommendation, ""


def _record(
    run: AgentRun,
    context: facts.RunContext,
    outcome: ChainOutcome,
    *,
    seconds: float,
    progress: _Progress,
) -> None:
    """Write the outcome in one transaction: re-read the run under a row lock (a redelivery
    that finds it finished writes nothing), then the Recommendation, the decision-log entry,
    the memories and the run."""
    output = outcome.output
    frozen, recalled = context.data, list(context.recalled)
    with transaction.atomic():
        locked = AgentRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.RUNNING or locked.attempts != run.attempts:
            return
        # Embedding first: it is the slow part, and nothing but the run row is locked yet
        # (the proposal and the decision entry below lock the portfolio's chain to commit).
        _remember(run, output, frozen)
        recommendation, no_recommendation = (None, "")
        if run.kind == RunKind.PRIORITIZATION:
            recommendation, no_recommendation = _propose(run, frozen, output, outcome)
        status = RunStatus.DEGRADED if outcome.degraded_reason else RunStatus.SUCCEEDED
        result = output.model_dump(mode="json")
        result["recalled"] = recalled
        result["policy_verdicts"] = outcome.policy_verdicts
        result["recommendation_id"] = recommendation.pk if recommendation else None
        result["no_recommendation_reason"] = no_recommendation
        result["seconds"] = round(seconds, 3)
        progress.done(
            "record",
            f"Recommendation #{recommendation.pk} proposed"
            if recommendation
            else (no_recommendation or "Decision recorded"),
        )
        decision = decision_record(
            kind=DecisionKind.AGENT_RUN,
            actor=None,
            actor_label=_agent_label(outcome),
            portfolio=run.portfolio,
            subject=f"agent_run:{run.pk}",
            summary=f"{run.get_kind_display()} of {_scope_name(run)}: {output.summary}"[:500],
            rationale=output.recommendation_rationale or output.summary,
            inputs={
                "run_id": run.pk,
                "kind": run.kind,
                "trigger": run.trigger,
                "requested_by": run.requested_by.get_username() if run.requested_by else None,
                "project": run.project.key if run.project_id else None,
                "snapshot_sha256": snapshot_sha256(frozen),
                "prompt_version": prompts.PROMPT_VERSION,
                "providers_tried": outcome.attempts,
                "recalled_memory_ids": [item.get("id") for item in recalled],
            },
            outputs={
                "status": status,
                "provider": outcome.provider,
                "model": outcome.model,
                "risks": [
                    {"code": risk.code, "project": risk.project_key, "severity": risk.severity}
                    for risk in output.risks
                ],
                "recommendation_id": recommendation.pk if recommendation else None,
                "degraded_reason": outcome.degraded_reason,
                "input_tokens": outcome.input_tokens,
                "output_tokens": outcome.output_tokens,
                "cost": str(outcome.cost),
            },
            confidence=Decimal(str(round(output.confidence, 3))),
            policy_verdicts=outcome.policy_verdicts,
        )
        AgentRun.objects.filter(pk=run.pk).update(
            status=status,
            progress=progress.steps,
            providers_tried=outcome.attempts,
            provider=outcome.provider,
            model=outcome.model,
            prompt_version=prompts.PROMPT_VERSION,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            cost=outcome.cost,
            result=result,
            degraded_reason=outcome.degraded_reason,
            decision=decision,
            recommendation=recommendation,
            finished_at=timezone.now(),
        )


def _scope_name(run: AgentRun) -> str:
    return f"{run.project.key} {run.project.name}" if run.project_id else run.portfolio.name


def _fail(run: AgentRun, reason: str) -> None:
    """Mark the run failed with the reason, with its decision-log entry, in one transaction
    (a run finished meanwhile is left alone)."""
    if connection.errors_occurred and not connection.in_atomic_block:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()
    with transaction.atomic():
        locked = AgentRun.objects.select_for_update().filter(pk=run.pk).first()
        if locked is None or locked.status in FINISHED_STATUSES:
            return
        progress = locked.progress if isinstance(locked.progress, list) else []
        for entry in progress:
            if entry.get("state") == "running":
                entry.update(state="failed", at=timezone.now().isoformat(), detail=reason[:500])
        decision = decision_record(
            kind=DecisionKind.AGENT_RUN,
            actor=None,
            actor_label=f"agent (prompt {prompts.PROMPT_VERSION})",
            portfolio=run.portfolio,
            subject=f"agent_run:{run.pk}",
            summary=f"{run.get_kind_display()} of {_scope_name(run)} failed"[:500],
            rationale=reason,
            inputs={"run_id": run.pk, "kind": run.kind, "trigger": run.trigger},
            outputs={"status": RunStatus.FAILED, "error": reason[:2000]},
        )
        AgentRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED,
            error=reason[:4000],
            progress=progress,
            decision=decision,
            finished_at=timezone.now(),
        )


# --- budget ----------------------------------------------------------------------------------


def agent_budget_set(
    *,
    actor: AbstractBaseUser,
    portfolio: Portfolio,
    monthly_tokens: int,
    monthly_cost: Decimal | str | int,
) -> AgentBudget:
    """Set a portfolio's monthly language-model budget (agents.budget), replacing the
    defaults; logged as a policy change with the old and new limits. A PMO leader of the
    portfolio only. Raises PermissionDenied, or ValidationError keyed by field."""
    if not has_portfolio_permission(actor, PortfolioPermission.CHANGE, portfolio):
        raise PermissionDenied("Only a PMO leader of this portfolio may set its agent budget.")
    errors: dict[str, str] = {}
    if isinstance(monthly_tokens, bool) or not isinstance(monthly_tokens, int):
        try:
            monthly_tokens = int(str(monthly_tokens).strip())
        except ValueError:
            errors["monthly_tokens"] = "Enter a whole number of tokens, e.g. 2000000."
    if "monthly_tokens" not in errors and not 0 <= monthly_tokens <= 10**12:
        errors["monthly_tokens"] = "Enter a number of tokens from 0 (builtin only) upwards."
    try:
        cost = Decimal(str(monthly_cost).strip())
        if not cost.is_finite() or cost < 0 or cost >= 10**8:
            raise ArithmeticError
        cost = cost.quantize(Decimal("0.01"))
    except (ArithmeticError, ValueError):
        errors["monthly_cost"] = "Enter an amount in US dollars of at least 0, e.g. 20.00."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        existing = AgentBudget.objects.select_for_update().filter(portfolio=portfolio).first()
        old = (
            {"monthly_tokens": existing.monthly_tokens, "monthly_cost": str(existing.monthly_cost)}
            if existing
            else {
                "monthly_tokens": settings.AGENT_MONTHLY_TOKENS,
                "monthly_cost": str(settings.AGENT_MONTHLY_COST),
                "default": True,
            }
        )
        budget, _ = AgentBudget.objects.update_or_create(
            portfolio=portfolio,
            defaults={
                "monthly_tokens": monthly_tokens,
                "monthly_cost": cost,
                "updated_at": timezone.now(),
            },
        )
        decision_record(
            kind=DecisionKind.POLICY_CHANGE,
            actor=actor,
            portfolio=portfolio,
            subject=f"agent_budget:{portfolio.pk}",
            summary=f"Set the agent budget of {portfolio.name}: {monthly_tokens:,} tokens and "
            f"${cost} per month",
            inputs={"portfolio": portfolio.slug},
            outputs={
                "old": old,
                "new": {"monthly_tokens": monthly_tokens, "monthly_cost": str(cost)},
            },
        )
    return budget
