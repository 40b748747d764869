"""Deterministic flow risk signals of a project, read from its `ProjectSnapshot`.

Each signal is a module-level rule object (a code, a severity, a description, its thresholds)
whose `evaluate` returns a frozen `RiskSignal` (code, severity, a sentence with the figures,
and the evidence: item keys, sprint id, figures) or None. The same data always gives the
same signals: the agents issue builds its facts on them, and a human can check every figure
against the API.

Rules and decisions (every threshold is a field of the rule object):

- BURNDOWN_BEHIND_IDEAL (medium): the active sprint's remaining points exceed its ideal line
  by more than 20% on the latest burndown day that has ended by now (the point that can no
  longer move), remaining > ideal x 1.2 and > 0; with an ideal of 0 (the close day) any
  remaining work is behind.
- SAY_DO_LOW (medium): the last closed sprint's say/do ratio is below 0.7 (strictly; a sprint
  that committed nothing has no ratio and raises nothing).
- CYCLE_TIME_RISING (medium): the cycle-time p85 of the items done in the last 30 days is more
  than 30% above the p85 of the 30 days before (both windows need at least one item).
- AGING_WIP (medium): items in progress whose age exceeds the cycle-time p85 of the items done
  in the last 90 days (the reference of the aging-WIP chart), oldest first.
- FORECAST_AFTER_TARGET (high): the 85% "when" forecast of the open items falls after the
  project's target date (strictly later).
- SCOPE_GROWTH (medium): the points added to the active sprint (or, without one, to the last
  closed sprint) after its start exceed 20% of its committed points (added > committed x 0.2,
  and added > 0; a sprint that committed nothing grows by anything added).
- NO_THROUGHPUT (high): no item done in the last 14 days, [now - 14 days, now), while items
  are open and the project has had work items for at least 14 days (a fresh import is not a
  stall).

Comparisons with thresholds use exact fractions, so a figure exactly at the threshold never
fires through floating-point rounding.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal, Protocol

from metrics.rounding import round_half_up
from metrics.snapshots import ProjectSnapshot

Severity = Literal["low", "medium", "high"]
SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
FigureValue = float | int | str | None


@dataclass(frozen=True, slots=True)
class RiskEvidence:
    """What backs a signal. Figures are JSON-safe (numbers rounded to 2 decimals, dates as
    ISO strings) so agents and the API can pass them on as they are."""

    sprint_id: int | None = None
    item_keys: tuple[str, ...] = ()
    figures: dict[str, FigureValue] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class RiskSignal:
    code: str
    severity: Severity
    sentence: str
    evidence: RiskEvidence


class RiskRule(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def severity(self) -> Severity: ...

    @property
    def description(self) -> str: ...

    def evaluate(self, snapshot: ProjectSnapshot) -> RiskSignal | None: ...


def _round(value: Decimal | float | Fraction | None) -> float | None:
    if value is None:
        return None
    return round_half_up(float(value) if isinstance(value, Fraction) else value)


def _number(value: Decimal | float) -> str:
    """A figure for a sentence: at most 2 decimals, no trailing zeros (21, 12.5, 0.33)."""
    text = f"{round_half_up(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _percent(value: Fraction) -> str:
    return f"{round_half_up(float(value) * 100, 0):.0f}%"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True, slots=True)
class BurndownBehindIdeal:
    code: str
    severity: Severity
    threshold: Decimal
    description: str

    def evaluate(self, snapshot: ProjectSnapshot) -> RiskSignal | None:
        sprint, day = snapshot.summary.active_sprint, snapshot.active_sprint_day
        if sprint is None or day is None:
            return None
        remaining, ideal = Fraction(day.remaining), Fraction(day.ideal)
        if remaining <= 0 or remaining <= ideal * (1 + Fraction(self.threshold)):
            return None
        excess = (remaining - ideal) / ideal if ideal > 0 else None
        above = f"+{_percent(excess)}" if excess is not None else "the ideal is 0 by then"
        return RiskSignal(
            code=self.code,
            severity=self.severity,
            sentence=(
                f"{sprint.name} is behind its ideal line: {_number(day.remaining)} points "
                f"remain at the end of {day.day.isoformat()} against an ideal of "
                f"{_number(day.ideal)} ({above}; threshold +{_percent(Fraction(self.threshold))})."
            ),
            evidence=RiskEvidence(
                sprint_id=sprint.sprint_id,
                figures={
                    "day": day.day.isoformat(),
                    "remaining_points": _round(day.remaining),
                    "ideal_points": _round(day.ideal),
                    "excess_ratio": _round(excess) if excess is not None else None,
                    "threshold_ratio": _round(self.threshold),
                },
            ),
        )


@dataclass(frozen=True, slots=True)
class SayDoLow:
    code: str
    severity: Severity
    threshold: Decimal
    description: str

    def evaluate(self, snapshot: ProjectSnapshot) -> RiskSignal | None:
        closed = snapshot.summary.closed_sprints
        if not closed or not closed[-1].committed_points:  # none committed, or not defined
            return None
        sprint = closed[-1]
        ratio = Fraction(sprint.completed_points) / Fraction(sprint.committed_points)
        if ratio >= Fraction(self.threshold):
            return None
        return RiskSignal(
            code=self.code,
            severity=self.severity,
            sentence=(
                f"{sprint.name} delivered {_number(sprint.completed_points)} of the "
                f"{_number(sprint.committed_points)} points it committed: say/do "
                f"{round_half_up(float(ratio)):.2f}, below {self.threshold}."
            ),
            evidence=RiskEvidence(
                sprint_id=sprint.sprint_id,
                figures={
                    "committed_points": _round(sprint.committed_points),
                    "completed_points": _round(sprint.completed_points),
                    "say_do": _round(ratio),
                    "threshold": _round(self.threshold),
                },
            ),
        )


@dataclass(frozen=True, slots=True)
class CycleTimeRising:
    code: str
    severity: Severity
    increase: Decimal
    description: str

    def evaluate(self, snapshot: ProjectSnapshot) -> RiskSignal | None:
        project_flow = snapshot.flow
        recent, previous = project_flow.recent_cycle_time_p85, project_flow.previous_cycle_time_p85
        if recent is None or previous is None:
            return None
        if Fraction(recent) <= Fraction(previous) * (1 + Fraction(self.increase)):
            return None
        days = project_flow.trend_days
        rise = (
            f"rose {_percent((Fraction(recent) - Fraction(previous)) / Fraction(previous))}"
            if previous > 0
            else "rose"
        )
        return RiskSignal(
            code=self.code,
            severity=self.severity,
            sentence=(
                f"Cycle time p85 {rise} to {_number(recent)} days over the last {days} days "
                f"({_plural(project_flow.recent_cycle_time_items, 'item')}), from "
                f"{_number(previous)} days the {days} days before "
                f"({_plural(project_flow.previous_cycle_time_items, 'item')}); threshold "
                f"+{_percent(Fraction(self.increase))}."
            ),
            evidence=RiskEvidence(
                figures={
                    "recent_p85_days": _round(recent),
                    "recent_items": project_flow.recent_cycle_time_items,
                    "previous_p85_days": _round(previous),
                    "previous_items": project_flow.previous_cycle_time_items,
                    "window_days": days,
                    "threshold_ratio": _round(self.increase),
                },
            ),
        )


@dataclass(frozen=True, slots=True)
class AgingWip:
    code: str
    severity: Severity
    description: str
    listed: int = 5  # keys named in the sentence; the evidence has them all

    def evaluate(self, snapshot: ProjectSnapshot) -> RiskSignal | None:
        project_flow = snapshot.flow
        if not project_flow.aging or project_flow.cycle_time_p85 is None:
            return None
        aging = project_flow.aging
        named = ", ".join(f"{a.key} ({_number(a.age_days)} days)" for a in aging[: self.listed])
        more = f" and {len(aging) - self.listed} more" if len(aging) > self.listed else ""
        verb = "is" if len(aging) == 1 else "are"
        return RiskSignal(
            code=self.code,
            severity=self.severity,
            sentence=(
                f"{_plural(len(aging), 'item')} in progress {verb} older than the cycle-time "
                f"p85 of {_number(project_flow.cycle_time_p85)} days: {named}{more}."
            ),
            evidence=RiskEvidence(
                item_keys=tuple(a.key for a in aging),
                figures={
                    "count": len(aging),
                    "cycle_time_p85_days": _round(project_flow.cycle_time_p85),
                    "oldest_age_days": _round(aging[0].age_days),
                },
            ),
        )


@dataclass(frozen=True, slots=True)
class ForecastAfterTarget:
    code: str
    severity: Severity
    percentile: Literal[50, 85, 95]
    description: str

    def evaluate(self, snapshot: ProjectSnapshot) -> RiskSignal | None:
        forecast, target = snapshot.forecast, snapshot.target_date
        if not forecast.available or target is None:
            return None
        date: dt.date = getattr(forecast, f"p{self.percentile}_date")
        if date <= target:
            return None
        late = (date - target).days
        return RiskSignal(
            code=self.code,
            severity=self.severity,
            sentence=(
                f"The {self.percentile}% forecast for the "
                f"{_plural(forecast.remaining, 'open item')} is {date.isoformat()}, "
                f"{_plural(late, 'day')} after the target date "
                f"{target.isoformat()}."
            ),
            evidence=RiskEvidence(
                figures={
                    "forecast_date": date.isoformat(),
                    "target_date": target.isoformat(),
                    "days_late": late,
                    "open_items": forecast.remaining,
                    "percentile": self.percentile,
                },
            ),
        )


@dataclass(frozen=True, slots=True)
class ScopeGrowth:
    code: str
    severity: Severity
    threshold: Decimal
    description: str

    def evaluate(self, snapshot: ProjectSnapshot) -> RiskSignal | None:
        summary = snapshot.summary
        sprint = summary.active_sprint or (
            summary.closed_sprints[-1] if summary.closed_sprints else None
        )
        if sprint is None or sprint.committed_points is None or sprint.added_points <= 0:
            return None
        added, committed = Fraction(sprint.added_points), Fraction(sprint.committed_points)
        if added <= committed * Fraction(self.threshold):
            return None
        which = "active" if sprint.state == "active" else "last closed"
        growth = f"grew {_percent(added / committed)}" if committed > 0 else "grew"
        against = (
            f"to the {_number(sprint.committed_points)} committed"
            if committed > 0
            else "to a sprint that committed none"
        )
        return RiskSignal(
            code=self.code,
            severity=self.severity,
            sentence=(
                f"{sprint.name} ({which}) {growth} after it started: "
                f"{_number(sprint.added_points)} points added {against} "
                f"(threshold {_percent(Fraction(self.threshold))})."
            ),
            evidence=RiskEvidence(
                sprint_id=sprint.sprint_id,
                figures={
                    "added_points": _round(sprint.added_points),
                    "committed_points": _round(sprint.committed_points),
                    "growth_ratio": _round(added / committed) if committed > 0 else None,
                    "threshold_ratio": _round(self.threshold),
                },
            ),
        )


@dataclass(frozen=True, slots=True)
class NoThroughput:
    code: str
    severity: Severity
    days: int
    description: str

    def evaluate(self, snapshot: ProjectSnapshot) -> RiskSignal | None:
        project_flow, now = snapshot.flow, snapshot.now
        since = now - dt.timedelta(days=self.days)
        first = project_flow.first_created_at
        if snapshot.open_items == 0 or first is None or first > since:
            return None
        last = project_flow.last_done_at
        if last is not None and last >= since:
            return None
        if last is None:
            history = "no item was ever done"
        else:
            idle = (now - last).days
            history = f"the last one was done on {last.date().isoformat()}, {idle} days ago"
        return RiskSignal(
            code=self.code,
            severity=self.severity,
            sentence=(
                f"No item done in the last {self.days} days ({history}) while "
                f"{_plural(snapshot.open_items, 'item')} "
                f"{'is' if snapshot.open_items == 1 else 'are'} open."
            ),
            evidence=RiskEvidence(
                figures={
                    "days": self.days,
                    "last_done_at": last.isoformat() if last else None,
                    "open_items": snapshot.open_items,
                },
            ),
        )


BURNDOWN_BEHIND_IDEAL = BurndownBehindIdeal(
    code="BURNDOWN_BEHIND_IDEAL",
    severity="medium",
    threshold=Decimal("0.20"),
    description="The active sprint's remaining points are more than 20% above its ideal line "
    "on the latest ended day.",
)
SAY_DO_LOW = SayDoLow(
    code="SAY_DO_LOW",
    severity="medium",
    threshold=Decimal("0.7"),
    description="The last closed sprint's say/do ratio is below 0.7.",
)
CYCLE_TIME_RISING = CycleTimeRising(
    code="CYCLE_TIME_RISING",
    severity="medium",
    increase=Decimal("0.30"),
    description="The cycle-time p85 of the last 30 days is more than 30% above the previous "
    "30 days'.",
)
AGING_WIP = AgingWip(
    code="AGING_WIP",
    severity="medium",
    description="Items in progress are older than the cycle-time p85 of the last 90 days.",
)
FORECAST_AFTER_TARGET = ForecastAfterTarget(
    code="FORECAST_AFTER_TARGET",
    severity="high",
    percentile=85,
    description="The 85% forecast of the open items falls after the target date.",
)
SCOPE_GROWTH = ScopeGrowth(
    code="SCOPE_GROWTH",
    severity="medium",
    threshold=Decimal("0.20"),
    description="Points added to the active (or last) sprint after its start exceed 20% of "
    "its committed points.",
)
NO_THROUGHPUT = NoThroughput(
    code="NO_THROUGHPUT",
    severity="high",
    days=14,
    description="No item done for 14 days while items are open.",
)

DEFAULT_RISK_RULES: tuple[RiskRule, ...] = (
    FORECAST_AFTER_TARGET,
    NO_THROUGHPUT,
    BURNDOWN_BEHIND_IDEAL,
    SCOPE_GROWTH,
    SAY_DO_LOW,
    CYCLE_TIME_RISING,
    AGING_WIP,
)


def evaluate_risks(
    snapshot: ProjectSnapshot, rules: tuple[RiskRule, ...] = DEFAULT_RISK_RULES
) -> tuple[RiskSignal, ...]:
    """The signals the rules raise, highest severity first, then in rule order."""
    signals = [signal for rule in rules if (signal := rule.evaluate(snapshot)) is not None]
    return tuple(sorted(signals, key=lambda signal: SEVERITY_ORDER[signal.severity]))
