"""Portfolios, projects, sprints, work items and their history.

WorkItemEvent is the source of truth every flow metric is computed from (see METRICS.md);
the `category`, `started_at` and `done_at` columns of WorkItem are a denormalized summary of
that history, maintained by the services and importers that write events, so that the common
queries (done in a period, WIP now) need no scan of the event table.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portfolio.querysets import ProjectQuerySet, SprintQuerySet, WorkItemQuerySet


class Category(models.TextChoices):
    """Jira's status categories: every status name maps to one of these."""

    TO_DO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


DEFAULT_STATUS_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        ["To Do", "Open", "Backlog", "New", "Reopened", "Selected for Development"],
        Category.TO_DO.value,
    ),
    **dict.fromkeys(
        ["In Progress", "In Review", "Review", "Testing", "QA", "Blocked"],
        Category.IN_PROGRESS.value,
    ),
    **dict.fromkeys(["Done", "Closed", "Resolved", "Fixed", "Complete"], Category.DONE.value),
}

WSJF_SCALE = (1, 2, 3, 5, 8, 13, 20)
WSJF_CHOICES = [(value, str(value)) for value in WSJF_SCALE]


def default_status_categories() -> dict[str, str]:
    return dict(DEFAULT_STATUS_CATEGORIES)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. Europe/Paris).")


def validate_status_categories(value: object) -> None:
    if not isinstance(value, dict) or not value:
        raise ValidationError("The status mapping must be a non-empty object of name: category.")
    allowed = set(Category.values)
    wrong = sorted(name for name, category in value.items() if category not in allowed)
    if wrong:
        raise ValidationError(
            f"Unknown category for {', '.join(wrong)}; use one of {', '.join(sorted(allowed))}."
        )


class Portfolio(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_portfolio_members", "Grant and revoke roles in the portfolio"),
            ("approve_portfolio_prioritization", "Approve or reject prioritizations"),
            ("update_portfolio_kpis", "Update the KPIs of every project in the portfolio"),
        ]

    def __str__(self) -> str:
        return self.name


project_key_validator = RegexValidator(
    r"^[A-Z][A-Z0-9]{1,9}$", "A project key is 2-10 capital letters or digits, e.g. PAY or XD2."
)


class Project(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ON_HOLD = "on_hold", "On hold"
        CLOSED = "closed", "Closed"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="projects")
    key = models.CharField(max_length=10, unique=True, validators=[project_key_validator])
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    target_date = models.DateField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    status_categories = models.JSONField(
        default=default_status_categories, validators=[validate_status_categories]
    )
    data_as_of = models.DateTimeField(
        null=True,
        blank=True,
        help_text="For imported snapshots: the instant the data describes. Metrics that depend "
        "on 'now' (WIP age, forecasts, recent throughput) are evaluated at this instant.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        permissions = [
            ("manage_project_members", "Grant and revoke roles on the project"),
            ("update_project_kpis", "Update the project's KPIs"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "name"], name="project_name_in_portfolio"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"

    def metrics_now(self, now):
        """The instant 'now' means for this project's metrics: its snapshot time if imported
        from a snapshot, else the real now."""
        return self.data_as_of or now

    def category_of(self, status: str) -> str | None:
        """The category of a status name, case-insensitively; None if the name is unknown."""
        if status in self.status_categories:
            return self.status_categories[status]
        folded = status.casefold()
        for name, category in self.status_categories.items():
            if name.casefold() == folded:
                return category
        return None


class TeamMembership(models.Model):
    """Who works on a project, as seen by the team (roles and rights live in governance)."""

    class Role(models.TextChoices):
        LEAD = "lead", "Team lead"
        MEMBER = "member", "Member"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "role", "user"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project.key} ({self.role})"


class Sprint(models.Model):
    class State(models.TextChoices):
        FUTURE = "future", "Future"
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sprints")
    name = models.CharField(max_length=120)
    external_id = models.CharField(max_length=64, blank=True)
    goal = models.TextField(blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.FUTURE)
    membership_known = models.BooleanField(
        default=True,
        help_text=(
            "Whether items are linked to this sprint. Without links (trackers that export only"
            " the sprint windows) velocity is the points resolved inside the window, and"
            " committed points, say/do and burndown are not defined."
        ),
    )

    frozen_figures = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text=(
            "The sprint figures of a closed sprint, computed once by the metrics engine after"
            " its history was written (metrics.freezing); empty means compute them live."
        ),
    )

    objects = SprintQuerySet.as_manager()

    class Meta:
        ordering = ["project", "start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="sprint_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(completed_at__gt=models.F("start")),
                name="sprint_completes_after_start",
            ),
            models.UniqueConstraint(fields=["project", "name"], name="sprint_name_in_project"),
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=~Q(external_id=""),
                name="sprint_external_id_in_project",
            ),
        ]
        indexes = [models.Index(fields=["project", "state", "start"], name="sprint_project_state")]

    def __str__(self) -> str:
        return f"{self.project.key} {self.name}"

    @property
    def close(self):
        """End of the sprint's window: the complete time if set, else the planned end."""
        return self.completed_at or self.end


class ProjectDependency(models.Model):
    """`project` needs something `depends_on` delivers: a late provider puts the dependent
    project at risk, which the agents' risk scan reports."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dependencies")
    depends_on = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dependents")
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "depends_on"]
        verbose_name_plural = "project dependencies"
        constraints = [
            models.UniqueConstraint(fields=["project", "depends_on"], name="dependency_once"),
            models.CheckConstraint(
                condition=~Q(project=models.F("depends_on")), name="dependency_not_on_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} depends on {self.depends_on}"


class Epic(models.Model):
    """A portfolio-level piece of work, ranked by WSJF (SAFe) unless a decision re-ranks it."""

    class Status(models.TextChoices):
        FUNNEL = "funnel", "Funnel"
        ANALYZING = "analyzing", "Analyzing"
        READY = "ready", "Ready"
        IMPLEMENTING = "implementing", "Implementing"
        DONE = "done", "Done"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="epics")
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="epics"
    )
    key = models.CharField(max_length=32, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.FUNNEL)
    business_value = models.PositiveSmallIntegerField(choices=WSJF_CHOICES)
    time_criticality = models.PositiveSmallIntegerField(choices=WSJF_CHOICES)
    risk_reduction = models.PositiveSmallIntegerField(
        choices=WSJF_CHOICES, help_text="Risk reduction / opportunity enablement"
    )
    job_size = models.PositiveSmallIntegerField(choices=WSJF_CHOICES)
    rank = models.PositiveIntegerField(help_text="Position in the portfolio backlog, 1 = first")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["portfolio", "rank"]
        constraints = [
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{field}__in": WSJF_SCALE}), name=f"epic_{field}_on_wsjf_scale"
                )
                for field in ("business_value", "time_criticality", "risk_reduction", "job_size")
            ],
            models.UniqueConstraint(
                fields=["portfolio", "rank"],
                name="epic_rank_unique_in_portfolio",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.title}"

    @property
    def cost_of_delay(self) -> int:
        return self.business_value + self.time_criticality + self.risk_reduction

    @property
    def wsjf(self) -> Decimal:
        return (Decimal(self.cost_of_delay) / Decimal(self.job_size)).quantize(Decimal("0.01"))


class WorkItem(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="work_items")
    key = models.CharField(max_length=32, unique=True)
    type = models.CharField(max_length=40, default="Story")
    title = models.CharField(max_length=300, blank=True)
    story_points = models.DecimalField(
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    status = models.CharField(max_length=60)
    category = models.CharField(max_length=12, choices=Category.choices)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    sprint = models.ForeignKey(
        Sprint, on_delete=models.SET_NULL, null=True, blank=True, related_name="work_items"
    )
    epic = models.ForeignKey(
        Epic, on_delete=models.SET_NULL, null=True, blank=True, related_name="work_items"
    )
    rank = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)

    objects = WorkItemQuerySet.as_manager()

    class Meta:
        ordering = ["project", "rank", "key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(story_points__isnull=True) | Q(story_points__gte=0),
                name="work_item_points_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(category="done") | Q(done_at__isnull=False),
                name="done_work_item_has_done_time",
            ),
            models.CheckConstraint(
                condition=Q(category="done") | Q(done_at__isnull=True),
                name="only_done_work_item_has_done_time",
            ),
        ]
        indexes = [
            # started_at included: throughput and cycle time scans are index-only
            models.Index(
                fields=["project", "done_at"], include=["started_at"], name="work_item_project_done"
            ),
            models.Index(fields=["project", "created_at"], name="work_item_project_created"),
            # story_points included: open scope (count and points) is an index-only scan
            models.Index(
                fields=["project", "category"],
                include=["story_points"],
                name="work_item_project_category",
            ),
            models.Index(fields=["sprint"], name="work_item_sprint"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.title}"


class WorkItemEvent(models.Model):
    """One change in a work item's history: a status, sprint membership or points change."""

    class Kind(models.TextChoices):
        STATUS = "status", "Status change"
        SPRINT = "sprint", "Sprint change"
        POINTS = "points", "Story points change"

    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="events")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="work_item_events")
    kind = models.CharField(max_length=6, choices=Kind.choices)
    at = models.DateTimeField()
    from_status = models.CharField(max_length=60, blank=True)
    to_status = models.CharField(max_length=60, blank=True)
    from_category = models.CharField(max_length=12, choices=Category.choices, blank=True)
    to_category = models.CharField(max_length=12, choices=Category.choices, blank=True)
    from_sprint = models.ForeignKey(
        Sprint, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    to_sprint = models.ForeignKey(
        Sprint, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    from_points = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    to_points = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)

    class Meta:
        ordering = ["work_item", "at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="status") | (~Q(to_status="") & ~Q(to_category="")),
                name="status_event_names_its_status",
            ),
            models.CheckConstraint(
                condition=~Q(kind="sprint")
                | Q(from_sprint__isnull=False)
                | Q(to_sprint__isnull=False),
                name="sprint_event_names_a_sprint",
            ),
        ]
        indexes = [
            models.Index(fields=["work_item", "at"], name="event_item_at"),
            models.Index(fields=["project", "kind", "at"], name="event_project_kind_at"),
            models.Index(fields=["to_sprint"], name="event_to_sprint", condition=Q(kind="sprint")),
            models.Index(
                fields=["from_sprint"], name="event_from_sprint", condition=Q(kind="sprint")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.work_item_id} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


class HistoryImportJob(models.Model):
    """One upload of history files, imported in the background by a Celery worker.

    The files are kept in the row (`files`: file name -> text, small CSVs; this deployment has
    no media storage), so the worker needs only the job id. Live progress goes to the cache
    while the import's single transaction runs (a progress row written inside it would stay
    invisible until the commit); `stage` and `progress_*` hold the last progress once the job
    has finished. `report` and `errors` are JSON as the page shows them.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    portfolio_name = models.CharField(max_length=120)
    portfolio = models.ForeignKey(
        Portfolio,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The portfolio imported into, once the import has succeeded.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="history_import_jobs",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    files = models.JSONField(default=dict, help_text="File name -> the uploaded text.")
    file_sizes = models.JSONField(default=dict, help_text="File name -> size in bytes.")
    stage = models.CharField(max_length=120, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text='"file:line: reason" each.')

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="import_job_requester"),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} into {self.portfolio_name} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @staticmethod
    def progress_cache_key(job_id: int) -> str:
        """Cache key of a running job's live progress."""
        return f"history-import-job:{job_id}:progress"
