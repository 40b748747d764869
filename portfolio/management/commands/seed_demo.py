"""`manage.py seed_demo`: fill an empty database with deterministic demo data.

The generator lives in portfolio.demo; this command only parses options and prints.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portfolio.demo import (
    DEFAULT_SEED,
    DEMO_ANCHOR,
    SCALES,
    DemoDataExistsError,
    DemoSummary,
    demo_seed,
)


def default_anchor(today: dt.date) -> dt.date:
    """The Monday of the week five days ago: the seeded history (which runs to the Friday
    evening after its anchor) then ends before today, and the active sprint is current."""
    earlier = today - dt.timedelta(days=5)
    return earlier - dt.timedelta(days=earlier.weekday())


class Command(BaseCommand):
    help = (
        "Create three demo portfolios with six months of sprint history (two years at "
        "--scale large), users and roles, in one transaction. The same --seed and --anchor "
        "always give the same data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            choices=sorted(SCALES),
            default="demo",
            help="demo: 12 projects, a few seconds; large: 50 projects, 100,000 work items "
            "(for benchmarks).",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Random seed.")
        parser.add_argument(
            "--anchor",
            type=dt.date.fromisoformat,
            default=None,
            help="Monday the active sprint starts, YYYY-MM-DD (default: the latest Monday whose "
            f"first sprint week is already over, so the history ends before today; the tests "
            f"use {DEMO_ANCHOR}).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when any portfolio exists (used by `pmo up` on every start).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            summary = demo_seed(
                scale=SCALES[options["scale"]],
                seed=options["seed"],
                anchor=options["anchor"] or default_anchor(dt.datetime.now(tz=dt.UTC).date()),
                if_empty=options["if_empty"],
                progress=self._progress if options["verbosity"] >= 1 else None,
            )
        except DemoDataExistsError as error:
            raise CommandError(str(error)) from error
        if summary is None:
            self.stdout.write("Portfolios already exist; demo data not seeded.")
            return
        self._print_summary(summary, seconds=time.monotonic() - started)

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def _print_summary(self, summary: DemoSummary, *, seconds: float) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {summary.scale} data (seed {summary.seed}, anchor {summary.anchor}) "
                f"in {seconds:.1f} s:"
            )
        )
        self.stdout.write(
            f"  {summary.portfolios} portfolios, {summary.projects} projects, "
            f"{summary.sprints:,} sprints, {summary.work_items:,} work items, "
            f"{summary.events:,} events, {summary.users} users"
        )
        self.stdout.write(f'Demo logins (password "{settings.PMO_DEMO_PASSWORD}"):')
        width = max(len(username) for username, _ in summary.logins)
        for username, description in summary.logins:
            self.stdout.write(f"  {username.ljust(width)}  {description}")
