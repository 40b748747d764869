"""`manage.py verify_decision_log [--portfolio SLUG]`: recompute the decision log's chains.

Prints one line per chain (entries, head sequence and hash, verified or the first bad entry
with what is wrong) and exits with status 1 if any chain fails. Keep the printed head hashes:
a chain that later verifies but ends before a head you recorded has lost its newest entries.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.decision_log import chains_verify
from portfolio.models import Portfolio


class Command(BaseCommand):
    help = "Recompute the decision log's hash chains and name the first bad entry of each."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--portfolio",
            metavar="SLUG",
            help="Only this portfolio's chain ('global' for the entries without a portfolio).",
        )

    def handle(self, *args, portfolio: str | None = None, **options) -> None:
        names = dict(Portfolio.objects.values_list("pk", "slug"))
        requested = None
        if portfolio == "global":
            requested = [None]
        elif portfolio:
            matches = [pk for pk, slug in names.items() if slug == portfolio]
            if not matches:
                raise CommandError(f"No portfolio has the slug {portfolio!r}.")
            requested = matches
        results = chains_verify(portfolio_ids=requested)
        failures = []
        for portfolio_id, result in sorted(
            results.items(), key=lambda item: (item[0] is None, names.get(item[0], ""))
        ):
            name = "global" if portfolio_id is None else names.get(portfolio_id, str(portfolio_id))
            head = f"head #{result.head_sequence} {result.head_hash}"
            if result.ok:
                self.stdout.write(f"{name}: {result.entries} entries, {head}: verified")
            else:
                failures.append(f"{name}: {result.fault.message}")
                self.stdout.write(
                    f"{name}: {result.entries} entries: FAILED: {result.fault.message}"
                )
        if not results:
            self.stdout.write("The decision log is empty.")
        if failures:
            raise CommandError(
                f"{len(failures)} chain{'s' if len(failures) > 1 else ''} failed verification: "
                + "; ".join(failures)
            )
