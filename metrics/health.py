"""Project health (RAG), METRICS.md "Health (RAG)", as named, configurable rules.

A rule is a module-level object with a name, a description, the status it sets when it fires
and its thresholds; `evaluate_health` runs a tuple of them over a `ProjectSnapshot` and keeps
the worst status, with every rule's sentence (figures included) as the reasons. The default
rules are METRICS.md's: the flow rules (forecast against the target date, say/do) and the KPI
rules ("any KPI beyond its red / amber threshold", `KpiBeyondThreshold`), which read the
KPIs the snapshot carries with their latest values (metrics.kpis.figures; the status of one
value against its thresholds is metrics.kpis.rag).

Decisions where METRICS.md is silent:

1. Every rule answers one verdict: fired, passed, not applicable (it has data but nothing to
   compare with: a forecast and no target date) or no data (no forecast, no say/do). The
   project is grey ("no data") when every rule answers no data, so a project with no closed
   sprint and no forecast is never green; otherwise it takes the worst status among the
   fired rules, green if none fired.
2. The forecast is the Monte Carlo "when" of the project's open items (not done now) with the
   default seed, at the project's metrics now, so the same data gives the same health. It
   "falls after the target date" when its date is strictly later: on the date is on time.
3. Say/do averages the per-sprint ratios of the last 3 closed sprints; a sprint that
   committed nothing has no ratio and is left out of the mean (fewer than 3 closed sprints:
   the mean of those there are, as for the rolling velocity). "Below 0.7" is strict and
   exact (fractions of the points, no floating-point rounding at the boundary).
4. Reasons come worst first: fired rules (red, then amber), then passed, not applicable and
   no-data rules, each in rule order.
5. A rule may have nothing to judge in a project at all: the KPI rules in a project that
   defines no (active) KPI. It then answers None and is left out of the reasons, so a
   project without KPIs reads exactly as before. A project whose KPIs have no measurement
   yet is "no data" for the KPI rules (and grey if the flow rules have no data either).
6. KPI rules use each active KPI's latest measurement (latest period start), however old.
   The red rule fires when any is beyond its red threshold; the amber rule when any is
   beyond its amber threshold, as METRICS.md words it, so a KPI beyond red is named by both
   (as the 50% forecast rule fires along with the 85% one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Literal, Protocol

from metrics.kpis.figures import KpiFigure
from metrics.kpis.rag import worse_word
from metrics.kpis.text import number_text, value_text
from metrics.rounding import round_half_up
from metrics.snapshots import ProjectSnapshot

HealthStatus = Literal["green", "amber", "red", "grey"]

GREEN: HealthStatus = "green"
AMBER: HealthStatus = "amber"
RED: HealthStatus = "red"
GREY: HealthStatus = "grey"
STATUS_ORDER: dict[str, int] = {GREEN: 0, AMBER: 1, RED: 2}
NO_DATA_RULE = "NO_DATA"


class Verdict(StrEnum):
    FIRED = "fired"
    PASSED = "passed"
    NOT_APPLICABLE = "not_applicable"
    NO_DATA = "no_data"


VERDICT_ORDER = {Verdict.FIRED: 0, Verdict.PASSED: 1, Verdict.NOT_APPLICABLE: 2, Verdict.NO_DATA: 3}


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    verdict: Verdict
    sentence: str


@dataclass(frozen=True, slots=True)
class HealthReason:
    """One rule's answer: its name, a sentence with the figures, and its verdict."""

    rule: str
    sentence: str
    verdict: Verdict
    status: HealthStatus | None = None  # the status the rule set, when it fired


@dataclass(frozen=True, slots=True)
class ProjectHealth:
    status: HealthStatus
    reasons: tuple[HealthReason, ...]

    @property
    def label(self) -> str:
        """What a badge says: "no data" for grey, else the colour."""
        return "no data" if self.status == GREY else self.status

    @property
    def fired(self) -> tuple[HealthReason, ...]:
        """The reasons that set the status (empty for green)."""
        return tuple(r for r in self.reasons if r.verdict == Verdict.FIRED or r.status == GREY)


class HealthRule(Protocol):
    """What `evaluate_health` needs of a rule. `evaluate` answers None when the rule has
    nothing to judge in this project (decision 5)."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> HealthStatus: ...

    @property
    def description(self) -> str: ...

    def evaluate(self, snapshot: ProjectSnapshot) -> RuleOutcome | None: ...


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _items(count: int) -> str:
    return f"{count} open item" if count == 1 else f"{count} open items"


@dataclass(frozen=True, slots=True)
class ForecastAfterTarget:
    """Fires when the forecast of the open scope at `percentile` is after the target date."""

    name: str
    status: HealthStatus
    percentile: Literal[50, 85, 95]
    description: str

    def evaluate(self, snapshot: ProjectSnapshot) -> RuleOutcome:
        forecast, target = snapshot.forecast, snapshot.target_date
        if not forecast.available:
            missing_target = " There is no target date either." if target is None else ""
            return RuleOutcome(
                Verdict.NO_DATA,
                f"No {self.percentile}% forecast: {forecast.reason}{missing_target}",
            )
        date: dt.date = getattr(forecast, f"p{self.percentile}_date")
        scope = (
            f"{self.percentile}% forecast {date.isoformat()} for the {_items(forecast.remaining)}"
        )
        if target is None:
            return RuleOutcome(
                Verdict.NOT_APPLICABLE,
                f"No target date: the {scope} is not compared with one.",
            )
        if date > target:
            late = (date - target).days
            return RuleOutcome(
                Verdict.FIRED,
                f"The {scope} falls after the target date {target.isoformat()} "
                f"({_days(late)} late).",
            )
        return RuleOutcome(
            Verdict.PASSED, f"The {scope} is on or before the target date {target.isoformat()}."
        )


@dataclass(frozen=True, slots=True)
class SayDoBelow:
    """Fires when the say/do ratios of the last `sprints` closed sprints average below
    `threshold`."""

    name: str
    status: HealthStatus
    threshold: Decimal
    sprints: int
    description: str

    def evaluate(self, snapshot: ProjectSnapshot) -> RuleOutcome:
        window = snapshot.summary.closed_sprints[-self.sprints :]
        rated = [s for s in window if s.committed_points]  # None: membership unknown
        if not rated:
            return RuleOutcome(
                Verdict.NO_DATA,
                f"No say/do: none of the last {self.sprints} closed sprints committed points.",
            )
        ratios = [Fraction(s.completed_points) / Fraction(s.committed_points) for s in rated]
        mean = sum(ratios, Fraction(0)) / len(ratios)
        detail = ", ".join(
            f"{s.name} {round_half_up(float(r)):.2f}" for s, r in zip(rated, ratios, strict=True)
        )
        scope = (
            f"the last {len(rated)} closed sprint" + ("s" if len(rated) > 1 else "")
            if len(rated) == len(window)
            else f"{len(rated)} of the last {len(window)} closed sprints"
        )
        figures = f"Say/do averages {round_half_up(float(mean)):.2f} over {scope} ({detail})"
        if mean < Fraction(self.threshold):
            return RuleOutcome(Verdict.FIRED, f"{figures}, below {self.threshold}.")
        return RuleOutcome(Verdict.PASSED, f"{figures}, not below {self.threshold}.")


def kpi_value_text(figure: KpiFigure) -> str:
    return value_text(figure.value, figure.unit)


def _kpi_names(figures: list[KpiFigure]) -> str:
    return ", ".join(figure.name for figure in figures)


@dataclass(frozen=True, slots=True)
class KpiBeyondThreshold:
    """Fires when any active KPI's latest value is beyond its `threshold` ("red" or
    "amber") threshold: strictly worse, in the KPI's direction (metrics.kpis.rag)."""

    name: str
    status: HealthStatus
    threshold: Literal["red", "amber"]
    description: str

    def _beyond(self, figure: KpiFigure) -> bool:
        if self.threshold == RED:
            return figure.status == RED
        return figure.status in (AMBER, RED)

    def _limit(self, figure: KpiFigure) -> Decimal:
        return figure.red_threshold if self.threshold == RED else figure.amber_threshold

    def evaluate(self, snapshot: ProjectSnapshot) -> RuleOutcome | None:
        figures = list(snapshot.kpis)
        if not figures:
            return None
        measured = [figure for figure in figures if figure.measured]
        unmeasured = [figure for figure in figures if not figure.measured]
        if not measured:
            return RuleOutcome(
                Verdict.NO_DATA,
                f"No KPI has a measurement yet ({_kpi_names(unmeasured)}).",
            )
        missing = f" Not measured yet: {_kpi_names(unmeasured)}." if unmeasured else ""
        beyond = [figure for figure in measured if self._beyond(figure)]
        if beyond:
            details = "; ".join(
                f"{figure.name} {kpi_value_text(figure)} for {figure.period_start.isoformat()} is "
                f"{worse_word(figure.direction)} its {self.threshold} threshold "
                f"{number_text(self._limit(figure))}"
                for figure in beyond
            )
            count = "1 KPI is" if len(beyond) == 1 else f"{len(beyond)} KPIs are"
            return RuleOutcome(
                Verdict.FIRED,
                f"{count} beyond the {self.threshold} threshold: {details}.{missing}",
            )
        values = ", ".join(f"{figure.name} {kpi_value_text(figure)}" for figure in measured)
        if len(measured) == 1:
            sentence = f"{values} is not beyond its {self.threshold} threshold."
        else:
            sentence = (
                f"None of the {len(measured)} measured KPIs is beyond its {self.threshold} "
                f"threshold ({values})."
            )
        return RuleOutcome(Verdict.PASSED, sentence + missing)


FORECAST_85_AFTER_TARGET = ForecastAfterTarget(
    name="FORECAST_85_AFTER_TARGET",
    status=RED,
    percentile=85,
    description="Red: the 85% Monte Carlo forecast of the open items falls after the target date.",
)
FORECAST_50_AFTER_TARGET = ForecastAfterTarget(
    name="FORECAST_50_AFTER_TARGET",
    status=AMBER,
    percentile=50,
    description="Amber: the 50% Monte Carlo forecast of the open items falls after the target "
    "date.",
)
SAY_DO_BELOW = SayDoBelow(
    name="SAY_DO_BELOW",
    status=AMBER,
    threshold=Decimal("0.7"),
    sprints=3,
    description="Amber: the say/do ratio of the last 3 closed sprints averages below 0.7.",
)

KPI_BEYOND_RED = KpiBeyondThreshold(
    name="KPI_BEYOND_RED",
    status=RED,
    threshold=RED,
    description="Red: a KPI's latest value is beyond its red threshold.",
)
KPI_BEYOND_AMBER = KpiBeyondThreshold(
    name="KPI_BEYOND_AMBER",
    status=AMBER,
    threshold=AMBER,
    description="Amber: a KPI's latest value is beyond its amber threshold.",
)

DEFAULT_RULES: tuple[HealthRule, ...] = (
    FORECAST_85_AFTER_TARGET,
    FORECAST_50_AFTER_TARGET,
    SAY_DO_BELOW,
    KPI_BEYOND_RED,
    KPI_BEYOND_AMBER,
)


def evaluate_health(
    snapshot: ProjectSnapshot, rules: tuple[HealthRule, ...] = DEFAULT_RULES
) -> ProjectHealth:
    """The project's RAG status and the reasons, worst first (decisions 1, 4 and 5)."""
    answers = [
        (rule, outcome) for rule in rules if (outcome := rule.evaluate(snapshot)) is not None
    ]
    reasons = sorted(
        (
            HealthReason(
                rule=rule.name,
                sentence=outcome.sentence,
                verdict=outcome.verdict,
                status=rule.status if outcome.verdict == Verdict.FIRED else None,
            )
            for rule, outcome in answers
        ),
        key=lambda r: (VERDICT_ORDER[r.verdict], -STATUS_ORDER.get(r.status or GREEN, 0)),
    )
    if all(outcome.verdict == Verdict.NO_DATA for _rule, outcome in answers):
        summary = HealthReason(
            rule=NO_DATA_RULE,
            sentence="No data: no closed sprint with a say/do ratio, no forecast of the "
            "open items and no measured KPI, so the health cannot be judged.",
            verdict=Verdict.NO_DATA,
            status=GREY,
        )
        return ProjectHealth(status=GREY, reasons=(summary, *reasons))
    fired = [r.status for r in reasons if r.status is not None]
    status = max(fired, key=STATUS_ORDER.__getitem__) if fired else GREEN
    return ProjectHealth(status=status, reasons=tuple(reasons))
