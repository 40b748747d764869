"""Reads of the agent runs, filtered by what the requesting user may see.

Who reads which run:

- a portfolio-scoped run (portfolio review, prioritization) summarises every project of the
  portfolio, so it needs a view right held on the portfolio itself (PMO leaders, executives,
  portfolio viewers, superusers); a team lead of one project would otherwise read figures of
  projects they may not open. The decision log follows the same rule.
- a risk scan is about one project: whoever may see that project reads it.

Anything else answers 404 (`agent_run_get`), like a run that does not exist. Starting a run is
the engine's service (`agents.services.agent_run_request`), which authorizes on its own; the
`agent_run_start_allowed` answer here only decides whether the buttons are shown.

`agent_run_result` turns a run's result and snapshot JSON into what the result panel shows,
without a query: risks sorted by severity with their evidence resolved against the snapshot
(an evidence id the snapshot does not know stays visible, flagged as unknown, rather than
silently dropped; a link that is not a path of this site is never rendered as a link).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from agents.models import AgentRun, RunKind, RunStatus
from portfolio.models import Portfolio, Project
from portfolio.permissions import (
    PortfolioPermission,
    ProjectPermission,
    has_portfolio_permission,
    portfolio_ids_with,
    project_ids_with,
)

AnyUser = AbstractBaseUser | AnonymousUser

FINISHED_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.DEGRADED, RunStatus.FAILED})
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
MAX_ID = 2**63 - 1  # BigAutoField
# A run's frozen snapshot and result can weigh hundreds of kilobytes: lists leave them out
# (a row of a list never shows them; `agent_run_get` loads them for one run).
LIST_DEFERRED = ("snapshot", "result", "providers_tried")


# --- which runs -------------------------------------------------------------------------------


def agent_run_portfolio_ids(*, user: AnyUser) -> frozenset[int]:
    """Portfolios whose every run the user may read (a view right on the portfolio itself)."""
    return portfolio_ids_with(user, PortfolioPermission.VIEW)


def _visible_runs(user: AnyUser) -> QuerySet[AgentRun]:
    if not user.is_authenticated:
        return AgentRun.objects.none()
    if user.is_superuser:
        return AgentRun.objects.all()
    portfolio_ids = agent_run_portfolio_ids(user=user)
    project_ids = project_ids_with(user, ProjectPermission.VIEW)
    return AgentRun.objects.filter(
        Q(portfolio_id__in=portfolio_ids) | Q(kind=RunKind.RISK_SCAN, project_id__in=project_ids)
    )


def agent_run_filter_portfolios(*, user: AnyUser) -> QuerySet[Portfolio]:
    """Portfolios offered by the runs filter: those with a run the user may read, or whose
    runs they may all read, by name."""
    if not user.is_authenticated:
        return Portfolio.objects.none()
    if user.is_superuser:
        return Portfolio.objects.all()
    project_ids = project_ids_with(user, ProjectPermission.VIEW)
    return Portfolio.objects.filter(
        Q(pk__in=agent_run_portfolio_ids(user=user))
        | Q(pk__in=Project.objects.filter(pk__in=project_ids).values("portfolio_id"))
    ).order_by("name")


def agent_run_list(*, user: AnyUser) -> QuerySet[AgentRun]:
    """Runs the user may read, newest first, with what a list row shows (one query; the
    snapshot, result and providers tried are deferred). Filter it with
    `agents.filters.AgentRunFilter`."""
    return (
        _visible_runs(user)
        .select_related("portfolio", "project", "requested_by")
        .defer(*LIST_DEFERRED)
        .order_by("-created_at", "-id")
    )


def agent_run_get(*, user: AnyUser, run_id: int | str) -> AgentRun:
    """One run with its decision and recommendation; Http404 when it is missing or not the
    user's to read, or when `run_id` cannot be an id at all."""
    text = str(run_id)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise Http404("No such agent run.")
    try:
        return (
            _visible_runs(user)
            .select_related("portfolio", "project", "requested_by", "decision", "recommendation")
            .get(pk=int(text))
        )
    except AgentRun.DoesNotExist:
        raise Http404("No such agent run.") from None


def agent_run_recent(
    *, user: AnyUser, portfolio: Portfolio, project: Project | None = None, limit: int = 5
) -> list[AgentRun]:
    """The latest runs of one scope the user may read: a portfolio's runs of every kind, or
    one project's risk scans. Two queries on a dashboard (whether the user reads the
    portfolio's runs as a whole, then the runs), three for a user who does not."""
    if not user.is_authenticated:
        return []
    queryset = AgentRun.objects.filter(portfolio=portfolio)
    if project is not None:
        queryset = queryset.filter(project=project)
    if not (user.is_superuser or portfolio.pk in agent_run_portfolio_ids(user=user)):
        queryset = queryset.filter(
            kind=RunKind.RISK_SCAN, project_id__in=project_ids_with(user, ProjectPermission.VIEW)
        )
    return list(
        queryset.select_related("portfolio", "project", "requested_by")
        .defer(*LIST_DEFERRED)
        .order_by("-created_at", "-id")[:limit]
    )


def agent_run_start_allowed(*, user: AnyUser, portfolio: Portfolio) -> bool:
    """Whether the "Run review" / "Propose prioritization" / "Scan risks" buttons are shown:
    the PMO leaders of the portfolio (the change right), as `agent_run_request` requires."""
    return user.is_authenticated and has_portfolio_permission(
        user, PortfolioPermission.CHANGE, portfolio
    )


def agent_run_start_portfolios(*, user: AnyUser) -> QuerySet[Portfolio]:
    """Portfolios where the user may start runs, by name."""
    if not user.is_authenticated:
        return Portfolio.objects.none()
    return Portfolio.objects.filter(
        pk__in=portfolio_ids_with(user, PortfolioPermission.CHANGE)
    ).order_by("name")


def recommendation_visible(*, user: AnyUser, run: AgentRun) -> bool:
    """Whether the run's recommendation page opens for the user: those who propose (change
    right) or decide (approve right) on the portfolio, as governance's inbox rules say."""
    return has_portfolio_permission(
        user, PortfolioPermission.CHANGE, run.portfolio
    ) or has_portfolio_permission(user, PortfolioPermission.APPROVE_PRIORITIZATION, run.portfolio)


# --- progress ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressStep:
    step: str
    label: str
    state: str
    at: str | None
    detail: str


@dataclass(frozen=True)
class RunProgress:
    """The steps of a run as the live progress shows them."""

    steps: list[ProgressStep]
    finished: bool
    current: ProgressStep | None
    provider_label: str
    done_count: int

    @property
    def total(self) -> int:
        return len(self.steps)


def agent_run_progress(run: AgentRun) -> RunProgress:
    """Read `run.progress` (the engine's list of steps) defensively: anything malformed is
    skipped, never an error on the page."""
    steps: list[ProgressStep] = []
    raw_steps = run.progress if isinstance(run.progress, list) else []
    for raw in raw_steps:
        if not isinstance(raw, Mapping):
            continue
        steps.append(
            ProgressStep(
                step=str(raw.get("step", "")),
                label=str(raw.get("label") or raw.get("step") or ""),
                state=str(raw.get("state") or "pending"),
                at=raw.get("at") if isinstance(raw.get("at"), str) else None,
                detail=str(raw.get("detail") or ""),
            )
        )
    current = next((step for step in steps if step.state == "running"), None)
    provider_step = next((step for step in steps if step.step == "provider"), None)
    if run.provider:
        provider_label = f"{run.provider}" + (f" ({run.model})" if run.model else "")
    elif provider_step is not None and provider_step.state != "pending":
        provider_label = provider_step.detail or provider_step.label
    else:
        provider_label = ""
    return RunProgress(
        steps=steps,
        finished=run.status in FINISHED_STATUSES,
        current=current,
        provider_label=provider_label,
        done_count=sum(1 for step in steps if step.state in {"done", "skipped"}),
    )


# --- result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceLink:
    """One evidence id of a risk: `known` when the run's snapshot has it; `url` only when it
    is a path of this site (the only links the engine writes)."""

    id: str
    label: str
    url: str
    known: bool


@dataclass(frozen=True)
class RiskFlag:
    code: str
    severity: str
    title: str
    detail: str
    project_key: str
    evidence: list[EvidenceLink]

    @property
    def unknown_evidence(self) -> list[EvidenceLink]:
        return [link for link in self.evidence if not link.known]


@dataclass(frozen=True)
class TradeOff:
    title: str
    detail: str
    project_keys: list[str]


@dataclass(frozen=True)
class RunResult:
    """A finished run's result as the panel shows it."""

    summary: str
    trade_offs: list[TradeOff]
    risks: list[RiskFlag]
    recommendation_rationale: str
    no_recommendation_reason: str
    proposed_ranking: list[str]
    confidence: float | None
    recalled: list[dict[str, Any]]
    empty: bool
    severity_counts: dict[str, int] = field(default_factory=dict)

    @property
    def confidence_percent(self) -> int | None:
        return None if self.confidence is None else round(self.confidence * 100)


def _site_path(url: Any) -> str:
    """`url` when it is a path of this site (no scheme, no host), else ""."""
    if not isinstance(url, str):
        return ""
    url = url.strip()
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return ""
    return url


def _strings(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    return [str(value) for value in values if isinstance(value, str | int)]


def evidence_links(evidence_ids: Iterable[str], evidence: Mapping[str, Any]) -> list[EvidenceLink]:
    """Resolve evidence ids against a snapshot's evidence map, keeping their order."""
    links: list[EvidenceLink] = []
    for evidence_id in evidence_ids:
        entry = evidence.get(evidence_id)
        if isinstance(entry, Mapping):
            links.append(
                EvidenceLink(
                    id=evidence_id,
                    label=str(entry.get("label") or evidence_id),
                    url=_site_path(entry.get("url")),
                    known=True,
                )
            )
        else:
            links.append(EvidenceLink(id=evidence_id, label=evidence_id, url="", known=False))
    return links


def agent_run_result(run: AgentRun) -> RunResult:
    """The run's result JSON with every risk's evidence resolved (no query)."""
    result = run.result if isinstance(run.result, Mapping) else {}
    snapshot = run.snapshot if isinstance(run.snapshot, Mapping) else {}
    evidence = snapshot.get("evidence")
    evidence = evidence if isinstance(evidence, Mapping) else {}

    risks = []
    for raw in result.get("risks") or []:
        if not isinstance(raw, Mapping):
            continue
        severity = str(raw.get("severity") or "low")
        risks.append(
            RiskFlag(
                code=str(raw.get("code") or ""),
                severity=severity if severity in SEVERITY_ORDER else "low",
                title=str(raw.get("title") or raw.get("code") or "Risk"),
                detail=str(raw.get("detail") or ""),
                project_key=str(raw.get("project_key") or ""),
                evidence=evidence_links(_strings(raw.get("evidence_ids")), evidence),
            )
        )
    risks.sort(key=lambda risk: SEVERITY_ORDER[risk.severity])

    trade_offs = [
        TradeOff(
            title=str(raw.get("title") or ""),
            detail=str(raw.get("detail") or ""),
            project_keys=_strings(raw.get("project_keys")),
        )
        for raw in result.get("trade_offs") or []
        if isinstance(raw, Mapping)
    ]
    confidence = result.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        confidence = None
    recalled = [item for item in result.get("recalled") or [] if isinstance(item, Mapping)]
    summary = str(result.get("summary") or "")
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for risk in risks:
        counts[risk.severity] += 1
    return RunResult(
        summary=summary,
        trade_offs=trade_offs,
        risks=risks,
        recommendation_rationale=str(result.get("recommendation_rationale") or ""),
        no_recommendation_reason=str(result.get("no_recommendation_reason") or ""),
        proposed_ranking=_strings(result.get("proposed_ranking")),
        confidence=None if confidence is None else max(0.0, min(1.0, float(confidence))),
        recalled=[dict(item) for item in recalled],
        empty=not (summary or risks or trade_offs),
        severity_counts=counts,
    )


# --- usage and cost ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderUsage:
    provider: str
    runs: int
    input_tokens: int
    output_tokens: int
    cost: Decimal
    runs_this_month: int
    tokens_this_month: int
    cost_this_month: Decimal

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class PortfolioUsage:
    """Runs, tokens and cost of one portfolio's runs the user may read, per provider."""

    portfolio_id: int
    name: str
    slug: str
    providers: list[ProviderUsage] = field(default_factory=list)

    def _sum(self, name: str) -> Any:
        return sum((getattr(usage, name) for usage in self.providers), start=0)

    @property
    def runs(self) -> int:
        return self._sum("runs")

    @property
    def tokens(self) -> int:
        return self._sum("tokens")

    @property
    def cost(self) -> Decimal:
        return Decimal(self._sum("cost"))

    @property
    def runs_this_month(self) -> int:
        return self._sum("runs_this_month")

    @property
    def tokens_this_month(self) -> int:
        return self._sum("tokens_this_month")

    @property
    def cost_this_month(self) -> Decimal:
        return Decimal(self._sum("cost_this_month"))


def month_start(now: dt.datetime) -> dt.datetime:
    """The first instant of `now`'s month in the display time zone (TIME_ZONE)."""
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def agent_run_usage(
    *, user: AnyUser, now: dt.datetime | None = None, runs: QuerySet[AgentRun] | None = None
) -> list[PortfolioUsage]:
    """Usage and cost of the runs the user may read, per portfolio (by name) and provider,
    total and this month, aggregated in one SQL query. A run that has not reached a provider
    yet (queued, or failed before one answered) counts under provider "".

    `runs` narrows the runs counted (e.g. the filtered list of the runs page); it must come
    from `agent_run_list` for the same user."""
    since = month_start(now or timezone.now())
    this_month = Q(created_at__gte=since)
    zero = Decimal(0)
    queryset = runs if runs is not None else _visible_runs(user)
    rows = (
        queryset.order_by()
        .values("portfolio_id", "portfolio__name", "portfolio__slug", "provider")
        .annotate(
            run_count=Count("id"),
            input_total=Coalesce(Sum("input_tokens"), 0),
            output_total=Coalesce(Sum("output_tokens"), 0),
            cost_total=Coalesce(Sum("cost"), zero),
            run_count_month=Count("id", filter=this_month),
            tokens_month=Coalesce(Sum("input_tokens", filter=this_month), 0)
            + Coalesce(Sum("output_tokens", filter=this_month), 0),
            cost_month=Coalesce(Sum("cost", filter=this_month), zero),
        )
        .order_by("portfolio__name", "provider")
    )
    usages: dict[int, PortfolioUsage] = {}
    for row in rows:
        usage = usages.setdefault(
            row["portfolio_id"],
            PortfolioUsage(
                portfolio_id=row["portfolio_id"],
                name=row["portfolio__name"],
                slug=row["portfolio__slug"],
            ),
        )
        usage.providers.append(
            ProviderUsage(
                provider=row["provider"],
                runs=row["run_count"],
                input_tokens=row["input_total"],
                output_tokens=row["output_total"],
                cost=row["cost_total"],
                runs_this_month=row["run_count_month"],
                tokens_this_month=row["tokens_month"],
                cost_this_month=row["cost_month"],
            )
        )
    return list(usages.values())
