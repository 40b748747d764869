"""Writing a checked import: upserts by natural key, in bulk, only what differs.

Called inside the service's transaction. Everything is first planned against the rows read
in a handful of queries (no query per row), conflicts with the database are reported with the
file and line of the row that causes them, and only an error-free plan is written. Natural
keys: Project.key, Sprint (project, external_id = sprint_id), WorkItem.key; an item's events
are kept as they are when they equal the history the input gives, else replaced as a whole,
so a second import of the same files changes no row (and no id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from metrics.freezing import sprint_figures_freeze
from portfolio.events import sprint_closed
from portfolio.importing.csv_reader import ISSUES, PROJECTS, SPRINTS, ImportData, SprintRow
from portfolio.importing.history import (
    ItemPlan,
    StatusMap,
    extend_status_maps,
    plan_items,
)
from portfolio.importing.report import ImportProgress, ImportReport, ProgressCallback
from portfolio.models import (
    DEFAULT_STATUS_CATEGORIES,
    Portfolio,
    Project,
    Sprint,
    WorkItem,
    WorkItemEvent,
)

BATCH_SIZE = 1000
ITEM_FIELDS = (
    "type", "title", "story_points", "status", "category", "created_at", "started_at",
    "done_at", "sprint_id",
)  # fmt: skip
SPRINT_FIELDS = ("name", "start", "end", "completed_at", "state", "membership_known")
EVENT_FIELDS = (
    "kind", "at", "from_status", "to_status", "from_category", "to_category",
    "from_sprint_id", "to_sprint_id", "from_points", "to_points",
)  # fmt: skip


def portfolio_find(name: str) -> Portfolio | None:
    """The portfolio an import names: by name (any case), else by the slug of the name."""
    return (
        Portfolio.objects.filter(name__iexact=name).first()
        or Portfolio.objects.filter(slug=slugify(name)).first()
    )


def portfolio_lock_or_create(name: str, report: ImportReport) -> Portfolio | None:
    """Lock the target portfolio for the transaction (two imports into one portfolio run one
    after the other), creating it when missing."""
    existing = portfolio_find(name)
    if existing is not None:
        return Portfolio.objects.select_for_update().get(pk=existing.pk)
    slug = slugify(name)[:60].strip("-")
    if not slug or len(name) > 120:
        report.error("", None, f"portfolio name {name!r} needs 1-120 characters, with a letter")
        return None
    report.portfolio_created = True
    return Portfolio.objects.create(name=name, slug=slug)


@dataclass
class _Projects:
    by_key: dict[str, Project] = field(default_factory=dict)
    new: list[Project] = field(default_factory=list)
    changed: list[Project] = field(default_factory=list)
    statuses: dict[str, StatusMap] = field(default_factory=dict)
    as_of: dict[str, dt.datetime | None] = field(default_factory=dict)


def _plan_projects(data: ImportData, portfolio: Portfolio, report: ImportReport) -> _Projects:
    plan = _Projects()
    keys = [row.key for row in data.projects]
    existing = {
        project.key: project
        for project in Project.objects.select_for_update(of=("self",))
        .select_related("portfolio")
        .filter(key__in=keys)
    }
    owners = dict(Project.objects.filter(portfolio=portfolio).values_list("name", "key").order_by())
    for row in data.projects:
        project = existing.get(row.key)
        if project is not None and project.portfolio_id != portfolio.pk:
            report.error(
                PROJECTS,
                row.line,
                f"project {row.key} belongs to portfolio {project.portfolio.name!r}; "
                "import it into that portfolio",
            )
            continue
        if owners.setdefault(row.name, row.key) != row.key:
            report.error(
                PROJECTS, row.line, f"name {row.name!r} is taken by project {owners[row.name]}"
            )
            continue
        if project is None:
            project = Project(portfolio=portfolio, key=row.key, name=row.name)
            project.status_categories = dict(DEFAULT_STATUS_CATEGORIES)
            project.time_zone = row.time_zone
            plan.new.append(project)
        plan.by_key[row.key] = project
        plan.statuses[row.key] = StatusMap(project.status_categories)
        plan.as_of[row.key] = row.data_as_of
    extend_status_maps(data, plan.statuses)
    return plan


def _latest_instants(data: ImportData, plans: Sequence[ItemPlan]) -> dict[str, dt.datetime | None]:
    """Per project key, the latest instant the imported rows record: item creation, every
    event of the planned history (a done item's resolved time among them), sprint start, end
    and completion. None for a project the files give no item or sprint."""
    latest: dict[str, dt.datetime | None] = {row.key: None for row in data.projects}

    def seen(key: str, *instants: dt.datetime | None) -> None:
        known = [instant for instant in (latest.get(key), *instants) if instant is not None]
        latest[key] = max(known) if known else None

    for sprint in data.sprints:
        seen(sprint.project, sprint.start, sprint.end, sprint.completed_at)
    for plan in plans:
        seen(plan.row.project, plan.created_at, *(event.at for event in plan.events))
    return latest


def _settle_projects(
    data: ImportData, projects: _Projects, plans: Sequence[ItemPlan], report: ImportReport
) -> None:
    """Each project's final columns, once every item is planned (planning may still extend a
    status mapping): new projects take them, existing ones that differ go to `changed`.

    data_as_of is the file's value; an empty cell (historical, fully closed data) becomes the
    latest instant of the project's imported rows, so that metrics depending on "now" are
    evaluated at the end of the history instead of today. Derivations (sprint states, dates of
    items without `created` or `resolved`) still read the empty cell as "no snapshot"."""
    latest = _latest_instants(data, plans)
    for row in data.projects:
        project = projects.by_key.get(row.key)
        if project is None:
            continue
        statuses = projects.statuses[row.key]
        if statuses.added:
            report.unknown_statuses[row.key] = statuses.added
        as_of = row.data_as_of if row.data_as_of is not None else latest[row.key]
        wanted = (row.name, row.time_zone, statuses.mapping, as_of)
        current = (project.name, project.time_zone, project.status_categories, project.data_as_of)
        if project.pk is None:
            project.status_categories, project.data_as_of = statuses.mapping, as_of
        elif wanted != current:
            project.name, project.time_zone, project.status_categories, project.data_as_of = wanted
            project.version += 1
            projects.changed.append(project)


def _sprint_state(row: SprintRow, as_of: dt.datetime | None) -> str:
    """The state when the file leaves it empty: from the dates, as at data_as_of (no
    data_as_of means historical, fully closed data)."""
    if row.state is not None:
        return row.state
    if row.completed_at is not None or as_of is None or row.end <= as_of:
        return Sprint.State.CLOSED
    return Sprint.State.ACTIVE if row.start <= as_of else Sprint.State.FUTURE


def _plan_sprints(
    data: ImportData, projects: _Projects, report: ImportReport
) -> tuple[dict[tuple[str, str], Sprint], list[Sprint], list[Sprint], list[Sprint]]:
    """The sprints by (project key, sprint id), the new ones, the changed ones, and the
    changed ones this import closes."""
    existing: dict[tuple[str, str], Sprint] = {}
    names: dict[tuple[str, str], str] = {}  # (project key, name) -> external id
    stored = Sprint.objects.filter(project__in=[p for p in projects.by_key.values() if p.pk])
    for sprint in stored.select_related("project"):
        existing[sprint.project.key, sprint.external_id] = sprint
        names[sprint.project.key, sprint.name] = sprint.external_id
    for row in data.sprints:
        renamed = existing.get((row.project, row.sprint_id))
        if renamed is not None:  # the file names it anew: its stored name is free
            names.pop((row.project, renamed.name), None)
    by_id: dict[tuple[str, str], Sprint] = {}
    new, changed, closed = [], [], []
    for row in data.sprints:
        project = projects.by_key.get(row.project)
        if project is None:
            continue
        owner = names.setdefault((row.project, row.name), row.sprint_id)
        if owner != row.sprint_id:
            shown = f"sprint {owner}" if owner else "a sprint created in the application"
            report.error(SPRINTS, row.line, f"name {row.name!r} is taken by {shown}")
            continue
        wanted = (
            row.name,
            row.start,
            row.end,
            row.completed_at,
            _sprint_state(row, projects.as_of[row.project]),
            row.membership_known,
        )
        sprint = existing.get((row.project, row.sprint_id))
        if sprint is None:
            sprint = Sprint(project=project, external_id=row.sprint_id)
            new.append(sprint)
        elif tuple(getattr(sprint, name) for name in SPRINT_FIELDS) != wanted:
            changed.append(sprint)
            if sprint.state != Sprint.State.CLOSED and wanted[4] == Sprint.State.CLOSED:
                closed.append(sprint)
        for name, value in zip(SPRINT_FIELDS, wanted, strict=True):
            setattr(sprint, name, value)
        by_id[row.project, row.sprint_id] = sprint
    return by_id, new, changed, closed


def _existing_items(plans: Sequence[ItemPlan], report: ImportReport) -> dict[str, WorkItem]:
    keys = [plan.row.key for plan in plans]
    stored = WorkItem.objects.select_for_update(of=("self",)).select_related("project")
    existing = {item.key: item for item in stored.filter(key__in=keys)}
    for plan in plans:
        item = existing.get(plan.row.key)
        if item is not None and item.project.key != plan.row.project:
            report.error(
                ISSUES,
                plan.row.line,
                f"key {plan.row.key} belongs to project {item.project.key}, not {plan.row.project}",
            )
    return existing


def _stored_events(item_ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    events: dict[int, list[tuple[Any, ...]]] = {}
    rows = WorkItemEvent.objects.filter(work_item_id__in=item_ids).order_by(
        "work_item_id", "at", "id"
    )
    for work_item_id, *values in rows.values_list("work_item_id", *EVENT_FIELDS):
        events.setdefault(work_item_id, []).append(tuple(values))
    return events


def _event_values(plan: ItemPlan, sprints: dict[tuple[str, str], Sprint]) -> list[tuple[Any, ...]]:
    """The item's events as EVENT_FIELDS tuples: compared with the stored ones as they are,
    turned into model instances only when they must be inserted."""

    def sprint_pk(sprint_id: str | None) -> int | None:
        return None if sprint_id is None else sprints[plan.row.project, sprint_id].pk

    return [
        (
            event.kind,
            event.at,
            event.from_status,
            event.to_status,
            event.from_category,
            event.to_category,
            sprint_pk(event.from_sprint),
            sprint_pk(event.to_sprint),
            event.from_points,
            event.to_points,
        )
        for event in plan.events
    ]


def _write_projects_and_sprints(
    projects: _Projects,
    sprints: dict[tuple[str, str], Sprint],
    new_sprints: list[Sprint],
    changed_sprints: list[Sprint],
    report: ImportReport,
) -> None:
    Project.objects.bulk_create(projects.new)
    Project.objects.bulk_update(
        projects.changed, ["name", "time_zone", "status_categories", "data_as_of", "version"]
    )
    report.projects.created, report.projects.updated = len(projects.new), len(projects.changed)
    report.projects.unchanged = len(projects.by_key) - len(projects.new) - len(projects.changed)
    for sprint in new_sprints:
        sprint.project_id = sprint.project.pk
    # Renames first, so a new sprint may take a name the file moved off an existing one.
    Sprint.objects.bulk_update(changed_sprints, list(SPRINT_FIELDS), batch_size=BATCH_SIZE)
    Sprint.objects.bulk_create(new_sprints, batch_size=BATCH_SIZE)
    report.sprints.created, report.sprints.updated = len(new_sprints), len(changed_sprints)
    report.sprints.unchanged = len(sprints) - len(new_sprints) - len(changed_sprints)


def _in_batches(
    rows: Sequence[Any],
    write: Callable[[Sequence[Any]], object],
    stage: str,
    progress: ProgressCallback | None,
) -> None:
    """`write` the rows BATCH_SIZE at a time, reporting progress after each batch when there
    is more than one (a large upload then shows its writing advance, a small one stays quiet)."""
    for start in range(0, len(rows), BATCH_SIZE):
        write(rows[start : start + BATCH_SIZE])
        if progress is not None and len(rows) > BATCH_SIZE:
            progress(ImportProgress(stage, min(start + BATCH_SIZE, len(rows)), len(rows)))


def _write_items(
    plans: list[ItemPlan],
    existing: dict[str, WorkItem],
    projects: _Projects,
    sprints: dict[tuple[str, str], Sprint],
    report: ImportReport,
    progress: ProgressCallback | None,
) -> list[WorkItem]:
    """Insert the new items, update the ones that differ (version + 1); in plan order."""
    new_items, changed_items, items = [], [], []
    for plan in plans:
        wanted = (
            plan.row.type,
            plan.row.title,
            plan.story_points,
            plan.status,
            plan.category,
            plan.created_at,
            plan.started_at,
            plan.done_at,
            None if plan.sprint is None else sprints[plan.row.project, plan.sprint].pk,
        )
        item = existing.get(plan.row.key)
        if item is None:
            item = WorkItem(project=projects.by_key[plan.row.project], key=plan.row.key)
            new_items.append(item)
        # Decimal("3.0") == Decimal("3"): points read back from the database compare equal.
        elif tuple(getattr(item, name) for name in ITEM_FIELDS) != wanted:
            item.version += 1
            changed_items.append(item)
        for name, value in zip(ITEM_FIELDS, wanted, strict=True):
            setattr(item, name, value)
        items.append(item)
    _in_batches(new_items, WorkItem.objects.bulk_create, "Inserting work items", progress)
    _in_batches(
        changed_items,
        lambda batch: WorkItem.objects.bulk_update(batch, [*ITEM_FIELDS, "version"]),
        "Updating work items",
        progress,
    )
    report.items.created, report.items.updated = len(new_items), len(changed_items)
    report.items.unchanged = len(items) - len(new_items) - len(changed_items)
    return items


def _write_events(
    plans: list[ItemPlan],
    items: list[WorkItem],
    existing: dict[str, WorkItem],
    sprints: dict[tuple[str, str], Sprint],
    report: ImportReport,
    progress: ProgressCallback | None,
) -> None:
    """Keep an item's events when they equal its planned history, else replace them all."""
    stored_events = _stored_events([item.pk for item in existing.values()])
    to_insert: list[WorkItemEvent] = []
    replaced: list[int] = []
    for plan, item in zip(plans, items, strict=True):
        values = _event_values(plan, sprints)
        stored = stored_events.get(item.pk, [])
        if values == stored:
            report.events.unchanged += len(stored)
            continue
        if stored:
            replaced.append(item.pk)
        to_insert += [
            WorkItemEvent(
                work_item_id=item.pk,
                project_id=item.project_id,
                **dict(zip(EVENT_FIELDS, row, strict=True)),
            )
            for row in values
        ]
    if replaced:
        report.events.deleted, _ = WorkItemEvent.objects.filter(work_item_id__in=replaced).delete()
    _in_batches(to_insert, WorkItemEvent.objects.bulk_create, "Inserting events", progress)
    report.events.created = len(to_insert)


def write_import(
    data: ImportData,
    *,
    portfolio: Portfolio,
    report: ImportReport,
    progress: ProgressCallback | None = None,
) -> None:
    """Plan the whole import against the database; write it only if no row has an error."""
    if progress is not None:
        progress(ImportProgress("Checking against the database"))
    projects = _plan_projects(data, portfolio, report)
    if report.errors:  # the other files' rows would only repeat the project's error
        return
    plans = plan_items(data, statuses=projects.statuses, as_of=projects.as_of, report=report)
    sprints, new_sprints, changed_sprints, closed_sprints = _plan_sprints(data, projects, report)
    existing = _existing_items(plans, report)
    if report.errors:
        return
    _settle_projects(data, projects, plans, report)
    if progress is not None:
        progress(ImportProgress("Checked; writing", len(plans), len(plans)))
    _write_projects_and_sprints(projects, sprints, new_sprints, changed_sprints, report)
    items = _write_items(plans, existing, projects, sprints, report, progress)
    if progress is not None:
        progress(ImportProgress("Work items written", len(items), len(items)))
    _write_events(plans, items, existing, sprints, report, progress)
    if progress is not None:
        progress(ImportProgress("Events written", report.events.created, report.events.created))
    sprint_figures_freeze(project_ids=[project.pk for project in projects.by_key.values()])
    _announce_closed_sprints(closed_sprints)


def _announce_closed_sprints(closed: Sequence[Sprint]) -> None:
    """Tell the other apps (the agents' risk scan) about sprints this import closed, once
    the import has committed; sprints that arrive already closed are history, not news."""
    events = [
        {
            "sprint_id": sprint.pk,
            "project_id": sprint.project_id,
            "portfolio_id": sprint.project.portfolio_id,
        }
        for sprint in closed
    ]

    def send() -> None:
        for event in events:
            sprint_closed.send(sender=Sprint, **event)

    if events:
        transaction.on_commit(send)
