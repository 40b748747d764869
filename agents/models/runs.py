"""An agent run: one job on the `agents` queue, from request to result, with everything needed
to audit it afterwards (inputs, provider chain, tokens, cost, errors)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class RunKind(models.TextChoices):
    RISK_SCAN = "risk_scan", "Risk scan"
    PORTFOLIO_REVIEW = "portfolio_review", "Portfolio review"
    PRIORITIZATION = "prioritization", "Prioritization"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    USER = "user", "Requested by a user"
    KPI_MEASUREMENT = "kpi_measurement", "KPI measurement recorded"
    SPRINT_CLOSED = "sprint_closed", "Sprint closed"
    SCHEDULE = "schedule", "Nightly schedule"


PENDING_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class AgentRun(models.Model):
    kind = models.CharField(max_length=20, choices=RunKind.choices)
    portfolio = models.ForeignKey(
        "portfolio.Portfolio", on_delete=models.PROTECT, related_name="agent_runs"
    )
    project = models.ForeignKey(
        "portfolio.Project",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agent_runs",
        help_text="Set for a project-scoped run (risk scan); empty for a portfolio run",
    )
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agent_runs",
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.JSONField(
        default=list, blank=True, help_text="[{step, label, state, at}] in order"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    providers_tried = models.JSONField(
        default=list, blank=True, help_text="[{provider, model, outcome, reason}] in order"
    )
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=120, blank=True)
    prompt_version = models.CharField(max_length=20, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    snapshot = models.JSONField(default=dict, blank=True, help_text="The frozen facts")
    result = models.JSONField(default=dict, blank=True)
    degraded_reason = models.TextField(blank=True)
    error = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    decision = models.ForeignKey(
        "governance.DecisionLog",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    recommendation = models.ForeignKey(
        "governance.Recommendation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "project"],
                condition=Q(status__in=PENDING_STATUSES, kind=RunKind.RISK_SCAN),
                name="agent_run_one_pending_scan_per_project",
            ),
            models.CheckConstraint(
                condition=Q(kind=RunKind.RISK_SCAN, project__isnull=False)
                | (~Q(kind=RunKind.RISK_SCAN) & Q(project__isnull=True)),
                name="agent_run_scope_matches_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["portfolio", "-created_at"], name="agent_run_portfolio_recent"),
        ]

    def __str__(self) -> str:
        scope = self.project.key if self.project_id else self.portfolio.name
        return f"{self.get_kind_display()} of {scope} ({self.get_status_display()})"


class AgentBudget(models.Model):
    """A portfolio's monthly language-model budget (tokens and cost, per UTC calendar month).
    Without a row the defaults apply (PMO_AGENT_MONTHLY_TOKENS, PMO_AGENT_MONTHLY_COST). Over
    budget, runs of the portfolio use only the builtin analyst."""

    portfolio = models.OneToOneField(
        "portfolio.Portfolio", on_delete=models.CASCADE, related_name="agent_budget"
    )
    monthly_tokens = models.PositiveBigIntegerField(
        help_text="Input + output tokens per month; 0 keeps every run on the builtin analyst"
    )
    monthly_cost = models.DecimalField(
        max_digits=10, decimal_places=2, help_text="US dollars per month, at the price table"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_cost__gte=0), name="agent_budget_cost_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Agent budget of {self.portfolio}"
