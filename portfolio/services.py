"""Writes of the portfolio app.

Each service checks the actor's right first, changes state in one transaction and writes its
decision-log entry inside that same transaction, so a change and its record stand or fall
together.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Mapping
from typing import IO, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from governance.models import DecisionKind
from governance.services import decision_record
from pmo.locks import job_lock
from portfolio.importing.csv_reader import (
    FILE_NAMES,
    REQUIRED_COLUMNS,
    REQUIRED_FILES,
    Sources,
    read_import,
)
from portfolio.importing.report import (
    HistoryImportInvalid,
    ImportProgress,
    ImportReport,
    ProgressCallback,
)
from portfolio.importing.store import portfolio_find, portfolio_lock_or_create, write_import
from portfolio.models import HistoryImportJob
from portfolio.permissions import PortfolioPermission, has_portfolio_permission

logger = logging.getLogger(__name__)


def _check_can_import(actor: AbstractBaseUser | AnonymousUser, portfolio_name: str) -> None:
    """Superusers may import anywhere; others need the change right on an existing portfolio.

    Creating a portfolio is a superuser's act (nobody else holds rights on a portfolio that
    does not exist yet). One message for "missing" and "forbidden", so a refusal does not tell
    whether the portfolio exists.
    """
    if actor.is_authenticated and actor.is_superuser:
        return
    portfolio = portfolio_find(portfolio_name)
    if portfolio is None or not has_portfolio_permission(
        actor, PortfolioPermission.CHANGE, portfolio
    ):
        raise PermissionDenied(
            f"You may not import into portfolio {portfolio_name!r}: it takes the change right "
            "on an existing portfolio, or a superuser to create one."
        )


def history_import(
    *,
    actor: AbstractBaseUser | AnonymousUser,
    directory_or_files: Sources,
    portfolio_name: str,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import projects, sprints, work items and their history into a portfolio, all or nothing.

    `directory_or_files` is a directory, a list of CSV paths, or {file name: path or open
    file} (an upload). The format and the history rules are in `portfolio.importing`. The
    files are read and checked before the transaction opens; then, with the portfolio row
    locked, the import is planned against the database and written only if no row has an
    error, with its decision record. Raises PermissionDenied, or HistoryImportInvalid (a
    ValidationError whose `report.errors` give file, line and reason) with nothing written.
    """
    started = time.perf_counter()
    portfolio_name = portfolio_name.strip()
    _check_can_import(actor, portfolio_name)
    report = ImportReport(portfolio=portfolio_name)
    data = read_import(directory_or_files, report=report, progress=progress)
    if report.errors:
        raise HistoryImportInvalid(report)
    try:
        with transaction.atomic():
            portfolio = portfolio_lock_or_create(portfolio_name, report)
            if portfolio is not None:
                report.portfolio = portfolio.name
                write_import(data, portfolio=portfolio, report=report, progress=progress)
            if portfolio is None or report.errors:
                raise HistoryImportInvalid(report)  # rolls back, the new portfolio included
            report.seconds = round(time.perf_counter() - started, 3)
            decision_record(
                kind=DecisionKind.HISTORY_IMPORT,
                actor=actor if actor.is_authenticated else None,
                portfolio=portfolio,
                subject=f"portfolio:{portfolio.slug}",
                summary=(
                    f"Imported history into {portfolio.name}: {report.items.created} items "
                    f"created, {report.items.updated} updated, {report.items.unchanged} unchanged"
                ),
                inputs={
                    "portfolio": portfolio_name,
                    "files": {
                        name: {"rows": rows, "sha256": data.digests[name]}
                        for name, rows in report.files.items()
                    },
                },
                outputs={
                    "portfolio_created": report.portfolio_created,
                    "counts": report.counts(),
                    "unknown_statuses": report.unknown_statuses,
                    "warnings": [str(warning) for warning in report.warnings],
                    "seconds": report.seconds,
                },
            )
    except DatabaseError as error:
        # A conflict the checks did not foresee (e.g. a concurrent write): nothing was kept.
        report.error("", None, f"the database refused the import: {error}".strip())
        raise HistoryImportInvalid(report) from error
    if progress is not None:
        progress(ImportProgress("Done"))
    return report


# --- history import jobs (the upload form) ----------------------------------------------------

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # all files of one upload together
MAX_STORED_ISSUES = 1000  # warnings or errors kept in a job row; the rest are counted
MAX_ATTEMPTS = 5  # runs of one job (retries and redeliveries after a lost worker included)
PROGRESS_INTERVAL = 0.5  # seconds between two progress writes of one stage
PROGRESS_TTL = 24 * 60 * 60
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)

Upload = bytes | IO[bytes]


class HistoryImportJobInterrupted(Exception):
    """A transient database error (connection lost, deadlock, serialization failure) stopped a
    job's run; nothing was written. The task retries it with backoff."""


def _upload_size(upload: Upload) -> int:
    if isinstance(upload, bytes):
        return len(upload)
    size = getattr(upload, "size", None)  # Django's UploadedFile knows it without reading
    if size is None:
        position = upload.tell()
        size = upload.seek(0, io.SEEK_END) - position
        upload.seek(position)
    return int(size)


def _upload_bytes(upload: Upload) -> bytes:
    if isinstance(upload, bytes):
        return upload
    if hasattr(upload, "seek"):
        upload.seek(0)
    return upload.read()


def _upload_text(name: str, content: bytes) -> tuple[str | None, str | None]:
    """(the file's text, None), or (None, why it is not a UTF-8 CSV file with a header row
    naming at least the file's required columns). The row checks are the import's job."""
    if not content.strip():
        return None, f"{name} is empty: it needs a header row naming its columns."
    try:
        text = content.decode("utf-8")  # a byte-order mark is kept: the importer skips it
    except UnicodeDecodeError as error:
        return None, (
            f"{name} is not UTF-8 text ({error.reason} at byte {error.start}); "
            'save it as "CSV UTF-8" and upload it again.'
        )
    if "\x00" in text:
        return None, f"{name} contains NUL characters: it is not a CSV text file."
    try:
        header = next(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")), [])
    except csv.Error as error:
        return None, f"{name}: line 1 is not readable CSV ({error})."
    columns = {column.strip().lower() for column in header}
    missing = [column for column in REQUIRED_COLUMNS[name] if column not in columns]
    if missing:
        return None, (
            f"{name} has no {', '.join(missing)} column in its header row (line 1); it needs "
            f"{', '.join(REQUIRED_COLUMNS[name])}."
        )
    return text, None


def _upload_texts(files: Mapping[str, Upload | None]) -> tuple[dict[str, str], dict[str, int]]:
    """The uploaded files as text by file name, or ValidationError keyed by file name (and
    NON_FIELD_ERRORS for the total size and unknown names). Sizes are checked before any
    file is read."""
    given = {name: upload for name, upload in files.items() if upload is not None}
    errors: dict[str, list[str]] = {}
    unknown = sorted(name for name in given if name not in FILE_NAMES)
    if unknown:
        errors[NON_FIELD_ERRORS] = [
            f"Unknown file name {', '.join(unknown)}; expected {', '.join(FILE_NAMES)}."
        ]
    for name in REQUIRED_FILES:
        if name not in given:
            errors[name] = [f"Choose your {name}: an import needs projects.csv and issues.csv."]
    sizes = {name: _upload_size(upload) for name, upload in given.items() if name in FILE_NAMES}
    total = sum(sizes.values())
    if total > MAX_UPLOAD_BYTES:
        errors.setdefault(NON_FIELD_ERRORS, []).append(
            f"The files total {total / 1024 / 1024:.1f} MB; an upload may total at most "
            f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB. Import larger histories with "
            "`manage.py import_history`, or split them by project."
        )
        raise ValidationError(errors)
    texts: dict[str, str] = {}
    for name in sizes:
        text, problem = _upload_text(name, _upload_bytes(given[name]))
        if problem is not None:
            errors[name] = [problem]
        elif text is not None:
            texts[name] = text
    if errors:
        raise ValidationError(errors)
    return texts, sizes


def _check_portfolio_name(portfolio_name: str) -> None:
    if not portfolio_name:
        raise ValidationError({"portfolio_name": "Name the portfolio to import into."})
    if len(portfolio_name) > 120 or not slugify(portfolio_name):
        raise ValidationError(
            {"portfolio_name": "A portfolio name has 1-120 characters, with a letter or digit."}
        )


def history_import_job_create(
    *,
    actor: AbstractBaseUser | AnonymousUser,
    portfolio_name: str,
    files: Mapping[str, Upload | None],
) -> HistoryImportJob:
    """Queue an import of uploaded files ({"projects.csv": upload, ...}) into a portfolio.

    Same right as `history_import` (superuser, or the change right on the existing
    portfolio), checked first: PermissionDenied. Then the files are checked as far as a form
    can say at once (required files present, UTF-8 CSV with a header naming the required
    columns, at most MAX_UPLOAD_BYTES together): ValidationError keyed by file name. The rows
    themselves are checked by the import, in the worker. The job keeps the files' text, and
    its task is sent once the job row is committed. No decision record here: the import
    writes one when it runs, with the requester as actor.
    """
    portfolio_name = portfolio_name.strip()
    _check_can_import(actor, portfolio_name)
    _check_portfolio_name(portfolio_name)  # only a superuser gets here with a new name
    texts, sizes = _upload_texts(files)
    from portfolio.tasks import history_import_job_run_task  # tasks import this module

    with transaction.atomic():
        job = HistoryImportJob.objects.create(
            portfolio_name=portfolio_name,
            requested_by=actor,
            files=texts,
            file_sizes=sizes,
            stage="Waiting for a worker",
        )
        history_import_job_run_task.delay_on_commit(job.pk)
    return job


class _ProgressWriter:
    """The import's progress callback: the latest step of a job, in the cache.

    The import is one transaction, so a progress row updated through the same connection
    would stay invisible to the page until the commit (and a second database connection per
    worker only for this is more machinery than a cache key). The cache (Redis) is written
    at once and read by the page; the job row gets the final state. Writes are throttled to
    one per PROGRESS_INTERVAL within a stage (a new stage is always written), and a cache
    failure never stops an import: progress is a display, the import is the work.
    """

    def __init__(self, job_id: int) -> None:
        self.key = HistoryImportJob.progress_cache_key(job_id)
        self.stage: str | None = None
        self.written_at = 0.0

    def __call__(self, step: ImportProgress) -> None:
        now = time.monotonic()
        if step.stage == self.stage and now - self.written_at < PROGRESS_INTERVAL:
            return
        self.stage, self.written_at = step.stage, now
        value = {"stage": step.stage, "done": step.done, "total": step.total}
        try:
            cache.set(self.key, value, PROGRESS_TTL)
        except Exception:  # any cache backend error: the page shows older progress, no more
            logger.warning("progress of history import not written to %s", self.key, exc_info=True)

    def clear(self) -> None:
        try:
            cache.delete(self.key)
        except Exception:  # the key expires by itself (PROGRESS_TTL)
            logger.warning("stale progress left in %s", self.key, exc_info=True)


def _transient_cause(error: BaseException) -> BaseException | None:
    """The transient database error behind `error` (history_import wraps database errors in
    HistoryImportInvalid), if any."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, TRANSIENT_DATABASE_ERRORS):
            return current
        current = current.__cause__
    return None


def _capped(issues: list[str]) -> list[str]:
    if len(issues) <= MAX_STORED_ISSUES:
        return issues
    more = len(issues) - MAX_STORED_ISSUES
    return [*issues[:MAX_STORED_ISSUES], f"... and {more} more"]


def _job_report(report: ImportReport) -> dict[str, Any]:
    return {
        "portfolio": report.portfolio,
        "portfolio_created": report.portfolio_created,
        "files": report.files,
        "counts": report.counts(),
        "unknown_statuses": report.unknown_statuses,
        "warnings": _capped([str(warning) for warning in report.warnings]),
        "warning_count": len(report.warnings),
        "seconds": report.seconds,
    }


def _job_actor(job: HistoryImportJob) -> AbstractBaseUser:
    """The requester, as the import's actor (rights are checked again at run time: they may
    have been revoked since the upload)."""
    actor = job.requested_by
    if actor is None:
        raise PermissionDenied("The user who uploaded the files no longer exists.")
    if not actor.is_active:
        raise PermissionDenied(f"{actor.get_username()}, who uploaded the files, is inactive.")
    return actor


UNFINISHED = (HistoryImportJob.Status.QUEUED, HistoryImportJob.Status.RUNNING)


def _job_finish(job_id: int, **values: Any) -> None:
    """Record the outcome of an unfinished job (the page then stops polling)."""
    HistoryImportJob.objects.filter(pk=job_id, status__in=UNFINISHED).update(
        finished_at=timezone.now(), **values
    )


def _job_fail(job_id: int, errors: list[str], *, report: dict[str, Any] | None = None) -> None:
    broken = connection.connection is not None and connection.errors_occurred
    if broken and not connection.in_atomic_block:
        # After a lost connection, reconnect instead of failing on the dead one (as Django
        # does between requests).
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()
    values: dict[str, Any] = {"errors": _capped(errors), "stage": "Failed"}
    if report is not None:
        values["report"] = report
    _job_finish(job_id, status=HistoryImportJob.Status.FAILED, **values)


def _job_claim(job_id: int) -> HistoryImportJob | None:
    """Mark a queued job (or a running one whose worker was lost) running; None when it is
    finished, missing or out of attempts (then marked failed)."""
    job = HistoryImportJob.objects.select_related("requested_by").filter(pk=job_id).first()
    if job is None or job.finished:
        return None
    if job.attempts >= MAX_ATTEMPTS:
        _job_fail(job_id, [f"The import was interrupted {job.attempts} times; giving up."])
        return None
    claimed = HistoryImportJob.objects.filter(pk=job_id, attempts=job.attempts).update(
        status=HistoryImportJob.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        stage="Starting",
        progress_done=0,
        progress_total=None,
    )
    return job if claimed else None


def history_import_job_run(*, job_id: int, retry_transient: bool = False) -> None:
    """Run a queued import job: `history_import` with the job's files, as its requester.

    Idempotent: a finished or missing job is left alone, and a job another worker is running
    (advisory lock) too. A job left running by a lost worker is run again, which is safe:
    the import is all or nothing, and the job's outcome is committed in the import's own
    transaction, so either both stand or the rerun starts from scratch.

    Live progress goes to the cache (`HistoryImportJob.progress_cache_key`); the job row gets
    the outcome: succeeded with the report, or failed with the located errors (bad rows: the
    import wrote nothing), the refusal (the requester's right was revoked) or the unexpected
    error. A transient database error raises HistoryImportJobInterrupted when
    `retry_transient` (the task retries), else fails the job.
    """
    try:
        with job_lock(f"history-import-job:{job_id}") as locked:
            if locked:
                _job_run_locked(job_id, retry_transient=retry_transient)
    except TRANSIENT_DATABASE_ERRORS as error:  # the claim or the outcome could not be written
        if retry_transient:
            raise HistoryImportJobInterrupted(str(error)) from error
        raise


def _job_run_locked(job_id: int, *, retry_transient: bool) -> None:
    job = _job_claim(job_id)
    if job is None:
        return
    progress = _ProgressWriter(job_id)
    try:
        with transaction.atomic():
            report = history_import(
                actor=_job_actor(job),
                directory_or_files={
                    name: io.BytesIO(text.encode()) for name, text in job.files.items()
                },
                portfolio_name=job.portfolio_name,
                progress=progress,
            )
            rows = sum(report.files.values())
            portfolio = portfolio_find(report.portfolio)
            _job_finish(
                job_id,
                status=HistoryImportJob.Status.SUCCEEDED,
                portfolio=portfolio,
                report=_job_report(report),
                errors=[],
                stage="Done",
                progress_done=rows,
                progress_total=rows,
            )
    except Exception as error:
        transient = _transient_cause(error)
        if transient is not None and retry_transient:
            logger.warning("import job %s interrupted, to be retried: %s", job_id, transient)
            raise HistoryImportJobInterrupted(str(transient)) from error
        if isinstance(error, HistoryImportInvalid):
            _job_fail(
                job_id,
                [str(issue) for issue in error.report.errors],
                report=_job_report(error.report),
            )
        elif isinstance(error, ValidationError | PermissionDenied):
            messages = error.messages if isinstance(error, ValidationError) else [str(error)]
            _job_fail(job_id, messages)
        elif isinstance(error, SoftTimeLimitExceeded):
            _job_fail(job_id, ["The import took longer than the worker's time limit."])
        else:
            logger.exception("import job %s failed", job_id)
            _job_fail(job_id, [f"The import stopped on an unexpected error: {error!r}"])
    finally:
        progress.clear()
