"""Agent run time on the large bench data, with the builtin provider (no model, no network).

`bench_agent_runs` gathers every project of the database into one portfolio (50 on the large
data), then executes each kind of run in-process, as the worker does
(`agents.services.agent_run_execute`: snapshot, facts, memory recall, builtin narrative,
guardrails, Recommendation, decision-log entry, memory), all inside a transaction rolled
back afterwards, so the bench data is left as it was. One warm-up run per kind first (the
embedding model of the memory loads once per process). It returns rows shaped like
tests/bench/run.py's measures.

Run on its own (after `make bench` seeded the data):

    .venv/bin/python -m tests.bench.agent_bench            # the largest portfolio
    .venv/bin/python -m tests.bench.agent_bench --repeat 3 --portfolio <slug>
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

RUN_GOAL_MS = {"risk_scan": 2_000, "portfolio_review": 10_000, "prioritization": 15_000}
"""Reported, never asserted: a run is background work, measured in seconds, not page time."""


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def _row(name: str, samples: list[float], queries: int | None, goal: float | None) -> dict:
    return {
        "group": "agents (builtin)",
        "name": name,
        "p50_ms": statistics.median(samples),
        "p95_ms": _percentile(samples, 0.95),
        "queries": queries,
        "goal_ms": goal,
        "ratio_to_baseline": None,
    }


def _execute_rolled_back(
    *, kind: str, portfolio: Any, project: Any, user: Any
) -> tuple[float, int]:
    """One run, timed, with its query count; everything it wrote is rolled back."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from agents.models import AgentRun, RunStatus, RunTrigger
    from agents.services import agent_run_execute

    with transaction.atomic():
        run = AgentRun.objects.create(
            kind=kind,
            portfolio=portfolio,
            project=project,
            trigger=RunTrigger.USER,
            requested_by=user,
            idempotency_key=f"bench-{uuid.uuid4().hex}",
        )
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            agent_run_execute(run_id=run.pk)
            elapsed = (time.perf_counter() - started) * 1000
        run.refresh_from_db()
        if run.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"bench {kind} run ended {run.status}: {run.error}")
        transaction.set_rollback(True)
    return elapsed, len(captured.captured_queries)


def _facts_only(*, portfolio: Any, user: Any, kind: str) -> float:
    """Snapshot, facts and the builtin narrative with its validation: the engine without
    memory and without writes."""
    from agents import builtin, facts, guardrails
    from agents.models import AgentRun

    run = AgentRun(kind=kind, portfolio=portfolio, project=None, requested_by=user, pk=0)
    started = time.perf_counter()
    snapshot = facts.snapshot_build(reader=user, run=run)
    computed = facts.facts_compute(snapshot)
    data = facts.snapshot_json(snapshot, computed)
    output = builtin.builtin_output(snapshot, computed)
    guardrails.output_validate(output, kind=kind, data=data, facts=computed)
    return (time.perf_counter() - started) * 1000


@contextlib.contextmanager
def _one_portfolio_of_every_project(portfolio: Any) -> Iterator[None]:
    """Inside a transaction rolled back at the end, move every project and epic of the
    database into `portfolio` (the large bench data spreads its 50 projects over three
    portfolios; the agents goal is about a 50-project portfolio)."""
    from django.db import transaction
    from django.db.models import F

    from portfolio.models import Epic, Portfolio, Project

    with transaction.atomic():
        others = Portfolio.objects.exclude(pk=portfolio.pk).order_by("pk")
        for offset, other in enumerate(others, start=1):
            Epic.objects.filter(portfolio=other).update(
                portfolio=portfolio, rank=F("rank") + 10_000 * offset
            )
            Project.objects.filter(portfolio=other).update(portfolio=portfolio)
        yield
        transaction.set_rollback(True)


def bench_agent_runs(*, portfolio_slug: str, repeats: int = 5) -> list[dict]:
    """Time each kind of agent run with the builtin provider on the portfolio, grown for the
    measure (and rolled back) to hold every project of the database: 50 on the large data."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test.utils import override_settings

    from agents.models import RunKind
    from portfolio.models import Epic, Portfolio, Project

    portfolio = Portfolio.objects.get(slug=portfolio_slug)
    user = get_user_model().objects.get(username="pmo")
    rows = []
    with (
        override_settings(AGENT_PROVIDERS=[("builtin", "")]),
        _one_portfolio_of_every_project(portfolio),
    ):
        projects = Project.objects.filter(portfolio=portfolio).count()
        epics = Epic.objects.filter(portfolio=portfolio).count()
        project = (
            Project.objects.filter(portfolio=portfolio)
            .annotate(size=Count("work_items"))
            .order_by("-size")
            .first()
        )
        subjects = [
            (RunKind.RISK_SCAN, project, f"risk scan of {project.key} (largest project)"),
            (RunKind.PORTFOLIO_REVIEW, None, f"portfolio review, {projects} projects"),
            (RunKind.PRIORITIZATION, None, f"prioritization, {projects} projects, {epics} epics"),
        ]
        for kind, scope, name in subjects:
            _execute_rolled_back(kind=kind, portfolio=portfolio, project=scope, user=user)
            samples, queries = [], 0
            for _ in range(repeats):
                elapsed, queries = _execute_rolled_back(
                    kind=kind, portfolio=portfolio, project=scope, user=user
                )
                samples.append(elapsed)
            rows.append(_row(name, samples, queries, RUN_GOAL_MS[kind]))
        for kind in (RunKind.PORTFOLIO_REVIEW, RunKind.PRIORITIZATION):
            samples = [
                _facts_only(portfolio=portfolio, user=user, kind=kind) for _ in range(repeats)
            ]
            rows.append(
                _row(f"{kind.label.lower()}: facts and narrative only", samples, None, None)
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--portfolio", help="portfolio slug (default: the largest)")
    args = parser.parse_args(argv)

    from tests.bench import run as bench

    bench._prepare_environment()
    import django

    django.setup()
    bench._seed_once()
    from django.db.models import Count

    from portfolio.models import Portfolio

    slug = args.portfolio or (
        Portfolio.objects.annotate(size=Count("projects")).order_by("-size").first().slug
    )
    rows = bench_agent_runs(portfolio_slug=slug, repeats=args.repeat)
    bench._print([bench.Measure(**row) for row in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
