"""What the agent-runs API reads and sends. Input and output serializers are kept apart
(STYLE.md): the input serializer only validates the shape of a request for the engine's
service; output serializers render runs a selector already filtered."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from agents.models import AgentRun, RunKind, RunStatus, RunTrigger
from agents.selectors import agent_run_result
from portfolio.models import Portfolio, Project


def _choice_field(choices: type, **kwargs: Any) -> serializers.ChoiceField:
    """A choice of `choices` (a TextChoices), validated as such but documented as a plain
    string listing the values: an enum component would collide with the other apps' "kind"
    and "status" enums (as governance.serializers does for policy kinds)."""
    schema = {"type": "string", "description": f"One of: {', '.join(choices.values)}."}
    field_class = extend_schema_field(schema)(
        type(f"{choices.__name__}Field", (serializers.ChoiceField,), {})
    )
    return field_class(choices=choices.choices, **kwargs)


# --- input ------------------------------------------------------------------------------------


@extend_schema_serializer(component_name="AgentRunRequest")
class AgentRunCreateInputSerializer(serializers.Serializer):
    """`POST /api/agent-runs/`: what to run, on which scope. `portfolio` and `project` accept
    only what the caller may see, so an invisible one is "does not exist" (400), never a hint
    that it exists; whether the caller may start runs there is the service's answer (403)."""

    kind = _choice_field(
        RunKind, help_text="risk_scan (needs `project`), portfolio_review or prioritization."
    )
    portfolio = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Portfolio.objects.none(),
        help_text="Slug of the portfolio, e.g. payments.",
    )
    project = serializers.SlugRelatedField(
        slug_field="key",
        queryset=Project.objects.none(),
        required=False,
        allow_null=True,
        help_text="Key of the project to scan (risk_scan only), e.g. PAY.",
    )
    idempotency_key = serializers.CharField(
        max_length=80,
        required=False,
        allow_blank=False,
        help_text="Optional: a repeated request with the same key returns the same run.",
    )

    def __init__(self, *args, portfolios=None, projects=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if portfolios is not None:
            self.fields["portfolio"].queryset = portfolios
        if projects is not None:
            self.fields["project"].queryset = projects


# --- output -----------------------------------------------------------------------------------


@extend_schema_serializer(component_name="AgentRunAccepted")
class AgentRunAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    status = serializers.CharField(read_only=True)
    created = serializers.BooleanField(
        read_only=True,
        help_text="False when an equivalent run was already pending (a risk scan of the same "
        "project, or the same idempotency key): its id is returned instead.",
    )
    url = serializers.CharField(read_only=True, help_text="Where to follow the run.")


class _ScopeMixin(serializers.Serializer):
    kind = _choice_field(RunKind, read_only=True)
    status = _choice_field(
        RunStatus, read_only=True, help_text="queued, running, then succeeded, degraded or failed."
    )
    trigger = _choice_field(RunTrigger, read_only=True)
    portfolio = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    project = serializers.SlugRelatedField(slug_field="key", read_only=True, allow_null=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    tokens = serializers.SerializerMethodField()

    def get_tokens(self, run: AgentRun) -> int:
        return run.input_tokens + run.output_tokens


@extend_schema_serializer(component_name="AgentRunSummary")
class AgentRunListOutputSerializer(_ScopeMixin, serializers.ModelSerializer):
    """A run in a list: scope, status, provider and cost; no progress, result or snapshot."""

    class Meta:
        model = AgentRun
        fields = [
            "id",
            "kind",
            "portfolio",
            "project",
            "trigger",
            "requested_by",
            "status",
            "provider",
            "model",
            "prompt_version",
            "input_tokens",
            "output_tokens",
            "tokens",
            "cost",
            "decision",
            "recommendation",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "url": {"type": "string"},
                "kind": {"type": "string"},
            },
        },
        "description": "Evidence id -> label and link into the product's pages, for every "
        "evidence id the result cites (from the run's frozen snapshot).",
    }
)
class _EvidenceField(serializers.Field):
    def to_representation(self, run: AgentRun) -> dict[str, Any]:
        snapshot = run.snapshot if isinstance(run.snapshot, dict) else {}
        evidence = snapshot.get("evidence")
        if not isinstance(evidence, dict):
            return {}
        cited = {link.id for risk in agent_run_result(run).risks for link in risk.evidence}
        return {
            evidence_id: {
                "label": entry.get("label", ""),
                "url": entry.get("url", ""),
                "kind": entry.get("kind", ""),
            }
            for evidence_id, entry in evidence.items()
            if evidence_id in cited and isinstance(entry, dict)
        }


@extend_schema_serializer(component_name="AgentRun")
class AgentRunOutputSerializer(AgentRunListOutputSerializer):
    """One run in full: its progress steps, the providers tried, the result (summary,
    trade-offs, risks with evidence ids, confidence, proposed ranking, recalled memory) and
    the evidence those ids point to; the decision-log entry and, for a prioritization, the
    governance recommendation it created."""

    progress = serializers.JSONField(
        read_only=True,
        help_text='[{"step", "label", "state": pending|running|done|failed|skipped, "at", '
        '"detail"}] in order: snapshot, facts, recall, provider, validate, record.',
    )
    providers_tried = serializers.JSONField(
        read_only=True,
        help_text='[{"provider", "model", "outcome", "reason", "input_tokens", '
        '"output_tokens", "seconds"}] in the order tried.',
    )
    result = serializers.JSONField(
        read_only=True,
        help_text='{"summary", "trade_offs", "risks", "recommendation_rationale", '
        '"proposed_ranking", "confidence", "recalled"}; {} until the run has finished.',
    )
    evidence = _EvidenceField(source="*", read_only=True)

    class Meta(AgentRunListOutputSerializer.Meta):
        fields = [
            *AgentRunListOutputSerializer.Meta.fields,
            "attempts",
            "progress",
            "providers_tried",
            "result",
            "evidence",
            "degraded_reason",
            "error",
        ]
        read_only_fields = fields


@extend_schema_serializer(component_name="AgentProviderUsage")
class ProviderUsageSerializer(serializers.Serializer):
    provider = serializers.CharField(help_text='"" for runs that reached no provider.')
    runs = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    runs_this_month = serializers.IntegerField()
    tokens_this_month = serializers.IntegerField()
    cost_this_month = serializers.DecimalField(max_digits=14, decimal_places=6)


@extend_schema_serializer(component_name="AgentPortfolioUsage")
class PortfolioUsageSerializer(serializers.Serializer):
    portfolio = serializers.CharField(source="slug")
    name = serializers.CharField()
    runs = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    runs_this_month = serializers.IntegerField()
    tokens_this_month = serializers.IntegerField()
    cost_this_month = serializers.DecimalField(max_digits=14, decimal_places=6)
    providers = ProviderUsageSerializer(many=True)
