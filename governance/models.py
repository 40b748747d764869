"""Role assignments and the decision log.

The decision log is the single audit trail: every governed write (a role granted, a KPI
corrected, a history import, a recommendation approved, an agent run) adds one entry in the
same transaction as the change it records.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from governance.roles import Role


class RoleAssignment(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    portfolio = models.ForeignKey(
        "portfolio.Portfolio",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_assignments",
    )
    project = models.ForeignKey(
        "portfolio.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_assignments",
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["role", "user__username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(portfolio__isnull=True, project__isnull=False)
                | Q(portfolio__isnull=False, project__isnull=True),
                name="role_on_exactly_one_scope",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "portfolio"],
                condition=Q(project__isnull=True),
                name="one_role_per_portfolio",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "project"],
                condition=Q(portfolio__isnull=True),
                name="one_role_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} of {self.portfolio or self.project}"


class DecisionKind(models.TextChoices):
    ROLE_CHANGE = "role_change", "Role change"
    PROJECT_CHANGE = "project_change", "Project change"
    HISTORY_IMPORT = "history_import", "History import"
    KPI_CHANGE = "kpi_change", "KPI change"
    KPI_CORRECTION = "kpi_correction", "KPI correction"
    POLICY_CHANGE = "policy_change", "Policy change"
    RECOMMENDATION = "recommendation", "Recommendation"
    APPROVAL = "approval", "Approval"
    REJECTION = "rejection", "Rejection"
    ESCALATION = "escalation", "Escalation"
    AGENT_RUN = "agent_run", "Agent run"


class DecisionLog(models.Model):
    """One governed action: who or what did it, on what inputs, with which outcome and why."""

    portfolio = models.ForeignKey(
        "portfolio.Portfolio", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=DecisionKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decisions",
    )
    actor_label = models.CharField(
        max_length=200, help_text="Username, or agent with provider / model / prompt version"
    )
    subject = models.CharField(
        max_length=200, help_text="What the decision is about, e.g. project:PAY"
    )
    summary = models.CharField(max_length=500)
    rationale = models.TextField(blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    confidence = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    policy_verdicts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["portfolio", "created_at"], name="decision_portfolio_time"),
            models.Index(fields=["kind", "created_at"], name="decision_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"
