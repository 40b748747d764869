"""Role assignments, the decision log, policies, recommendations and approvals.

The decision log is the single audit trail: every governed write (a role granted, a KPI
corrected, a history import, a recommendation approved, an agent run) adds one entry in the
same transaction as the change it records. Entries are chained per portfolio by SHA-256
hashes (governance.decision_log) and the database refuses UPDATE and DELETE on the table
(trigger created by migration 0004), so a changed, deleted or reordered entry is detectable.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
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
    CHANGES_REQUEST = "changes_request", "Changes requested"
    ESCALATION = "escalation", "Escalation"
    EXPIRY = "expiry", "Expiry"
    AGENT_RUN = "agent_run", "Agent run"


GENESIS_HASH = "0" * 64
"""`previous_hash` of the first entry of every chain."""

SEARCH_CONFIG = "english"
"""Text-search configuration of the decision log's GIN index; queries must use the same one
(and the same expression, `decision_search_vector()`) or PostgreSQL cannot use the index."""


def decision_search_vector() -> SearchVector:
    """The full-text document of an entry: summary, rationale, subject and actor label."""
    return SearchVector("summary", "rationale", "subject", "actor_label", config=SEARCH_CONFIG)


class DecisionLog(models.Model):
    """One governed action: who or what did it, on what inputs, with which outcome and why.

    Append-only. `sequence` numbers the entries of one chain (one chain per portfolio, plus
    the "global" chain of entries without a portfolio) from 1; `previous_hash` is the
    `entry_hash` of the entry before it (GENESIS_HASH for the first) and `entry_hash` the
    SHA-256 of the entry's canonical form (governance.decision_log.canonical_entry), which
    covers every content field and `previous_hash`. Write entries only through
    `governance.services.decision_record`, which serializes the writers of a chain.
    """

    portfolio = models.ForeignKey(
        "portfolio.Portfolio", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sequence = models.PositiveBigIntegerField(
        help_text="Position in the portfolio's chain (or the global chain), from 1"
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
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "sequence"],
                condition=Q(portfolio__isnull=False),
                name="decision_sequence_in_portfolio",
            ),
            models.UniqueConstraint(
                fields=["sequence"],
                condition=Q(portfolio__isnull=True),
                name="decision_sequence_global",
            ),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="decision_sequence_positive"),
        ]
        indexes = [
            models.Index(fields=["portfolio", "created_at"], name="decision_portfolio_time"),
            models.Index(fields=["kind", "created_at"], name="decision_kind_time"),
            GinIndex(decision_search_vector(), name="decision_search"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"


class PolicyKind(models.TextChoices):
    CONFIDENCE_FLOOR = "confidence_floor", "Confidence floor"
    MAX_RANK_MOVE = "max_rank_move", "Maximum rank move"
    GATE_FREEZE = "gate_freeze", "Gate freeze"
    EVIDENCE_REQUIRED = "evidence_required", "Evidence required"
    PROVIDER_RESTRICTION = "provider_restriction", "Provider restriction"


class Policy(models.Model):
    """A guardrail of one portfolio, edited by its PMO leaders (governance.policies).

    `parameters` depends on `kind` and is validated by `policy_parameters_clean`; at most one
    policy of each kind per portfolio, so "the confidence floor of P" is one row.
    """

    portfolio = models.ForeignKey(
        "portfolio.Portfolio", on_delete=models.CASCADE, related_name="policies"
    )
    kind = models.CharField(max_length=24, choices=PolicyKind.choices)
    parameters = models.JSONField(default=dict)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["portfolio", "kind"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "kind"], name="one_policy_kind_per_portfolio"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.portfolio}"


class RecommendationKind(models.TextChoices):
    REPRIORITIZATION = "reprioritization", "Reprioritization"


class RecommendationState(models.TextChoices):
    """proposed / escalated are pending; every other state is final (see recommendations.py)."""

    PROPOSED = "proposed", "Proposed"
    ESCALATED = "escalated", "Escalated"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    SUPERSEDED = "superseded", "Superseded"
    EXPIRED = "expired", "Expired"


PENDING_STATES = (RecommendationState.PROPOSED, RecommendationState.ESCALATED)


class Recommendation(models.Model):
    """A proposed new ranking of a portfolio's epics, by a user or an agent, awaiting approval.

    `epic_snapshot` freezes the epics as they stood at proposal time (id, key, title, status,
    rank, in backlog order); approval applies `proposed_ranking` only if the portfolio's epics
    are still exactly those, in that order. `version` increases on every change, for optimistic
    concurrency of the pages and the API.
    """

    portfolio = models.ForeignKey(
        "portfolio.Portfolio", on_delete=models.PROTECT, related_name="recommendations"
    )
    kind = models.CharField(
        max_length=20,
        choices=RecommendationKind.choices,
        default=RecommendationKind.REPRIORITIZATION,
    )
    state = models.CharField(
        max_length=20, choices=RecommendationState.choices, default=RecommendationState.PROPOSED
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="recommendations",
        help_text="The user who proposed it, or who started the agent that did",
    )
    agent_label = models.CharField(
        max_length=200, blank=True, help_text="Agent with provider / model / prompt version"
    )
    epic_snapshot = models.JSONField(default=list)
    snapshot_hash = models.CharField(max_length=64)
    proposed_ranking = models.JSONField(default=list, help_text="Epic ids, first = rank 1")
    rationale = models.TextField()
    evidence = models.JSONField(default=list, blank=True, help_text="[{label, url}]")
    expected_impact = models.TextField(blank=True)
    confidence = models.DecimalField(max_digits=4, decimal_places=3)
    policy_verdicts = models.JSONField(default=list, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    executive_required = models.BooleanField(default=False)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(proposed_by__isnull=False) | ~Q(agent_label=""),
                name="recommendation_has_a_proposer",
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="recommendation_confidence_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(required_approvals__gte=1), name="recommendation_needs_an_approval"
            ),
        ]
        indexes = [
            models.Index(fields=["portfolio", "state", "created_at"], name="recommendation_state"),
        ]

    def __str__(self) -> str:
        return f"Recommendation #{self.pk} for {self.portfolio} ({self.state})"

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    @property
    def moved_count(self) -> int:
        """How many epics the proposal puts at another position (no query)."""
        before = [epic["id"] for epic in self.epic_snapshot]
        return sum(1 for old, new in zip(before, self.proposed_ranking, strict=False) if old != new)

    @property
    def proposer_label(self) -> str:
        if self.agent_label:
            return self.agent_label
        return self.proposed_by.get_username() if self.proposed_by else "unknown"


class ApprovalDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    REQUEST_CHANGES = "request_changes", "Request changes"


class Approval(models.Model):
    """One approver's decision on a recommendation, with the comment it requires."""

    recommendation = models.ForeignKey(
        Recommendation, on_delete=models.PROTECT, related_name="approvals"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals"
    )
    decision = models.CharField(max_length=20, choices=ApprovalDecision.choices)
    comment = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    log_entry = models.ForeignKey(DecisionLog, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recommendation", "approver"], name="one_decision_per_approver"
            ),
            models.CheckConstraint(condition=~Q(comment=""), name="approval_has_a_comment"),
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.decision} #{self.recommendation_id}"
