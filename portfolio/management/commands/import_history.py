"""`manage.py import_history DIR --portfolio NAME [--as USERNAME]`: import CSV history.

The work is `portfolio.services.history_import` (format: `portfolio.importing`); this command
picks the acting user, prints progress and the report, and turns refusals into CommandError
(exit status 1) so that scripts see a failed import.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pmo.commands import command_actor
from portfolio.importing.report import HistoryImportInvalid, ImportProgress
from portfolio.services import history_import

MAX_ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import projects, sprints, work items and their history from CSV files (projects.csv, "
        "sprints.csv, issues.csv, optional events.csv) into a portfolio, all or nothing. "
        "Importing the same files again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths", nargs="+", help="A directory holding the CSV files, or the files themselves."
        )
        parser.add_argument(
            "--portfolio",
            required=True,
            help="Portfolio every imported project goes into (created if missing).",
        )
        parser.add_argument(
            "--as",
            dest="username",
            help="User the import is done and recorded as (default: the first superuser).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = command_actor(options["username"])
        paths = options["paths"]
        try:
            report = history_import(
                actor=actor,
                directory_or_files=paths[0] if len(paths) == 1 else paths,
                portfolio_name=options["portfolio"],
                progress=self._progress if options["verbosity"] >= 1 else None,
            )
        except PermissionDenied as error:
            raise CommandError(str(error)) from error
        except HistoryImportInvalid as error:
            errors = [str(issue) for issue in error.report.errors]
            shown = errors[:MAX_ERRORS_SHOWN]
            if len(errors) > len(shown):
                shown.append(f"... and {len(errors) - len(shown)} more")
            raise CommandError(
                f"Nothing was imported: {len(errors)} error(s).\n" + "\n".join(shown)
            ) from error
        for line in report.summary_lines():
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Imported into portfolio {report.portfolio}."))

    def _progress(self, step: ImportProgress) -> None:
        self.stdout.write(str(step))
        self.stdout.flush()
