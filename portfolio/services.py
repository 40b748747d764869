"""Writes of the portfolio app.

Each service checks the actor's right first, changes state in one transaction and writes its
decision-log entry inside that same transaction, so a change and its record stand or fall
together.
"""

from __future__ import annotations

import time

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction

from governance.models import DecisionKind
from governance.services import decision_record
from portfolio.importing.csv_reader import Sources, read_import
from portfolio.importing.report import (
    HistoryImportInvalid,
    ImportProgress,
    ImportReport,
    ProgressCallback,
)
from portfolio.importing.store import portfolio_find, portfolio_lock_or_create, write_import
from portfolio.permissions import PortfolioPermission, has_portfolio_permission


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
