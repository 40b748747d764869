"""`manage.py import_kpis FILE --project KEY [--as USERNAME]`: import KPI values from CSV.

The work is `metrics.kpis.services.kpi_measurements_import` (format: metrics.kpis.importing):
all rows or none, every bad row reported with its line number. This command picks the acting
user, prints the report, and turns refusals into CommandError (exit status 1) so scripts see
a failed import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from metrics.kpis.importing import KpiImportInvalid
from metrics.kpis.services import kpi_measurements_import
from pmo.commands import command_actor
from portfolio.models import Project

MAX_ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import KPI values of one project from a CSV file (columns kpi, period_start, value, "
        "note), all or nothing. Importing the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file (UTF-8, with a header row).")
        parser.add_argument("--project", required=True, help="Key of the project, e.g. PAY.")
        parser.add_argument(
            "--as",
            dest="username",
            help="User the import is done and recorded as (default: the first superuser).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = command_actor(options["username"])
        key = options["project"].upper()
        project = Project.objects.select_related("portfolio").filter(key=key).first()
        if project is None:
            raise CommandError(f"No project {key!r}.")
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
        try:
            report = kpi_measurements_import(
                actor=actor, project=project, data=data, filename=path.name
            )
        except PermissionDenied as error:
            raise CommandError(f"{actor.get_username()} may not change {key}'s KPIs.") from error
        except KpiImportInvalid as invalid:
            problems = [f"{path.name}: {problem}" for problem in invalid.problems]
            shown = problems[:MAX_ERRORS_SHOWN]
            if len(problems) > len(shown):
                shown.append(f"... and {len(problems) - len(shown)} more")
            raise CommandError(
                f"Nothing was imported: {len(problems)} problem(s).\n" + "\n".join(shown)
            ) from invalid
        self.stdout.write(self.style.SUCCESS(f"Imported {path.name}: {report.summary()}"))
