"""What the metrics API reads and sends.

Input serializers validate query parameters (a bad one is a 400 naming it); output
serializers render the frozen dataclasses of `metrics.selectors` as they are, so the API
shows the selectors' numbers, only rounded (half up, metrics.rounding): points and days to 2
decimals, ratios (say/do) to 3, as JSON numbers (never strings); instants and dates in ISO
8601. They never query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from metrics.forecasting import MAX_FORECAST_DAYS
from metrics.rounding import round_half_up

MAX_PERIOD_DAYS = 3_660
MAX_REMAINING_ITEMS = 100_000
MAX_SEED = 2**32 - 1

# --- Fields ----------------------------------------------------------------------------------


class RoundedFloatField(serializers.FloatField):
    """A float rounded half up for display (`decimals` places); null stays null."""

    def __init__(self, *, decimals: int = 2, **kwargs: Any) -> None:
        self.decimals = decimals
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> float:
        return round_half_up(value, self.decimals)


def points_field(**kwargs: Any) -> serializers.DecimalField:
    """Story points: a decimal sent as a JSON number with 2 decimals."""
    return serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        coerce_to_string=False,
        rounding=ROUND_HALF_UP,
        read_only=True,
        **kwargs,
    )


def days_field(**kwargs: Any) -> RoundedFloatField:
    return RoundedFloatField(decimals=2, **kwargs)


def _enum_field(name: str, values: list[str], description: str) -> type[serializers.CharField]:
    """A read-only string documented as an enum component of its own `name`, so that fields
    of the same name elsewhere in the schema (every app has a `status`) never collide."""

    @extend_schema_field(
        {"type": "string", "enum": values, "description": description}, component_name=name
    )
    class EnumField(serializers.CharField):
        pass

    return EnumField


SprintStateField = _enum_field("SprintState", ["active", "closed"], "Sprint state.")
HealthStatusField = _enum_field(
    "HealthStatus", ["green", "amber", "red", "grey"], "RAG status; grey = no data."
)
VerdictField = _enum_field(
    "HealthRuleVerdict",
    ["fired", "passed", "not_applicable", "no_data"],
    "What a health rule concluded.",
)
SeverityField = _enum_field("RiskSeverity", ["low", "medium", "high"], "Severity of a signal.")
ForecastKindField = _enum_field(
    "ForecastKind", ["when", "how_many"], "when: dates for N items; how_many: items by a date."
)


# --- Input -----------------------------------------------------------------------------------


class PeriodInputSerializer(serializers.Serializer):
    """A period of local days [start, end) of the project. Either bound may be left out:
    the missing one comes from the endpoint's default period (context["default"], a pair of
    dates), keeping the default length when only `end` is given."""

    start = serializers.DateField(
        required=False, help_text="First local day of the period, YYYY-MM-DD (included)."
    )
    end = serializers.DateField(
        required=False,
        help_text="Local day after the period, YYYY-MM-DD (excluded; start = end is empty).",
    )

    def validate(self, attrs: Mapping[str, Any]) -> dict[str, dt.date]:
        default_start, default_end = self.context["default"]
        start, end = attrs.get("start"), attrs.get("end")
        if start is None and end is None:
            return {"start": default_start, "end": default_end}
        if start is None:
            try:
                start = end - (default_end - default_start)
            except OverflowError:
                raise serializers.ValidationError(
                    {"end": ["The default period before this end starts before year 1."]}
                ) from None
        blamed = "end" if "end" in attrs else "start"
        end = end if end is not None else default_end
        if end < start:
            raise serializers.ValidationError(
                {blamed: [f"The period ends ({end}) before it starts ({start})."]}
            )
        if (end - start).days > MAX_PERIOD_DAYS:
            raise serializers.ValidationError(
                {blamed: [f"The period is {(end - start).days} days; at most {MAX_PERIOD_DAYS}."]}
            )
        return {"start": start, "end": end}


class ForecastInputSerializer(serializers.Serializer):
    """`remaining` asks "when", `date` asks "how many"; neither asks when the project's open
    items will be done. The date must lie after the project's today (context["today"]) and
    within the simulation horizon."""

    remaining = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_REMAINING_ITEMS,
        help_text="Forecast when this many items will be done (default: the open items).",
    )
    date = serializers.DateField(
        required=False,
        help_text="Forecast how many items will be done by the end of this local day.",
    )
    seed = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_SEED,
        help_text="Random seed of the simulation (default: the recorded default seed).",
    )

    def validate(self, attrs: Mapping[str, Any]) -> Mapping[str, Any]:
        if "remaining" in attrs and "date" in attrs:
            raise serializers.ValidationError(
                "Give either remaining (when) or date (how many), not both."
            )
        today: dt.date = self.context["today"]
        date = attrs.get("date")
        if date is not None and date <= today:
            raise serializers.ValidationError(
                {"date": [f"The date must be after the project's today ({today})."]}
            )
        if date is not None and (date - today).days > MAX_FORECAST_DAYS:
            raise serializers.ValidationError(
                {"date": [f"The date must be at most {MAX_FORECAST_DAYS} days after {today}."]}
            )
        return attrs


# --- Sprints and burndown --------------------------------------------------------------------


@extend_schema_serializer(component_name="SprintFigures")
class SprintFiguresOutputSerializer(serializers.Serializer):
    """One sprint of the sprint report (METRICS.md "Sprint figures")."""

    id = serializers.IntegerField(source="sprint_id", read_only=True)
    name = serializers.CharField(read_only=True)
    state = SprintStateField(read_only=True)
    start = serializers.DateTimeField(read_only=True)
    end = serializers.DateTimeField(read_only=True, help_text="Planned end.")
    close = serializers.DateTimeField(
        read_only=True, help_text="End of the window: completion time if closed, else end."
    )
    membership_known = serializers.BooleanField(
        read_only=True,
        help_text="False when the tracker gave no sprint membership: velocity is then the "
        "points resolved in the window, and committed, added, removed and say/do are null.",
    )
    committed_items = serializers.IntegerField(read_only=True, allow_null=True)
    committed_points = points_field(allow_null=True)
    completed_items = serializers.IntegerField(read_only=True)
    completed_points = points_field(help_text="The sprint's velocity.")
    added_items = serializers.IntegerField(read_only=True, allow_null=True)
    added_points = points_field(allow_null=True)
    removed_items = serializers.IntegerField(read_only=True, allow_null=True)
    removed_points = points_field(allow_null=True)
    say_do = RoundedFloatField(
        decimals=3, allow_null=True, help_text="completed / committed; null if none committed."
    )
    rolling_velocity = points_field(
        allow_null=True, help_text="Mean velocity of this and the previous closed sprints."
    )


@extend_schema_serializer(component_name="SprintReport")
class SprintReportOutputSerializer(serializers.Serializer):
    project = serializers.CharField(read_only=True, help_text="Project key.")
    rolling_window = serializers.IntegerField(
        read_only=True, help_text="Closed sprints in the rolling velocity."
    )
    sprints = SprintFiguresOutputSerializer(many=True, read_only=True)


@extend_schema_serializer(component_name="BurndownDay")
class BurndownDayOutputSerializer(serializers.Serializer):
    date = serializers.DateField(source="day", read_only=True)
    remaining = points_field(help_text="Points not done at the end of the day.")
    ideal = days_field(help_text="Ideal line: committed points down to 0 at close.")
    added = points_field()
    removed = points_field()
    reestimated = points_field(help_text="Net points change of re-estimates that day.")


@extend_schema_serializer(component_name="Burndown")
class BurndownOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="burndown.sprint_id", read_only=True)
    name = serializers.CharField(source="burndown.name", read_only=True)
    project = serializers.CharField(read_only=True, help_text="Project key.")
    state = SprintStateField(source="burndown.state", read_only=True)
    start = serializers.DateTimeField(source="burndown.start", read_only=True)
    end = serializers.DateTimeField(source="burndown.end", read_only=True)
    close = serializers.DateTimeField(source="burndown.close", read_only=True)
    time_zone = serializers.CharField(source="burndown.time_zone", read_only=True)
    committed_points = points_field(source="burndown.committed")
    days = BurndownDayOutputSerializer(source="burndown.days", many=True, read_only=True)


# --- Flow ------------------------------------------------------------------------------------


@extend_schema_serializer(component_name="CycleTimeItem")
class CycleTimeItemOutputSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True)
    start = serializers.DateTimeField(source="started_at", read_only=True)
    done = serializers.DateTimeField(source="done_at", read_only=True)
    cycle_days = days_field()
    lead_days = days_field()


class _PeriodOutputSerializer(serializers.Serializer):
    project = serializers.CharField(read_only=True, help_text="Project key.")
    start = serializers.DateField(read_only=True, help_text="First local day (included).")
    end = serializers.DateField(read_only=True, help_text="Local day after the period.")


@extend_schema_serializer(component_name="CycleTimeReport")
class CycleTimeOutputSerializer(_PeriodOutputSerializer):
    count = serializers.IntegerField(source="report.count", read_only=True)
    p50 = days_field(source="report.p50", allow_null=True)
    p85 = days_field(source="report.p85", allow_null=True)
    p95 = days_field(source="report.p95", allow_null=True)
    lead_p50 = days_field(source="report.lead_p50", allow_null=True)
    lead_p85 = days_field(source="report.lead_p85", allow_null=True)
    lead_p95 = days_field(source="report.lead_p95", allow_null=True)
    items = CycleTimeItemOutputSerializer(source="report.items", many=True, read_only=True)


@extend_schema_serializer(component_name="WeekThroughput")
class WeekThroughputOutputSerializer(serializers.Serializer):
    week_start = serializers.DateField(read_only=True, help_text="Monday of the ISO week.")
    count = serializers.IntegerField(read_only=True)


@extend_schema_serializer(component_name="Throughput")
class ThroughputOutputSerializer(_PeriodOutputSerializer):
    total = serializers.IntegerField(read_only=True)
    weeks = WeekThroughputOutputSerializer(many=True, read_only=True)


@extend_schema_serializer(component_name="FlowDay")
class FlowDayOutputSerializer(serializers.Serializer):
    date = serializers.DateField(source="day", read_only=True)
    todo = serializers.IntegerField(read_only=True)
    in_progress = serializers.IntegerField(read_only=True)
    done = serializers.IntegerField(read_only=True)


@extend_schema_serializer(component_name="CumulativeFlow")
class CumulativeFlowOutputSerializer(_PeriodOutputSerializer):
    days = FlowDayOutputSerializer(many=True, read_only=True)


@extend_schema_serializer(component_name="AgingItem")
class AgingItemOutputSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    started = serializers.DateTimeField(source="started_at", read_only=True)
    age_days = days_field()
    story_points = points_field(allow_null=True)


@extend_schema_serializer(component_name="AgingReference")
class AgingReferenceOutputSerializer(serializers.Serializer):
    """The cycle-time percentiles of the items done in [start, end), to compare ages with."""

    start = serializers.DateTimeField(source="reference_start", read_only=True)
    end = serializers.DateTimeField(source="now", read_only=True)
    items = serializers.IntegerField(source="reference_items", read_only=True)
    p50 = days_field(source="cycle_p50", allow_null=True)
    p85 = days_field(source="cycle_p85", allow_null=True)
    p95 = days_field(source="cycle_p95", allow_null=True)


@extend_schema_serializer(component_name="AgingWip")
class AgingWipOutputSerializer(serializers.Serializer):
    project = serializers.CharField(read_only=True, help_text="Project key.")
    now = serializers.DateTimeField(
        source="aging.now", read_only=True, help_text="The instant ages are measured at."
    )
    count = serializers.IntegerField(source="aging.count", read_only=True)
    items = AgingItemOutputSerializer(source="aging.items", many=True, read_only=True)
    reference = AgingReferenceOutputSerializer(source="aging", read_only=True)


# --- Forecasts -------------------------------------------------------------------------------


@extend_schema_serializer(component_name="ForecastHistory")
class ForecastHistoryOutputSerializer(serializers.Serializer):
    """The throughput sample: whole local days [start, end), end being today (excluded)."""

    start = serializers.DateField(source="history_start", read_only=True)
    end = serializers.DateField(source="history_end", read_only=True)
    days = serializers.IntegerField(source="history_days", read_only=True)
    completed = serializers.IntegerField(source="history_completed", read_only=True)


@extend_schema_serializer(component_name="FinishingDay")
class FinishingDaySerializer(serializers.Serializer):
    """One bar of the "when" histogram, from a (days, trials) pair."""

    days = serializers.SerializerMethodField(help_text="Days from today.")
    trials = serializers.SerializerMethodField(help_text="Trials that finished on that day.")

    def get_days(self, pair: tuple[int, int]) -> int:
        return pair[0]

    def get_trials(self, pair: tuple[int, int]) -> int:
        return pair[1]


class _ForecastOutputSerializer(serializers.Serializer):
    kind = ForecastKindField(read_only=True)
    project = serializers.CharField(read_only=True, help_text="Project key.")
    available = serializers.BooleanField(source="forecast.available", read_only=True)
    reason = serializers.CharField(
        source="forecast.reason", read_only=True, help_text="Why it is not available, if not."
    )
    trials = serializers.IntegerField(source="forecast.trials", read_only=True)
    seed = serializers.IntegerField(source="forecast.seed", read_only=True)
    today = serializers.DateField(source="forecast.today", read_only=True)
    history = ForecastHistoryOutputSerializer(source="forecast", read_only=True)


@extend_schema_serializer(component_name="WhenForecast")
class WhenForecastOutputSerializer(_ForecastOutputSerializer):
    remaining = serializers.IntegerField(source="forecast.remaining", read_only=True)
    p50 = serializers.DateField(source="forecast.p50_date", read_only=True, allow_null=True)
    p85 = serializers.DateField(source="forecast.p85_date", read_only=True, allow_null=True)
    p95 = serializers.DateField(source="forecast.p95_date", read_only=True, allow_null=True)
    p50_days = serializers.IntegerField(source="forecast.p50_days", read_only=True, allow_null=True)
    p85_days = serializers.IntegerField(source="forecast.p85_days", read_only=True, allow_null=True)
    p95_days = serializers.IntegerField(source="forecast.p95_days", read_only=True, allow_null=True)
    distribution = FinishingDaySerializer(
        source="forecast.distribution",
        many=True,
        read_only=True,
        help_text="The histogram of the trials: how many finished on each day from today.",
    )


@extend_schema_serializer(component_name="HowManyForecast")
class HowManyForecastOutputSerializer(_ForecastOutputSerializer):
    date = serializers.DateField(source="forecast.until", read_only=True)
    days = serializers.IntegerField(
        source="forecast.days", read_only=True, help_text="Days simulated: tomorrow to date."
    )
    p50 = serializers.IntegerField(source="forecast.p50", read_only=True, allow_null=True)
    p85 = serializers.IntegerField(source="forecast.p85", read_only=True, allow_null=True)
    p95 = serializers.IntegerField(source="forecast.p95", read_only=True, allow_null=True)


# --- Portfolio -------------------------------------------------------------------------------


@extend_schema_serializer(component_name="HealthReason")
class HealthReasonOutputSerializer(serializers.Serializer):
    rule = serializers.CharField(read_only=True)
    verdict = VerdictField(read_only=True)
    status = HealthStatusField(
        read_only=True, allow_null=True, help_text="The status the rule set, if it fired."
    )
    sentence = serializers.CharField(read_only=True)


@extend_schema_serializer(component_name="ProjectHealth")
class HealthOutputSerializer(serializers.Serializer):
    status = HealthStatusField(read_only=True)
    label = serializers.CharField(read_only=True)
    reasons = HealthReasonOutputSerializer(many=True, read_only=True)


@extend_schema_serializer(component_name="RiskEvidence")
class RiskEvidenceOutputSerializer(serializers.Serializer):
    sprint_id = serializers.IntegerField(read_only=True, allow_null=True)
    item_keys = serializers.ListField(child=serializers.CharField(), read_only=True)
    figures = serializers.DictField(
        child=serializers.JSONField(), read_only=True, help_text="Named figures behind it."
    )


@extend_schema_serializer(component_name="RiskSignal")
class RiskSignalOutputSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    severity = SeverityField(read_only=True)
    sentence = serializers.CharField(read_only=True)
    evidence = RiskEvidenceOutputSerializer(read_only=True)


@extend_schema_serializer(component_name="SprintVelocity")
class SprintVelocityOutputSerializer(serializers.Serializer):
    sprint = serializers.CharField(source="name", read_only=True)
    points = points_field(source="completed_points")


@extend_schema_serializer(component_name="OpenScopeForecast")
class OpenScopeForecastOutputSerializer(serializers.Serializer):
    """The "when" forecast of the open items (default seed), as health compares it."""

    available = serializers.BooleanField(read_only=True)
    reason = serializers.CharField(read_only=True)
    remaining = serializers.IntegerField(read_only=True)
    p50 = serializers.DateField(source="p50_date", read_only=True, allow_null=True)
    p85 = serializers.DateField(source="p85_date", read_only=True, allow_null=True)
    p95 = serializers.DateField(source="p95_date", read_only=True, allow_null=True)


@extend_schema_serializer(component_name="PortfolioProjectRow")
class DashboardRowOutputSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    as_of = serializers.DateTimeField(
        read_only=True, help_text="The instant the project's figures are measured at."
    )
    health = HealthOutputSerializer(read_only=True)
    velocity = SprintVelocityOutputSerializer(
        source="closed_sprints", many=True, read_only=True, help_text="Last closed sprints."
    )
    last_say_do = RoundedFloatField(decimals=3, allow_null=True)
    cycle_time_p85 = days_field(allow_null=True, help_text="Items done in the last 90 days.")
    throughput = WeekThroughputOutputSerializer(
        source="throughput_weeks", many=True, read_only=True, help_text="Last complete weeks."
    )
    forecast = OpenScopeForecastOutputSerializer(read_only=True)
    target_date = serializers.DateField(read_only=True, allow_null=True)
    open_items = serializers.IntegerField(read_only=True)
    open_points = points_field()
    wip = serializers.IntegerField(read_only=True)
    risk_count = serializers.IntegerField(read_only=True)
    risks = RiskSignalOutputSerializer(many=True, read_only=True)


@extend_schema_serializer(component_name="HealthCounts")
class HealthCountsOutputSerializer(serializers.Serializer):
    green = serializers.IntegerField(read_only=True)
    amber = serializers.IntegerField(read_only=True)
    red = serializers.IntegerField(read_only=True)
    grey = serializers.IntegerField(read_only=True)


@extend_schema_serializer(component_name="PortfolioTotals")
class PortfolioTotalsOutputSerializer(serializers.Serializer):
    projects = serializers.IntegerField(read_only=True)
    open_items = serializers.IntegerField(read_only=True)
    open_points = points_field()
    throughput = serializers.IntegerField(
        read_only=True, help_text="Items done over each project's last complete weeks."
    )
    throughput_weeks = serializers.IntegerField(read_only=True)
    risks = serializers.IntegerField(read_only=True, help_text="Open risk signals.")
    health = HealthCountsOutputSerializer(read_only=True)


@extend_schema_serializer(component_name="PortfolioSummary")
class PortfolioSummaryOutputSerializer(serializers.Serializer):
    portfolio = serializers.CharField(source="slug", read_only=True)
    name = serializers.CharField(read_only=True)
    now = serializers.DateTimeField(read_only=True)
    projects = DashboardRowOutputSerializer(source="rows", many=True, read_only=True)
    totals = PortfolioTotalsOutputSerializer(read_only=True)


@extend_schema_serializer(component_name="EpicRank")
class EpicRankOutputSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    rank = serializers.IntegerField(
        source="position", read_only=True, help_text="WSJF rank, 1 = first."
    )
    status = serializers.CharField(read_only=True)
    project = serializers.CharField(source="project_key", read_only=True, allow_null=True)
    business_value = serializers.IntegerField(read_only=True)
    time_criticality = serializers.IntegerField(read_only=True)
    risk_reduction = serializers.IntegerField(read_only=True)
    job_size = serializers.IntegerField(read_only=True)
    cost_of_delay = serializers.IntegerField(read_only=True)
    wsjf = serializers.DecimalField(
        max_digits=8, decimal_places=2, coerce_to_string=False, read_only=True
    )


@extend_schema_serializer(component_name="EpicRanking")
class EpicRankingOutputSerializer(serializers.Serializer):
    portfolio = serializers.CharField(read_only=True, help_text="Portfolio slug.")
    epics = EpicRankOutputSerializer(many=True, read_only=True)
