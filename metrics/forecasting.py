"""Monte Carlo forecasts from daily throughput (METRICS.md "Forecasting").

The samples come from SQL (`metrics.flow.DAILY_THROUGHPUT_SQL`); this module only simulates,
with NumPy, vectorized over the trials, from a generator seeded with the recorded seed, so the
same history, inputs and seed always give the same answer. The functions here are pure (no
database), which is why the selectors fetch the history and pass it in.

Decisions where METRICS.md is silent:

1. History: the whole local days before today, [max(today - history_days, local day of the
   project's first work item), today). Today is left out because a partial day would bias
   the sample low; days before the project had any work item are not history. The result
   records history_start (first day) and history_end (exclusive: today).
2. Not available, with the reason and no number: fewer than 10 days of history, no completion
   in the history, a "how many" date that is not after today, or a "when" whose 95% answer
   lies beyond 10 years (3,650 days) at the observed throughput.
3. Simulated days are whole future days starting tomorrow (today, being partial, is not
   simulated). "When" counts the days a trial needs until its cumulative throughput reaches
   the remaining items; a forecast of k days means "done by the end of today + k days".
   Zero remaining items is done today (0 days).
4. "When" percentile q: the smallest day count that at least q% of trials needed no more than,
   the rank ceil(q x trials) of the sorted day counts; this equals NumPy's
   `np.percentile(days, q, method="inverted_cdf")`, so the answer is always a whole day some
   trial actually reached (linear interpolation would invent fractional days).
5. "How many" percentile q: the largest count that at least q% of trials reached, the rank
   ceil(q x trials) of the counts sorted from the top. For 85% this is a 15th percentile of
   the trial counts, as METRICS.md says, taken from the top so that at least 85% of trials,
   not merely 85% rounded down, reached it. The days simulated are tomorrow to `until`
   inclusive: (until - today) days.
6. Draws are made in blocks of 128 days for all trials at once until every trial has finished
   (or the 3,650-day horizon), which bounds memory at 10,000 x 128 draws per block.
7. A simulation is a pure function of its inputs (the daily counts, the remaining items or
   the days simulated, the seed, the trials), so its percentiles may be memoized in a cache
   under a digest of exactly those inputs (`cache=`): the same inputs give the same answer
   with or without it. The portfolio dashboard simulates every project on each view, and
   10,000 trials cost tens of milliseconds each; the answers only change when a day passes
   or an item is done. A cache that fails is logged and bypassed, never an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from metrics.flow import DailyThroughput

DEFAULT_TRIALS = 10_000
DEFAULT_HISTORY_DAYS = 90
DEFAULT_SEED = 20_260_101
MIN_HISTORY_DAYS = 10
MAX_FORECAST_DAYS = 3_650
BLOCK_DAYS = 128
PERCENTILES = (50, 85, 95)
SIMULATION_VERSION = 2  # part of the cache key: bump when the simulation's answers change
CACHE_SECONDS = 24 * 3600

logger = logging.getLogger(__name__)


class SimulationCache(Protocol):
    """What memoizing needs of a cache (Django's caches satisfy it)."""

    def get(self, key: str, default: object = None) -> object: ...

    def set(self, key: str, value: object, timeout: int | None = ...) -> None: ...


class BatchSimulationCache(SimulationCache, Protocol):
    """A cache that also reads and writes many keys in one round trip (Django's do)."""

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]: ...

    def set_many(self, data: Mapping[str, Any], timeout: int | None = ...) -> list[str]: ...


K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class WhenForecast:
    """By which dates 50%, 85% and 95% of trials finished `remaining` items."""

    available: bool
    reason: str
    remaining: int
    trials: int
    seed: int
    today: dt.date
    history_start: dt.date
    history_end: dt.date
    history_days: int
    history_completed: int
    p50_days: int | None = None
    p85_days: int | None = None
    p95_days: int | None = None
    p50_date: dt.date | None = None
    p85_date: dt.date | None = None
    p95_date: dt.date | None = None
    distribution: tuple[tuple[int, int], ...] = ()
    """(days from today, trials finishing that day) for every day some trial finished: the
    histogram the 50/85/95% marks are read from."""


@dataclass(frozen=True, slots=True)
class HowManyForecast:
    """How many items at least 50%, 85% and 95% of trials completed by the end of `until`."""

    available: bool
    reason: str
    until: dt.date
    days: int
    trials: int
    seed: int
    today: dt.date
    history_start: dt.date
    history_end: dt.date
    history_days: int
    history_completed: int
    p50: int | None = None
    p85: int | None = None
    p95: int | None = None


def _ceil_rank(percent: int, trials: int) -> int:
    """ceil(percent / 100 x trials) in integers, so 85% of 10,000 is 8,500 exactly."""
    return -(-percent * trials // 100)


def _unavailable_reason(history: DailyThroughput) -> str:
    days = len(history.counts)
    if days < MIN_HISTORY_DAYS:
        return (
            f"Only {days} day(s) of throughput history ({history.history_start} to "
            f"{history.history_end}, today excluded); a forecast needs at least "
            f"{MIN_HISTORY_DAYS}."
        )
    if sum(history.counts) == 0:
        return (
            f"No item was completed from {history.history_start} to {history.history_end} "
            "(today excluded), so there is no throughput to sample."
        )
    return ""


def _cache_key(inputs: Sequence[object]) -> str:
    digest = hashlib.sha256(json.dumps([SIMULATION_VERSION, *inputs]).encode()).hexdigest()
    return f"metrics:forecast:{digest}"


def _memoized(
    cache: SimulationCache | None,
    inputs: Sequence[object],
    simulate: Callable[[], list[Any]],
) -> list[Any]:
    """A simulation's JSON-ready answer, from `cache` when it holds the answer for exactly
    these inputs (decision 7)."""
    if cache is None:
        return simulate()
    key = _cache_key(inputs)
    try:
        cached = cache.get(key)
    except Exception:
        logger.warning("Forecast cache unavailable; simulating without it.", exc_info=True)
        return simulate()
    if isinstance(cached, str):
        return json.loads(cached)
    answer = simulate()
    try:
        cache.set(key, json.dumps(answer), CACHE_SECONDS)
    except Exception:
        logger.warning("Forecast cache unavailable; the answer is not kept.", exc_info=True)
    return answer


def days_to_finish(
    samples: np.ndarray, *, remaining: int, trials: int, rng: np.random.Generator
) -> np.ndarray:
    """Days each trial needs to reach `remaining`; MAX_FORECAST_DAYS + 1 if it never does."""
    if remaining <= 0:
        return np.zeros(trials, dtype=np.int64)
    finished_on = np.full(trials, MAX_FORECAST_DAYS + 1, dtype=np.int64)
    total = np.zeros(trials, dtype=np.int64)
    open_trials = np.ones(trials, dtype=bool)
    elapsed = 0
    while elapsed < MAX_FORECAST_DAYS and open_trials.any():
        width = min(BLOCK_DAYS, MAX_FORECAST_DAYS - elapsed)
        cumulative = total[:, None] + np.cumsum(rng.choice(samples, size=(trials, width)), axis=1)
        reached = cumulative >= remaining
        newly = open_trials & reached.any(axis=1)
        finished_on[newly] = elapsed + reached[newly].argmax(axis=1) + 1
        open_trials &= ~newly
        total = cumulative[:, -1]
        elapsed += width
    return finished_on


def completions_by(
    samples: np.ndarray, *, days: int, trials: int, rng: np.random.Generator
) -> np.ndarray:
    """Items each trial completes over `days` days."""
    total = np.zeros(trials, dtype=np.int64)
    for first in range(0, days, BLOCK_DAYS):
        width = min(BLOCK_DAYS, days - first)
        total += rng.choice(samples, size=(trials, width)).sum(axis=1)
    return total


def forecast_when(
    history: DailyThroughput,
    *,
    remaining: int,
    seed: int,
    trials: int = DEFAULT_TRIALS,
    cache: SimulationCache | None = None,
) -> WhenForecast:
    """METRICS.md "When": the dates by which 50%, 85% and 95% of trials finished."""
    if remaining < 0:
        raise ValueError("The number of remaining items cannot be negative.")
    if trials < 1:
        raise ValueError("A forecast needs at least one trial.")
    basis = {
        "remaining": remaining,
        "trials": trials,
        "seed": seed,
        "today": history.today,
        "history_start": history.history_start,
        "history_end": history.history_end,
        "history_days": len(history.counts),
        "history_completed": sum(history.counts),
    }
    reason = _unavailable_reason(history)
    if reason:
        return WhenForecast(available=False, reason=reason, **basis)

    def simulate() -> list[Any]:
        rng = np.random.default_rng(seed)
        samples = np.asarray(history.counts, dtype=np.int64)
        ordered = np.sort(days_to_finish(samples, remaining=remaining, trials=trials, rng=rng))
        marks = [int(ordered[_ceil_rank(percent, trials) - 1]) for percent in PERCENTILES]
        finishing_days, counts = np.unique(ordered, return_counts=True)
        histogram = [
            [int(day), int(count)] for day, count in zip(finishing_days, counts, strict=True)
        ]
        return [marks, histogram]

    figures, histogram = _memoized(
        cache, ["when", list(history.counts), remaining, seed, trials], simulate
    )
    days = dict(zip(PERCENTILES, figures, strict=True))
    if days[95] > MAX_FORECAST_DAYS:
        return WhenForecast(
            available=False,
            reason=(
                f"At the observed throughput more than 5% of trials need over "
                f"{MAX_FORECAST_DAYS} days for {remaining} items."
            ),
            **basis,
        )
    return WhenForecast(
        available=True,
        reason="",
        **basis,
        p50_days=days[50],
        p85_days=days[85],
        p95_days=days[95],
        p50_date=history.today + dt.timedelta(days=days[50]),
        p85_date=history.today + dt.timedelta(days=days[85]),
        p95_date=history.today + dt.timedelta(days=days[95]),
        distribution=tuple((day, count) for day, count in histogram),
    )


class _Prefetched:
    """A cache that answers from one `get_many` and keeps what is written for one
    `set_many`, so a page forecasting twenty projects makes two cache round trips, not forty."""

    def __init__(self, found: Mapping[str, Any]) -> None:
        self.found = dict(found)
        self.written: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.found.get(key)

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        self.written[key] = value


def forecasts_when(
    requests: Mapping[K, tuple[DailyThroughput, int]],
    *,
    seed: int,
    trials: int = DEFAULT_TRIALS,
    cache: BatchSimulationCache | None = None,
) -> dict[K, WhenForecast]:
    """`forecast_when` of several (history, remaining) pairs, by their keys, reading and
    writing the cache once for all of them."""
    if cache is None:
        return {
            key: forecast_when(history, remaining=remaining, seed=seed, trials=trials)
            for key, (history, remaining) in requests.items()
        }
    keys = [
        _cache_key(["when", list(history.counts), remaining, seed, trials])
        for history, remaining in requests.values()
    ]
    try:
        prefetched = _Prefetched(cache.get_many(keys))
    except Exception:
        logger.warning("Forecast cache unavailable; simulating without it.", exc_info=True)
        return forecasts_when(requests, seed=seed, trials=trials, cache=None)
    answers = {
        key: forecast_when(history, remaining=remaining, seed=seed, trials=trials, cache=prefetched)
        for key, (history, remaining) in requests.items()
    }
    if prefetched.written:
        try:
            cache.set_many(prefetched.written, CACHE_SECONDS)
        except Exception:
            logger.warning("Forecast cache unavailable; the answers are not kept.", exc_info=True)
    return answers


def forecast_how_many(
    history: DailyThroughput,
    *,
    until: dt.date,
    seed: int,
    trials: int = DEFAULT_TRIALS,
    cache: SimulationCache | None = None,
) -> HowManyForecast:
    """METRICS.md "How many by date": the counts at least 50%, 85% and 95% of trials reached."""
    if trials < 1:
        raise ValueError("A forecast needs at least one trial.")
    days = (until - history.today).days
    basis = {
        "until": until,
        "days": max(days, 0),
        "trials": trials,
        "seed": seed,
        "today": history.today,
        "history_start": history.history_start,
        "history_end": history.history_end,
        "history_days": len(history.counts),
        "history_completed": sum(history.counts),
    }
    reason = _unavailable_reason(history)
    if not reason and days <= 0:
        reason = f"The date {until} is not after today ({history.today})."
    if reason:
        return HowManyForecast(available=False, reason=reason, **basis)

    def simulate() -> list[Any]:
        rng = np.random.default_rng(seed)
        samples = np.asarray(history.counts, dtype=np.int64)
        from_top = np.sort(completions_by(samples, days=days, trials=trials, rng=rng))[::-1]
        return [int(from_top[_ceil_rank(percent, trials) - 1]) for percent in PERCENTILES]

    figures = _memoized(cache, ["how_many", list(history.counts), days, seed, trials], simulate)
    counts = dict(zip(PERCENTILES, figures, strict=True))
    return HowManyForecast(
        available=True, reason="", **basis, p50=counts[50], p85=counts[85], p95=counts[95]
    )
