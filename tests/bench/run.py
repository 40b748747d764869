"""`make bench`: server time and SQL query counts on the large generated data.

Seeds `seed_demo --scale large` (50 projects, 100,000 work items, ~500,000 events) once into
its own database, `pmo_bench`, on the embedded PostgreSQL, then requests every dashboard page
and metrics API endpoint repeatedly through Django's test client, in-process, so the figures
are server time (URL routing, views, SQL, templates, JSON) without network or browser noise.

For each route it prints p50 / p95 over the repetitions (60 by default, taken in rounds over
all routes; with 30, p95 is the second-slowest request, which one hiccup of a shared machine
decides) and the number of SQL queries of one request, with the goal each must meet; for the
metric queries, the ratio of the engine's time to a hand-written SQL baseline of the same
figure on the same data (how much the generality of the engine costs); and the time of a
10,000-trial Monte Carlo forecast. Figures are also written to `$PMO_HOME/bench.json`. Goals
are reported, never asserted: speed lives here, not in unit tests.

    make bench                       # everything
    .venv/bin/python -m tests.bench.run --repeat 100 --only api
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

BENCH_DATABASE = "pmo_bench"
BENCH_REDIS_DB = 2
BENCH_ANCHOR = "2026-11-16"  # fixed, so every run measures the same data


@dataclass
class Measure:
    group: str
    name: str
    p50_ms: float
    p95_ms: float
    queries: int | None
    goal_ms: float | None
    ratio_to_baseline: float | None = None

    @property
    def meets_goal(self) -> bool | None:
        return None if self.goal_ms is None else self.p95_ms < self.goal_ms


def _prepare_environment() -> None:
    """Start the embedded servers and point Django at the bench database."""
    from pmo import embedded
    from pmo.config import pmo_home

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    home = pmo_home()
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("PMO_HTTPS", "0")
    os.environ.setdefault("PMO_STATIC_MANIFEST", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pmo.settings")
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = embedded.start_postgres(home, database=BENCH_DATABASE)
    if not os.environ.get("REDIS_URL"):
        embedded.start_redis(home, daemonize=True)
        os.environ["REDIS_URL"] = embedded.redis_url(home, db=BENCH_REDIS_DB)


def _seed_once() -> None:
    from django.core.management import call_command

    from portfolio.models import Portfolio

    call_command("migrate", verbosity=0)
    if Portfolio.objects.exists():
        print("bench: reusing the large data already seeded in database pmo_bench")
        return
    print("bench: seeding --scale large once (about a minute) ...", flush=True)
    call_command("seed_demo", "--scale", "large", "--anchor", BENCH_ANCHOR)


def _timed(function: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    function()  # warm-up: connection, caches, first-request costs
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[index]


def _count_queries(function: Callable[[], object]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured.captured_queries)


def _subjects():
    """The largest portfolio, its largest project and that project's last closed sprint."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from portfolio.models import Portfolio, Project, Sprint

    portfolio = Portfolio.objects.annotate(size=Count("projects")).order_by("-size").first()
    project = (
        Project.objects.filter(portfolio=portfolio)
        .annotate(size=Count("work_items"))
        .order_by("-size")
        .first()
    )
    sprint = Sprint.objects.filter(project=project, state="closed").order_by("-start").first()
    user = get_user_model().objects.get(username="pmo")
    return user, portfolio, project, sprint


def _routes(portfolio, project, sprint) -> list[tuple[str, str, str, float]]:
    key, slug = project.key, portfolio.slug
    return [
        ("page", "project dashboard", f"/projects/{key}/", 150),
        ("page", "portfolio dashboard", f"/portfolios/{slug}/", 250),
        ("api", "sprints", f"/api/projects/{key}/sprints/", 100),
        ("api", "burndown", f"/api/sprints/{sprint.pk}/burndown/", 100),
        ("api", "cycle-time", f"/api/projects/{key}/cycle-time/", 100),
        ("api", "throughput", f"/api/projects/{key}/throughput/", 100),
        ("api", "cfd", f"/api/projects/{key}/cfd/", 100),
        ("api", "aging-wip", f"/api/projects/{key}/aging-wip/", 100),
        ("api", "forecast (when)", f"/api/projects/{key}/forecast/?remaining=100", 100),
        ("api", "portfolio summary", f"/api/portfolios/{slug}/summary/", 100),
        ("api", "epics (WSJF)", f"/api/portfolios/{slug}/epics/", 100),
    ]


def bench_routes(repeat: int, only: str | None) -> list[Measure]:
    """Each route `repeat` times, in rounds (one request to every route per round), so that
    a slow spell of a shared machine weighs on every route alike rather than on whichever
    route it happened to fall in."""
    from django.test import Client

    user, portfolio, project, sprint = _subjects()
    client = Client()
    client.force_login(user)
    print(
        f"bench: portfolio {portfolio.slug} ({portfolio.projects.count()} projects), "
        f"project {project.key} ({project.work_items.count()} items), sprint {sprint.name}"
    )
    routes = []
    for group, name, url, goal in _routes(portfolio, project, sprint):
        if only and group != only:
            continue
        status = client.get(url).status_code  # also the warm-up
        if status != 200:
            print(f"bench: {url} answered {status}; skipped", file=sys.stderr)
            continue
        routes.append((group, name, url, goal))
    samples: dict[str, list[float]] = {url: [] for _, _, url, _ in routes}
    for _ in range(repeat):
        for _group, _name, url, _goal in routes:
            started = time.perf_counter()
            client.get(url)
            samples[url].append((time.perf_counter() - started) * 1000)
    measures = []
    for group, name, url, goal in routes:
        queries = _count_queries(lambda url=url: client.get(url))
        p50, p95 = statistics.median(samples[url]), _percentile(samples[url], 0.95)
        measures.append(Measure(group, name, p50, p95, queries, goal))
    return measures


def machine_reference(repeat: int = 15) -> Measure:
    """A fixed piece of pure Python work, timed like the routes, so figures from different
    runs and machines can be compared: about 25 ms on a quiet core of the sandbox this was
    built in, and up to twice that when its neighbours are busy."""

    def work() -> int:
        total = 0
        for number in range(300_000):
            total += number
        return total

    samples, _ = _timed(work, repeat)
    return Measure(
        "machine", "reference: 300,000 Python additions", statistics.median(samples),
        _percentile(samples, 0.95), None, None,
    )  # fmt: skip


# Hand-written SQL for the same figures, on the same data, using the denormalized columns where
# they give the answer directly. The engine replays history, which is what it is for; the ratio
# shows the price of that generality.
BASELINES = {
    "cycle-time p50/p85/p95": (
        """
        SELECT percentile_cont(ARRAY[0.5, 0.85, 0.95]) WITHIN GROUP (
                 ORDER BY extract(epoch FROM done_at - coalesce(started_at, done_at)) / 86400)
        FROM portfolio_workitem
        WHERE project_id = %(project)s AND category = 'done'
          AND done_at >= %(start)s AND done_at < %(end)s
        """
    ),
    "weekly throughput": (
        """
        SELECT date_trunc('week', done_at AT TIME ZONE %(tz)s) AS week, count(*)
        FROM portfolio_workitem
        WHERE project_id = %(project)s AND category = 'done'
          AND done_at >= %(start)s AND done_at < %(end)s
        GROUP BY week ORDER BY week
        """
    ),
    "aging WIP": (
        """
        SELECT key, extract(epoch FROM %(end)s - started_at) / 86400
        FROM portfolio_workitem
        WHERE project_id = %(project)s AND category = 'in_progress'
        ORDER BY started_at
        """
    ),
    "sprint completed points": (
        """
        SELECT coalesce(sum(story_points), 0)
        FROM portfolio_workitem
        WHERE sprint_id = %(sprint)s AND category = 'done'
          AND done_at >= %(sprint_start)s AND done_at < %(sprint_close)s
        """
    ),
}


def bench_baselines(repeat: int) -> list[Measure]:
    import datetime as dt

    from django.db import connection

    from metrics import selectors

    user, _, project, sprint = _subjects()
    end = project.metrics_now(dt.datetime.fromisoformat(BENCH_ANCHOR + "T23:59:59+00:00"))
    start = end - dt.timedelta(days=90)
    params = {
        "project": project.pk,
        "tz": project.time_zone,
        "start": start,
        "end": end,
        "sprint": sprint.pk,
        "sprint_start": sprint.start,
        "sprint_close": sprint.close,
    }
    engine: dict[str, Callable[[], object]] = {
        "cycle-time p50/p85/p95": lambda: selectors.cycle_times(
            user=user, project=project, start=start.date(), end=end.date()
        ),
        "weekly throughput": lambda: selectors.throughput(
            user=user, project=project, start=start.date(), end=end.date()
        ),
        "aging WIP": lambda: selectors.wip_aging(user=user, project=project, now=end),
        "sprint completed points": lambda: selectors.sprint_summaries(user=user, project=project),
    }
    measures = []
    for name, sql in BASELINES.items():

        def baseline(sql=sql):
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()

        base_samples, _ = _timed(baseline, repeat)
        engine_samples, _ = _timed(engine[name], repeat)
        base, ours = statistics.median(base_samples), statistics.median(engine_samples)
        measures.append(
            Measure(
                "metric vs SQL baseline",
                name,
                ours,
                _percentile(engine_samples, 0.95),
                _count_queries(engine[name]),
                None,
                ratio_to_baseline=ours / base if base else None,
            )
        )
    return measures


def bench_forecast(repeat: int) -> list[Measure]:
    import datetime as dt

    import numpy as np

    from metrics.flow import DailyThroughput
    from metrics.forecasting import forecast_when

    rng = np.random.default_rng(7)
    history = DailyThroughput(
        today=dt.date(2026, 11, 16),
        history_start=dt.date(2026, 8, 18),
        history_end=dt.date(2026, 11, 16),
        counts=tuple(int(value) for value in rng.poisson(2.5, 90)),
    )
    samples, result = _timed(
        lambda: forecast_when(history, remaining=200, seed=42, trials=10_000), repeat
    )
    assert result.available, result
    return [
        Measure(
            "forecast",
            "Monte Carlo when, 10,000 trials, 200 items",
            statistics.median(samples),
            _percentile(samples, 0.95),
            0,
            50,
        )
    ]


def bench_memory() -> list[Measure]:
    """Hybrid memory recall over 100,000 memory items (tests/bench/memory_bench.py)."""
    from tests.bench.memory_bench import bench_memory_recall

    return [Measure(**row) for row in bench_memory_recall()]


def bench_agents() -> list[Measure]:
    """Each kind of agent run with the builtin provider on a 50-project portfolio
    (tests/bench/agent_bench.py)."""
    from tests.bench.agent_bench import bench_agent_runs

    _, portfolio, _, _ = _subjects()
    return [Measure(**row) for row in bench_agent_runs(portfolio_slug=portfolio.slug, repeats=3)]


def _print(measures: list[Measure]) -> None:
    header = f"{'group':<24} {'what':<44} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'goal':>10}"
    print()
    print(header)
    print("-" * len(header))
    for m in measures:
        goal = "" if m.goal_ms is None else f"<{m.goal_ms:g} {'ok' if m.meets_goal else 'MISS'}"
        extra = "" if m.ratio_to_baseline is None else f"   x{m.ratio_to_baseline:.1f} baseline"
        queries = "" if m.queries is None else str(m.queries)
        print(
            f"{m.group:<24} {m.name:<44} {m.p50_ms:>8.1f} {m.p95_ms:>8.1f} {queries:>8} "
            f"{goal:>10}{extra}"
        )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=60, help="requests per route (default 60)")
    parser.add_argument(
        "--only",
        choices=["page", "api", "memory", "agents"],
        help="only pages, the API, memory recall or agent runs",
    )
    args = parser.parse_args(argv)

    _prepare_environment()
    import django

    django.setup()
    _seed_once()
    measures = [machine_reference()]
    if args.only in (None, "page", "api"):
        measures += bench_routes(args.repeat, args.only)
    if args.only is None:
        measures += bench_baselines(args.repeat)
        measures += bench_forecast(args.repeat)
    if args.only in (None, "memory"):
        measures += bench_memory()
    if args.only in (None, "agents"):
        measures += bench_agents()
    measures.append(machine_reference())
    _print(measures)
    from pmo.config import pmo_home

    report = pmo_home() / "bench.json"
    report.write_text(json.dumps([asdict(m) for m in measures], indent=2))
    print(f"bench: figures written to {report}")
    missed = [m.name for m in measures if m.meets_goal is False]
    if missed:
        print(f"bench: goals missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
