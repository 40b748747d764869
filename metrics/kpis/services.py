"""Writes of KPIs: definitions, measurements (record, correct), computed refreshes.

Every service checks the actor's right first (PermissionDenied; views and the API resolve
the object among the visible ones before, so an invisible one is already a 404), validates
everything it is given and reports every problem at once (ValidationError with field
messages), then changes state in one transaction together with the measurement's revision
(the KPI's history) and the decision-log entry, and publishes `kpi_measurement_recorded`
after the commit (metrics.events; `send_robust`, so a failing receiver cannot turn a
committed change into an error page).

Concurrency:
- Adding a value locks the KPI row first, so two people adding the same period queue and
  the second is told the period already has a value (the unique constraint backs it up).
- Correcting a value sends the version it was read at: the row is locked and the UPDATE is
  `... WHERE id = %s AND version = %s`; a changed version raises MeasurementConflict with
  the current value and who set it, and nothing is written. A definition works the same
  way (KpiConflict).

Decisions where the issue is silent:
- A correction that changes neither the value nor the note writes nothing (no revision, no
  log entry, no event); a correction's note is optional, and it replaces the note.
- Measurements of a retired (inactive) KPI cannot be added or corrected (reactivate it
  first); a computed KPI's measurements come only from its refresh.
- A KPI's cadence and flow metric cannot change once it has measurements (their periods
  would no longer match); define a new KPI instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from governance.models import DecisionKind
from governance.services import decision_record
from metrics.events import kpi_measurement_recorded
from metrics.kpis import access, computed, importing, periods
from metrics.kpis.rag import Status, kpi_status, thresholds_error
from metrics.kpis.text import instant_text, value_text
from metrics.kpis.validation import NOTE_MAX_LENGTH, parse_value, range_error
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from portfolio.models import Portfolio, Project, Sprint

NON_FIELD = "__all__"

Source = KPIMeasurement.Source
Change = KPIMeasurementRevision.Change


class KpiConflict(Exception):
    """The KPI definition changed since the version the caller read."""


class MeasurementConflict(Exception):
    """The measurement changed since the version the caller read; nothing was written.

    `current` is the measurement as it stands now (value, version, who set it, when)."""

    def __init__(self, *, current: KPIMeasurement, attempted: Decimal | None) -> None:
        self.current = current
        self.attempted = attempted
        who = current.entered_by.get_username() if current.entered_by else "the system"
        unit = current.kpi.unit
        attempted_text = (
            f"; your value {value_text(attempted, unit)} was not saved"
            if attempted is not None
            else "; nothing was saved"
        )
        super().__init__(
            f"{who} changed this value to {value_text(current.value, unit)} at "
            f"{instant_text(current.entered_at)} (version {current.version}){attempted_text}. "
            "Review the current value and save again if yours should replace it."
        )

    @property
    def changed_by(self) -> str:
        return self.current.entered_by.get_username() if self.current.entered_by else "system"


# --- validation ----------------------------------------------------------------------------


def kpi_today(kpi: KPI) -> dt.date:
    """Today in the KPI's time zone: the project's, UTC for a portfolio KPI."""
    return periods.local_today(kpi.project.time_zone if kpi.project_id else "UTC")


def kpi_sprint_starts(kpi: KPI) -> tuple[dt.date, ...]:
    """Local start dates of the project's sprints (per-sprint KPIs only; one query)."""
    if kpi.cadence != KPI.Cadence.PER_SPRINT or kpi.project_id is None:
        return ()
    starts = Sprint.objects.filter(project_id=kpi.project_id).values_list("start", flat=True)
    return periods.sprint_start_dates(list(starts), kpi.project.time_zone)


def _check_writable(kpi: KPI, errors: dict[str, list[str]]) -> None:
    if not kpi.active:
        errors.setdefault(NON_FIELD, []).append(
            f"{kpi.name} is retired: its values cannot change. A PMO leader can reactivate it."
        )
    elif kpi.is_computed:
        errors.setdefault(NON_FIELD, []).append(
            f"{kpi.name} is computed from the {kpi.get_computed_from_display().lower()}; it "
            "updates itself from the work-item history and cannot be typed in."
        )


def _clean_value(kpi: KPI, raw: object, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        value = parse_value(raw)
    except ValueError as error:
        errors.setdefault("value", []).append(f"The value {error}.")
        return None
    problem = range_error(kpi, value)
    if problem:
        errors.setdefault("value", []).append(problem)
        return None
    return value


def _clean_note(raw: object, errors: dict[str, list[str]]) -> str:
    note = "" if raw is None else str(raw).strip()
    if len(note) > NOTE_MAX_LENGTH:
        errors.setdefault("note", []).append(
            f"Keep the note under {NOTE_MAX_LENGTH:,} characters (it has {len(note):,})."
        )
    return note


def _clean_period(kpi: KPI, period_start: object, errors: dict[str, list[str]]) -> dt.date | None:
    if isinstance(period_start, dt.datetime):
        errors.setdefault("period_start", []).append("Enter a date, not a date and time.")
        return None
    if not isinstance(period_start, dt.date):
        try:
            period_start = dt.date.fromisoformat(str(period_start).strip())
        except ValueError:
            errors.setdefault("period_start", []).append("Enter a date as YYYY-MM-DD.")
            return None
    problem = periods.period_error(
        cadence=kpi.cadence,
        period_start=period_start,
        today=kpi_today(kpi),
        sprint_starts=kpi_sprint_starts(kpi),
    )
    if problem:
        errors.setdefault("period_start", []).append(problem)
        return None
    return period_start


def measurement_status(kpi: KPI, value: Decimal | None) -> Status:
    return kpi_status(
        direction=kpi.direction,
        value=value,
        amber_threshold=kpi.amber_threshold,
        red_threshold=kpi.red_threshold,
    )


# --- audit and events -----------------------------------------------------------------------


def kpi_label(kpi: KPI) -> str:
    scope = kpi.project.key if kpi.project_id else kpi.portfolio.name
    return f"{scope} KPI '{kpi.name}'"


def _log(
    *,
    kind: DecisionKind,
    actor: AbstractBaseUser | None,
    kpi: KPI,
    summary: str,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    rationale: str = "",
) -> None:
    decision_record(
        kind=kind,
        actor=actor,
        portfolio=kpi.portfolio,
        subject=kpi.scope_label,
        summary=summary,
        rationale=rationale,
        inputs=inputs,
        outputs=outputs,
    )


def publish_recorded(*, measurement: KPIMeasurement, kpi: KPI, status: Status) -> None:
    """Send `kpi_measurement_recorded` once the current transaction commits (metrics.events).
    The payload is built now, from plain values, so the receiver never reads a row the
    sender may still change."""
    payload = {
        "measurement_id": measurement.pk,
        "kpi_id": kpi.pk,
        "project_id": kpi.project_id,
        "portfolio_id": kpi.portfolio_id,
        "status": status,
    }
    transaction.on_commit(
        lambda: kpi_measurement_recorded.send_robust(sender=KPIMeasurement, **payload)
    )


def _revision(
    *,
    measurement: KPIMeasurement,
    change: str,
    old_value: Decimal | None,
    old_note: str,
    actor: AbstractBaseUser | None,
) -> KPIMeasurementRevision:
    return KPIMeasurementRevision(
        measurement=measurement,
        kpi_id=measurement.kpi_id,
        period_start=measurement.period_start,
        version=measurement.version,
        change=change,
        old_value=old_value,
        new_value=measurement.value,
        old_note=old_note,
        note=measurement.note,
        source=measurement.source,
        changed_by=actor,
        changed_at=measurement.entered_at,
    )


# --- measurements ----------------------------------------------------------------------------


def _check_can_record(actor: AbstractBaseUser, kpi: KPI) -> None:
    if not access.can_record(actor, kpi):
        raise PermissionDenied("You may not change this KPI's values.")


def kpi_measurement_record(
    *,
    actor: AbstractBaseUser,
    kpi: KPI,
    period_start: dt.date | str,
    value: object,
    note: str = "",
) -> KPIMeasurement:
    """Add the value of a manual KPI for a period that has none yet."""
    _check_can_record(actor, kpi)
    errors: dict[str, list[str]] = {}
    _check_writable(kpi, errors)
    clean_value = _clean_value(kpi, value, errors)
    clean_note = _clean_note(note, errors)
    period = _clean_period(kpi, period_start, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        KPI.objects.select_for_update(of=("self",)).filter(pk=kpi.pk).values_list("pk").get()
        existing = (
            KPIMeasurement.objects.filter(kpi=kpi, period_start=period)
            .select_related("entered_by")
            .first()
        )
        if existing is not None:
            who = existing.entered_by.get_username() if existing.entered_by else "the system"
            raise ValidationError(
                {
                    "period_start": (
                        f"{periods.period_label(kpi.cadence, period).capitalize()} already has "
                        f"a value ({value_text(existing.value, kpi.unit)}, entered by {who}); "
                        "correct that value instead of adding another."
                    )
                }
            )
        measurement = KPIMeasurement.objects.create(
            kpi=kpi,
            period_start=period,
            value=clean_value,
            note=clean_note,
            source=Source.MANUAL,
            entered_by=actor,
            entered_at=timezone.now(),
        )
        _revision(
            measurement=measurement,
            change=Change.RECORDED,
            old_value=None,
            old_note="",
            actor=actor,
        ).save()
        status = measurement_status(kpi, clean_value)
        _log(
            kind=DecisionKind.KPI_CHANGE,
            actor=actor,
            kpi=kpi,
            summary=(
                f"{kpi_label(kpi)} {period.isoformat()}: recorded "
                f"{value_text(clean_value, kpi.unit)} ({status})"
            ),
            rationale=clean_note,
            inputs={"kpi_id": kpi.pk, "period_start": period, "source": Source.MANUAL.value},
            outputs={
                "measurement_id": measurement.pk,
                "value": clean_value,
                "version": measurement.version,
                "status": status,
            },
        )
        publish_recorded(measurement=measurement, kpi=kpi, status=status)
    return measurement


def kpi_measurement_correct(
    *,
    actor: AbstractBaseUser,
    measurement: KPIMeasurement,
    value: object,
    note: str = "",
    version: int,
) -> KPIMeasurement:
    """Replace a measurement's value (and note), keeping the old one in its history.

    `version` is the version the caller read; if someone changed the value since, nothing is
    written and MeasurementConflict says who changed it to what."""
    kpi = measurement.kpi
    _check_can_record(actor, kpi)
    errors: dict[str, list[str]] = {}
    _check_writable(kpi, errors)
    clean_value = _clean_value(kpi, value, errors)
    clean_note = _clean_note(note, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # No select_related here: a FOR UPDATE that waited for another writer re-reads the
        # locked row only, so joined columns (who entered it) would be the stale ones.
        current = KPIMeasurement.objects.select_for_update().get(pk=measurement.pk)
        current.kpi = kpi
        if current.version != version:
            raise MeasurementConflict(current=current, attempted=clean_value)
        if current.value == clean_value and current.note == clean_note:
            return current
        now = timezone.now()
        updated = KPIMeasurement.objects.filter(pk=current.pk, version=version).update(
            value=clean_value,
            note=clean_note,
            source=Source.MANUAL,
            entered_by=actor,
            entered_at=now,
            version=F("version") + 1,
        )
        if updated != 1:  # the lock above makes this unreachable; the WHERE is the guarantee
            raise MeasurementConflict(current=current, attempted=clean_value)
        old_value, old_note = current.value, current.note
        current.refresh_from_db()
        _revision(
            measurement=current,
            change=Change.CORRECTED,
            old_value=old_value,
            old_note=old_note,
            actor=actor,
        ).save()
        status = measurement_status(kpi, clean_value)
        _log(
            kind=DecisionKind.KPI_CORRECTION,
            actor=actor,
            kpi=kpi,
            summary=(
                f"{kpi_label(kpi)} {current.period_start.isoformat()}: corrected "
                f"{value_text(old_value, kpi.unit)} -> {value_text(clean_value, kpi.unit)} "
                f"({status})"
            ),
            rationale=clean_note,
            inputs={
                "kpi_id": kpi.pk,
                "measurement_id": current.pk,
                "period_start": current.period_start,
                "read_version": version,
            },
            outputs={
                "old_value": old_value,
                "value": clean_value,
                "old_note": old_note,
                "note": clean_note,
                "version": current.version,
                "status": status,
            },
        )
        publish_recorded(measurement=current, kpi=kpi, status=status)
    return current


# --- computed KPIs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComputedRefresh:
    """What a refresh of a project's computed KPIs changed."""

    kpis: int
    created: int
    updated: int
    unchanged: int

    @property
    def changed(self) -> int:
        return self.created + self.updated


def kpi_computed_refresh(
    *, project: Project, actor: AbstractBaseUser | None = None, kpi: KPI | None = None
) -> ComputedRefresh:
    """Bring the project's active computed KPIs (or just `kpi`) up to date with the work-item
    history (metrics.kpis.computed): new periods are added, changed values corrected (each
    with its revision), unchanged ones left alone. With an actor, the actor needs the right
    to update the project's KPIs; without one it runs as the system (Celery, the seed).
    One decision-log entry and one event per refresh that changed something."""
    if actor is not None and not access.can_record_in_project(actor, project):
        raise PermissionDenied("You may not change this project's KPIs.")
    kpis = KPI.objects.filter(project=project, active=True).exclude(computed_from="")
    if kpi is not None:
        kpis = kpis.filter(pk=kpi.pk)
    kpis = list(kpis.select_related("project", "portfolio"))
    if not kpis:
        return ComputedRefresh(kpis=0, created=0, updated=0, unchanged=0)
    wanted = computed_values_unsafe(project=project, kpis=kpis)
    return _apply_computed(project=project, kpis=kpis, wanted=wanted, actor=actor)


def computed_values_unsafe(
    *, project: Project, kpis: list[KPI], sprint_values: Mapping[str, Any] | None = None
) -> dict[int, dict[dt.date, Decimal]]:
    """The values each computed KPI should have, by KPI id then period start."""
    today = periods.local_today(project.time_zone, project.metrics_now(timezone.now()))
    if sprint_values is None and any(k.computed_from in computed.SPRINT_METRICS for k in kpis):
        sprint_values = computed.sprint_values_unsafe(
            project_ids=[project.pk], time_zones={project.pk: project.time_zone}
        )[project.pk]
    wanted: dict[int, dict[dt.date, Decimal]] = {}
    for item in kpis:
        if item.computed_from in computed.SPRINT_METRICS:
            values = dict((sprint_values or {}).get(item.computed_from, {}))
        else:
            values = computed.period_values_unsafe(
                project=project, metric=item.computed_from, cadence=item.cadence, today=today
            )
        wanted[item.pk] = {day: value for day, value in values.items() if day <= today}
    return wanted


def _apply_computed(
    *,
    project: Project,
    kpis: list[KPI],
    wanted: dict[int, dict[dt.date, Decimal]],
    actor: AbstractBaseUser | None,
) -> ComputedRefresh:
    created = updated = unchanged = 0
    last: tuple[KPIMeasurement, KPI] | None = None
    with transaction.atomic():
        by_id = {item.pk: item for item in kpis}
        existing = {
            (row.kpi_id, row.period_start): row
            for row in KPIMeasurement.objects.select_for_update(of=("self",)).filter(
                kpi_id__in=list(by_id)
            )
        }
        now = timezone.now()
        new_rows: list[KPIMeasurement] = []
        revisions: list[KPIMeasurementRevision] = []
        for kpi_id, values in wanted.items():
            for day, value in sorted(values.items()):
                row = existing.get((kpi_id, day))
                if row is None:
                    new_rows.append(
                        KPIMeasurement(
                            kpi_id=kpi_id,
                            period_start=day,
                            value=value,
                            source=Source.COMPUTED,
                            entered_by=actor,
                            entered_at=now,
                        )
                    )
                    continue
                if row.value == value:
                    unchanged += 1
                    continue
                old_value, old_note = row.value, row.note
                row.value, row.source, row.entered_by, row.entered_at = (
                    value,
                    Source.COMPUTED,
                    actor,
                    now,
                )
                row.version += 1
                row.save(update_fields=["value", "source", "entered_by", "entered_at", "version"])
                revisions.append(
                    _revision(
                        measurement=row,
                        change=Change.COMPUTED,
                        old_value=old_value,
                        old_note=old_note,
                        actor=actor,
                    )
                )
                updated += 1
                if last is None or row.period_start >= last[0].period_start:
                    last = (row, by_id[kpi_id])
        for row in KPIMeasurement.objects.bulk_create(new_rows, batch_size=1_000):
            revisions.append(
                _revision(
                    measurement=row,
                    change=Change.COMPUTED,
                    old_value=None,
                    old_note="",
                    actor=actor,
                )
            )
            created += 1
            if last is None or row.period_start >= last[0].period_start:
                last = (row, by_id[row.kpi_id])
        KPIMeasurementRevision.objects.bulk_create(revisions, batch_size=1_000)
        if last is not None:
            measurement, kpi = last
            status = measurement_status(kpi, measurement.value)
            decision_record(
                kind=DecisionKind.KPI_CHANGE,
                actor=actor,
                actor_label=None if actor is not None else "system (computed KPIs)",
                portfolio=project.portfolio,
                subject=f"project:{project.key}",
                summary=(
                    f"{project.key} computed KPIs refreshed from the work-item history: "
                    f"{created} added, {updated} changed"
                ),
                inputs={"kpi_ids": sorted(by_id)},
                outputs={"created": created, "updated": updated, "unchanged": unchanged},
            )
            publish_recorded(measurement=measurement, kpi=kpi, status=status)
    return ComputedRefresh(kpis=len(kpis), created=created, updated=updated, unchanged=unchanged)


# --- definitions -----------------------------------------------------------------------------

DEFINITION_FIELDS = (
    "name",
    "unit",
    "direction",
    "target",
    "amber_threshold",
    "red_threshold",
    "min_value",
    "max_value",
    "cadence",
    "computed_from",
    "owner",
    "description",
    "active",
)
NUMBER_FIELDS = ("target", "amber_threshold", "red_threshold", "min_value", "max_value")
OPTIONAL_NUMBERS = frozenset({"min_value", "max_value"})


def _definition_errors(
    fields: dict[str, Any], *, portfolio: Portfolio, project: Project | None, kpi: KPI | None
) -> dict[str, list[str]]:
    """Check a whole definition (after merging changes); fields are cleaned in place."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    name = " ".join(str(fields.get("name") or "").split())
    fields["name"] = name
    if not name:
        add("name", "Give the KPI a name.")
    elif len(name) > 80:
        add("name", "Keep the name under 80 characters.")
    else:
        same = KPI.objects.filter(portfolio=portfolio, project=project, name__iexact=name)
        if kpi is not None:
            same = same.exclude(pk=kpi.pk)
        if same.exists():
            where = project.key if project is not None else portfolio.name
            add("name", f"{where} already has a KPI named '{name}'.")
    fields["unit"] = str(fields.get("unit") or "").strip()
    if len(fields["unit"]) > 20:
        add("unit", "Keep the unit under 20 characters.")
    fields["description"] = str(fields.get("description") or "").strip()
    if fields.get("direction") not in KPI.Direction.values:
        add("direction", "Choose higher is better or lower is better.")
    if fields.get("cadence") not in KPI.Cadence.values:
        add("cadence", "Choose weekly, per sprint, monthly or quarterly.")
    elif fields["cadence"] == KPI.Cadence.PER_SPRINT and project is None:
        add("cadence", "A portfolio KPI has no sprints: choose weekly, monthly or quarterly.")
    fields["computed_from"] = fields.get("computed_from") or ""
    if fields["computed_from"] and fields["computed_from"] not in KPI.FlowMetric.values:
        add("computed_from", "Choose one of the flow metrics, or none for a manual KPI.")
    elif fields["computed_from"]:
        if project is None:
            add("computed_from", "Only a project KPI can be computed from its flow metrics.")
        problem = computed.cadence_error(fields["computed_from"], fields.get("cadence", ""))
        if problem:
            add("cadence", problem)
    for field in NUMBER_FIELDS:
        raw = fields.get(field)
        if raw in (None, "") and field in OPTIONAL_NUMBERS:
            fields[field] = None
            continue
        try:
            fields[field] = parse_value(raw if raw is not None else "")
        except ValueError as error:
            add(field, f"The value {error}.")
            fields[field] = None
    numbers_ok = all(
        fields.get(f) is not None for f in ("target", "amber_threshold", "red_threshold")
    )
    if numbers_ok and fields.get("direction") in KPI.Direction.values:
        for field, message in thresholds_error(
            direction=fields["direction"],
            target=fields["target"],
            amber_threshold=fields["amber_threshold"],
            red_threshold=fields["red_threshold"],
        ).items():
            add(field, message)
    low, high = fields.get("min_value"), fields.get("max_value")
    if low is not None and high is not None and low > high:
        add("max_value", "The highest allowed value must be at or above the lowest.")
    if kpi is not None and kpi.measurements.exists():
        for field in ("cadence", "computed_from"):
            if fields.get(field) != getattr(kpi, field):
                add(
                    field,
                    "This KPI has measurements, whose periods follow its cadence and source; "
                    "define a new KPI instead.",
                )
    fields["active"] = bool(fields.get("active", True))
    return errors


def _definition_state(kpi: KPI) -> dict[str, Any]:
    state = {field: getattr(kpi, field) for field in DEFINITION_FIELDS if field != "owner"}
    state["owner"] = kpi.owner.get_username() if kpi.owner_id else None
    return state


def kpi_create(
    *,
    actor: AbstractBaseUser,
    portfolio: Portfolio | None = None,
    project: Project | None = None,
    **definition: Any,
) -> KPI:
    """Define a KPI of a project (or, without a project, of the portfolio as a whole). PMO
    leaders of the portfolio only. A computed KPI is filled from the history at once."""
    if project is not None:
        portfolio = project.portfolio
    if portfolio is None:
        raise ValidationError({NON_FIELD: "A KPI belongs to a project or a portfolio."})
    if not access.can_define(actor, portfolio):
        raise PermissionDenied("Only the portfolio's PMO leaders define its KPIs.")
    unknown = set(definition) - set(DEFINITION_FIELDS)
    if unknown:
        raise TypeError(f"Unknown KPI fields: {', '.join(sorted(unknown))}")
    fields = {"active": True, **definition}
    errors = _definition_errors(fields, portfolio=portfolio, project=project, kpi=None)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        kpi = KPI.objects.create(portfolio=portfolio, project=project, **fields)
        _log(
            kind=DecisionKind.KPI_CHANGE,
            actor=actor,
            kpi=kpi,
            summary=f"Defined {kpi_label(kpi)}",
            inputs={"kpi_id": kpi.pk},
            outputs=_definition_state(kpi),
        )
    if kpi.is_computed and kpi.active:
        kpi_computed_refresh(project=project, kpi=kpi)
    return kpi


def kpi_update(
    *, actor: AbstractBaseUser, kpi: KPI, version: int | None = None, **changes: Any
) -> KPI:
    """Change a KPI's definition (not its project). With `version`, refuses (KpiConflict)
    when someone changed it since; logs the old and new values; no change writes nothing."""
    if not access.can_define(actor, kpi.portfolio_id):
        raise PermissionDenied("Only the portfolio's PMO leaders define its KPIs.")
    unknown = set(changes) - set(DEFINITION_FIELDS)
    if unknown:
        raise TypeError(f"Unknown KPI fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = (
            KPI.objects.select_for_update(of=("self",))
            .select_related("project", "portfolio", "owner")
            .get(pk=kpi.pk)
        )
        if version is not None and version != locked.version:
            raise KpiConflict(
                f"Someone changed this KPI since you opened it (now version {locked.version}); "
                "review it again."
            )
        fields = {field: getattr(locked, field) for field in DEFINITION_FIELDS}
        fields.update(changes)
        errors = _definition_errors(
            fields, portfolio=locked.portfolio, project=locked.project, kpi=locked
        )
        if errors:
            raise ValidationError(errors)
        old = _definition_state(locked)
        for field, value in fields.items():
            setattr(locked, field, value)
        new = _definition_state(locked)
        if new == old:
            return locked
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save()
        changed = sorted(field for field in new if new[field] != old[field])
        _log(
            kind=DecisionKind.KPI_CHANGE,
            actor=actor,
            kpi=locked,
            summary=f"Changed {kpi_label(locked)}: {', '.join(changed)}",
            inputs={"kpi_id": locked.pk, "read_version": version},
            outputs={
                "old": {field: old[field] for field in changed},
                "new": {field: new[field] for field in changed},
                "version": locked.version,
            },
        )
    if locked.is_computed and locked.active:
        kpi_computed_refresh(project=locked.project, kpi=locked)
    return locked


# --- CSV import ------------------------------------------------------------------------------


def kpi_measurements_import(
    *, actor: AbstractBaseUser, project: Project, data: bytes, filename: str = ""
) -> importing.KpiImportReport:
    """Import a CSV of measurements into the project's KPIs (format: metrics.kpis.importing):
    every row is checked first and any bad row refuses the whole file (KpiImportInvalid,
    every problem with its line); otherwise all of it is applied in one transaction, each
    changed value with its revision, one decision-log entry with the file's SHA-256 and the
    counts, and one `kpi_measurement_recorded` event for the project (the latest period
    written, so the agents scan the project once per file, not once per row)."""
    if not access.can_record_in_project(actor, project):
        raise PermissionDenied("You may not change this project's KPIs.")
    sha256 = importing.file_hash(data)
    with transaction.atomic():
        kpis = list(
            KPI.objects.select_for_update(of=("self",))
            .filter(project=project)
            .select_related("project", "portfolio")
            .order_by("pk")
        )
        starts = Sprint.objects.filter(project=project).values_list("start", flat=True)
        rows = importing.read_rows(
            data,
            kpis=kpis,
            today=periods.local_today(project.time_zone),
            sprint_starts=periods.sprint_start_dates(list(starts), project.time_zone),
        )
        existing = {
            (row.kpi_id, row.period_start): row
            for row in KPIMeasurement.objects.select_for_update(of=("self",)).filter(
                kpi__in=[kpi.pk for kpi in kpis],
                period_start__in={row.period_start for row in rows},
            )
        }
        now = timezone.now()
        created: list[KPIMeasurement] = []
        revisions: list[KPIMeasurementRevision] = []
        corrected = unchanged = 0
        touched: list[KPIMeasurement] = []
        for row in rows:
            current = existing.get((row.kpi.pk, row.period_start))
            if current is None:
                created.append(
                    KPIMeasurement(
                        kpi=row.kpi,
                        period_start=row.period_start,
                        value=row.value,
                        note=row.note,
                        source=Source.IMPORT,
                        entered_by=actor,
                        entered_at=now,
                    )
                )
                continue
            if current.value == row.value and current.note == row.note:
                unchanged += 1
                continue
            old_value, old_note = current.value, current.note
            current.value, current.note, current.source = row.value, row.note, Source.IMPORT
            current.entered_by, current.entered_at = actor, now
            current.version += 1
            current.save(
                update_fields=["value", "note", "source", "entered_by", "entered_at", "version"]
            )
            revisions.append(
                _revision(
                    measurement=current,
                    change=Change.IMPORTED,
                    old_value=old_value,
                    old_note=old_note,
                    actor=actor,
                )
            )
            touched.append(current)
            corrected += 1
        for measurement in KPIMeasurement.objects.bulk_create(created, batch_size=1_000):
            revisions.append(
                _revision(
                    measurement=measurement,
                    change=Change.IMPORTED,
                    old_value=None,
                    old_note="",
                    actor=actor,
                )
            )
            touched.append(measurement)
        KPIMeasurementRevision.objects.bulk_create(revisions, batch_size=1_000)
        report = importing.KpiImportReport(
            project_key=project.key,
            rows=len(rows),
            created=len(created),
            corrected=corrected,
            unchanged=unchanged,
            kpis=tuple(sorted({row.kpi.name for row in rows})),
            sha256=sha256,
        )
        if touched:
            decision_record(
                kind=DecisionKind.KPI_CHANGE,
                actor=actor,
                portfolio=project.portfolio,
                subject=f"project:{project.key}",
                summary=f"{project.key} KPI values imported from CSV: {report.summary()}",
                inputs={"file": filename[:200], "sha256": sha256, "rows": len(rows)},
                outputs={
                    "created": report.created,
                    "corrected": corrected,
                    "unchanged": unchanged,
                    "kpis": list(report.kpis),
                },
            )
            latest = max(touched, key=lambda m: (m.period_start, m.pk))
            kpi = next(k for k in kpis if k.pk == latest.kpi_id)
            publish_recorded(
                measurement=latest, kpi=kpi, status=measurement_status(kpi, latest.value)
            )
    return report
