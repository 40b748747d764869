"""KPIs and their measurements. Flow metrics are computed from portfolio's work-item history
and need no tables of their own.

- `KPI`: a definition, owned by a project (or by a portfolio as a whole): unit, direction
  (higher or lower is better), target, amber and red thresholds, optional allowed range,
  cadence, owner. Either entered by people (manual) or computed from the flow metrics
  (`computed_from`), in which case it updates itself from the work-item history.
- `KPIMeasurement`: the current value of one KPI for one period (unique per KPI and period
  start). `version` grows with every change; a correction is an UPDATE that checks the
  version it was read at, so two people editing the same value cannot overwrite each other.
- `KPIMeasurementRevision`: every change of a measurement (creation, correction, computed
  refresh, import) with who, when, old and new value and the note: the KPI's history. It is
  written in the same transaction as the change and the decision-log entry.

The rules around these rows (cadence, range, RAG status, permissions) live in metrics.kpis;
the database holds the invariants that must never be broken, whoever writes.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from portfolio.models import Portfolio, Project

VALUE_DIGITS = 14
VALUE_PLACES = 4
"""Every KPI figure (values, targets, thresholds, range) is a decimal with 4 places and at
most 10 integer digits: enough for ratios, money in thousands and counts alike."""


def _value_field(**options: object) -> models.DecimalField:
    return models.DecimalField(max_digits=VALUE_DIGITS, decimal_places=VALUE_PLACES, **options)


class KPI(models.Model):
    class Direction(models.TextChoices):
        HIGHER_IS_BETTER = "higher_is_better", "Higher is better"
        LOWER_IS_BETTER = "lower_is_better", "Lower is better"

    class Cadence(models.TextChoices):
        WEEKLY = "weekly", "Weekly"
        PER_SPRINT = "per_sprint", "Per sprint"
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"

    class FlowMetric(models.TextChoices):
        """What a computed KPI is computed from (blank: entered by people)."""

        VELOCITY = "velocity", "Velocity (completed points per sprint)"
        SAY_DO = "say_do", "Say/do ratio per sprint"
        CYCLE_TIME_P85 = "cycle_time_p85", "Cycle time p85 (days)"
        THROUGHPUT = "throughput", "Throughput (items done per period)"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="kpis")
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="kpis",
        help_text="Empty for a KPI of the portfolio as a whole.",
    )
    name = models.CharField(max_length=80)
    unit = models.CharField(max_length=20, blank=True, help_text="e.g. days, points, %, score")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    target = _value_field()
    amber_threshold = _value_field(help_text="Beyond this value (strictly) the KPI is amber.")
    red_threshold = _value_field(help_text="Beyond this value (strictly) the KPI is red.")
    min_value = _value_field(null=True, blank=True, help_text="Lowest value allowed, if any.")
    max_value = _value_field(null=True, blank=True, help_text="Highest value allowed, if any.")
    cadence = models.CharField(max_length=10, choices=Cadence.choices)
    computed_from = models.CharField(
        max_length=16,
        choices=FlowMetric.choices,
        blank=True,
        help_text="Computed from the work-item history; empty for a KPI entered by people.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_kpis",
    )
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["portfolio", "project", "name"]
        constraints = [
            models.UniqueConstraint(F("project"), Lower("name"), name="kpi_name_unique_in_project"),
            models.UniqueConstraint(
                F("portfolio"),
                Lower("name"),
                condition=Q(project__isnull=True),
                name="kpi_name_unique_in_portfolio",
            ),
            # Thresholds run from the target towards worse values: red is the farthest.
            models.CheckConstraint(
                condition=(
                    Q(
                        direction="higher_is_better",
                        red_threshold__lte=F("amber_threshold"),
                        amber_threshold__lte=F("target"),
                    )
                    | Q(
                        direction="lower_is_better",
                        red_threshold__gte=F("amber_threshold"),
                        amber_threshold__gte=F("target"),
                    )
                ),
                name="kpi_thresholds_ordered_by_direction",
            ),
            models.CheckConstraint(
                condition=Q(min_value__isnull=True)
                | Q(max_value__isnull=True)
                | Q(min_value__lte=F("max_value")),
                name="kpi_range_min_not_above_max",
            ),
            models.CheckConstraint(
                condition=~Q(cadence="per_sprint") | Q(project__isnull=False),
                name="kpi_per_sprint_needs_a_project",
            ),
        ]
        indexes = [models.Index(fields=["project", "active"], name="kpi_project_active")]

    def __str__(self) -> str:
        scope = self.project.key if self.project_id and self.project else "portfolio"
        return f"{self.name} ({scope})"

    @property
    def is_computed(self) -> bool:
        return bool(self.computed_from)

    @property
    def scope_label(self) -> str:
        """The decision-log subject of the KPI's scope (what governance filters team leads'
        entries by)."""
        if self.project_id is not None:
            return f"project:{self.project.key}"
        return f"portfolio:{self.portfolio.slug}"


class KPIMeasurement(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        COMPUTED = "computed", "Computed"
        IMPORT = "import", "Import"

    kpi = models.ForeignKey(KPI, on_delete=models.PROTECT, related_name="measurements")
    period_start = models.DateField()
    value = _value_field()
    note = models.TextField(blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who set the current value (empty: computed by the system).",
    )
    entered_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["kpi", "period_start"]
        constraints = [
            models.UniqueConstraint(fields=["kpi", "period_start"], name="one_value_per_period"),
        ]
        indexes = [
            models.Index(F("kpi"), F("period_start").desc(), name="measurement_kpi_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.kpi_id} {self.period_start}: {self.value}"


class KPIMeasurementRevision(models.Model):
    """One change of a measurement, kept forever: the KPI's history and audit trail."""

    class Change(models.TextChoices):
        RECORDED = "recorded", "Recorded"
        CORRECTED = "corrected", "Corrected"
        COMPUTED = "computed", "Computed"
        IMPORTED = "imported", "Imported"

    measurement = models.ForeignKey(
        KPIMeasurement, on_delete=models.PROTECT, related_name="revisions"
    )
    kpi = models.ForeignKey(KPI, on_delete=models.PROTECT, related_name="revisions")
    period_start = models.DateField()
    version = models.PositiveIntegerField(help_text="The measurement's version after the change.")
    change = models.CharField(max_length=10, choices=Change.choices)
    old_value = _value_field(null=True, blank=True)
    new_value = _value_field()
    old_note = models.TextField(blank=True)
    note = models.TextField(blank=True)
    source = models.CharField(max_length=8, choices=KPIMeasurement.Source.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kpi", "-changed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["measurement", "version"], name="one_revision_per_version"
            ),
        ]
        indexes = [models.Index(fields=["kpi", "changed_at"], name="revision_kpi_changed")]

    def __str__(self) -> str:
        return f"{self.kpi_id} {self.period_start} v{self.version} {self.change}"

    @property
    def delta(self) -> Decimal | None:
        return None if self.old_value is None else self.new_value - self.old_value
