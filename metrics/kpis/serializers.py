"""What the KPI API reads and sends. Input serializers only shape a request for a service
(which validates values, periods, ranges and thresholds, so the API's 400 messages are the
forms' messages); output serializers render rows a selector already filtered.

Choice-like fields (direction, cadence, computed_from, source, change, status) are
documented as strings listing their values rather than as schema enums: an enum shared by
name with other components ("status", "source") would get a generated, unstable name.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from metrics.kpis.rag import kpi_status
from metrics.kpis.services import DEFINITION_FIELDS
from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision

STATUS_HELP = "RAG status of the value against the KPI's thresholds: green, amber, red, grey."


def _one_of(choices: Any, text: str = "") -> str:
    return (text + " " if text else "") + "One of: " + ", ".join(choices.values) + "."


@extend_schema_field(
    {
        "oneOf": [{"type": "number"}, {"type": "string"}],
        "description": "A decimal number (at most 4 decimal places), as a JSON number or string.",
        "example": "4.5",
    }
)
class KpiNumberField(serializers.Field):
    """A number as typed, handed to the service, which explains what is wrong with it."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            raise serializers.ValidationError("Send a number or a string holding one.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


def _decimal(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=4, read_only=True, **kwargs)


# --- outputs ---------------------------------------------------------------------------------


@extend_schema_serializer(component_name="KpiLatestValue")
class LatestValueSerializer(serializers.Serializer):
    measurement_id = serializers.IntegerField(read_only=True)
    period_start = serializers.DateField(read_only=True)
    value = _decimal()


class KpiOutputSerializer(serializers.ModelSerializer):
    portfolio = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    project = serializers.SlugRelatedField(
        slug_field="key", read_only=True, allow_null=True, help_text="Empty for a portfolio KPI."
    )
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    direction = serializers.CharField(read_only=True, help_text=_one_of(KPI.Direction))
    cadence = serializers.CharField(read_only=True, help_text=_one_of(KPI.Cadence))
    computed_from = serializers.CharField(
        read_only=True, help_text=_one_of(KPI.FlowMetric, "Empty for a manual KPI.")
    )
    target = _decimal()
    amber_threshold = _decimal()
    red_threshold = _decimal()
    min_value = _decimal(allow_null=True)
    max_value = _decimal(allow_null=True)
    latest = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(help_text=STATUS_HELP)

    class Meta:
        model = KPI
        fields = [
            "id",
            "portfolio",
            "project",
            *DEFINITION_FIELDS,
            "version",
            "created_at",
            "updated_at",
            "latest",
            "status",
        ]
        read_only_fields = fields

    @extend_schema_field(LatestValueSerializer(allow_null=True))
    def get_latest(self, kpi: KPI) -> dict[str, Any] | None:
        if getattr(kpi, "latest_id", None) is None:
            return None
        return LatestValueSerializer(
            {
                "measurement_id": kpi.latest_id,
                "period_start": kpi.latest_period,
                "value": kpi.latest_value,
            }
        ).data

    @extend_schema_field(OpenApiTypes.STR)
    def get_status(self, kpi: KPI) -> str:
        return kpi_status(
            direction=kpi.direction,
            value=getattr(kpi, "latest_value", None),
            amber_threshold=kpi.amber_threshold,
            red_threshold=kpi.red_threshold,
        )


class MeasurementOutputSerializer(serializers.ModelSerializer):
    kpi = serializers.PrimaryKeyRelatedField(read_only=True)
    value = _decimal()
    source = serializers.CharField(read_only=True, help_text=_one_of(KPIMeasurement.Source))
    entered_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Empty: the system."
    )
    status = serializers.SerializerMethodField(help_text=STATUS_HELP)

    class Meta:
        model = KPIMeasurement
        fields = [
            "id",
            "kpi",
            "period_start",
            "value",
            "note",
            "source",
            "status",
            "entered_by",
            "entered_at",
            "version",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_status(self, measurement: KPIMeasurement) -> str:
        kpi = measurement.kpi
        return kpi_status(
            direction=kpi.direction,
            value=measurement.value,
            amber_threshold=kpi.amber_threshold,
            red_threshold=kpi.red_threshold,
        )


class RevisionOutputSerializer(serializers.ModelSerializer):
    change = serializers.CharField(read_only=True, help_text=_one_of(KPIMeasurementRevision.Change))
    source = serializers.CharField(read_only=True, help_text=_one_of(KPIMeasurement.Source))
    old_value = _decimal(allow_null=True)
    new_value = _decimal()
    changed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Empty: the system."
    )

    class Meta:
        model = KPIMeasurementRevision
        fields = [
            "id",
            "measurement",
            "period_start",
            "version",
            "change",
            "old_value",
            "new_value",
            "old_note",
            "note",
            "source",
            "changed_by",
            "changed_at",
        ]
        read_only_fields = fields


@extend_schema_serializer(component_name="KpiMeasurementConflict")
class ConflictOutputSerializer(serializers.Serializer):
    """The 409 body of a stale correction: what happened and the value as it stands."""

    detail = serializers.CharField(read_only=True)
    current = MeasurementOutputSerializer(read_only=True)


# --- inputs ----------------------------------------------------------------------------------


class _DefinitionFields(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True)
    unit = serializers.CharField(max_length=60, allow_blank=True, required=False)
    direction = serializers.CharField(help_text=_one_of(KPI.Direction))
    cadence = serializers.CharField(help_text=_one_of(KPI.Cadence))
    computed_from = serializers.CharField(
        allow_blank=True, required=False, help_text=_one_of(KPI.FlowMetric, "Empty: manual.")
    )
    target = KpiNumberField()
    amber_threshold = KpiNumberField()
    red_threshold = KpiNumberField()
    min_value = KpiNumberField(required=False, allow_null=True)
    max_value = KpiNumberField(required=False, allow_null=True)
    owner = serializers.CharField(
        allow_blank=True, allow_null=True, required=False, help_text="Username, or empty."
    )
    description = serializers.CharField(allow_blank=True, required=False)
    active = serializers.BooleanField(required=False, default=True)


class KpiCreateInputSerializer(_DefinitionFields):
    project = serializers.CharField(
        required=False, help_text="Key of the project; leave out for a portfolio KPI."
    )
    portfolio = serializers.CharField(
        required=False, help_text="Slug of the portfolio, for a KPI of the portfolio as a whole."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("project")) == bool(attrs.get("portfolio")):
            raise serializers.ValidationError(
                {"project": "Give exactly one of project (key) or portfolio (slug)."}
            )
        return attrs


class KpiUpdateInputSerializer(_DefinitionFields):
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you read; 409 if it changed."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "version":
                field.required = False
        self.fields["active"].default = serializers.empty


class MeasurementCreateInputSerializer(serializers.Serializer):
    period_start = serializers.CharField(help_text="First day of the period, YYYY-MM-DD.")
    value = KpiNumberField()
    note = serializers.CharField(allow_blank=True, required=False, default="")


class MeasurementUpdateInputSerializer(serializers.Serializer):
    value = KpiNumberField(required=False)
    note = serializers.CharField(
        allow_blank=True, required=False, help_text="Left out: the note stays as it is."
    )
    version = serializers.IntegerField(
        min_value=1, help_text="The version you read; 409 with the current value if it changed."
    )


class KpiListInputSerializer(serializers.Serializer):
    project = serializers.CharField(required=False, help_text="Only this project's KPIs (key).")
    portfolio = serializers.CharField(
        required=False, help_text="Only this portfolio's KPIs, its projects' included (slug)."
    )
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
