"""What the governance API reads and sends. Input and output serializers are kept apart
(STYLE.md): input serializers only validate the shape of a request and feed a service; output
serializers render rows a selector already filtered, without deciding who may see what."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from governance.decision_log import PUBLISHED_FIELDS
from governance.models import (
    Approval,
    ApprovalDecision,
    DecisionKind,
    DecisionLog,
    Policy,
    PolicyKind,
    Recommendation,
    RecommendationKind,
    RecommendationState,
)
from governance.policies import Outcome, policy_describe
from governance.recommendations import ranking_diff
from portfolio.models import Portfolio


def _policy_kind_field(**kwargs) -> serializers.ChoiceField:
    """A policy kind, validated against PolicyKind but documented as a plain string: the
    schema's one PolicyKind enum is the Policy component's (an enum shared by several
    components would get a generated, unstable name)."""
    values = ", ".join(PolicyKind.values)
    field_class = extend_schema_field({"type": "string", "description": f"One of: {values}."})(
        type("PolicyKindField", (serializers.ChoiceField,), {})
    )
    return field_class(choices=PolicyKind.choices, **kwargs)


def _visible_portfolio_field(help_text: str) -> serializers.SlugRelatedField:
    """A portfolio slug; the view narrows the queryset to what the caller may see, so an
    invisible portfolio is "does not exist" (400), never a hint that it exists."""
    return serializers.SlugRelatedField(
        slug_field="slug", queryset=Portfolio.objects.none(), help_text=help_text
    )


class _ScopedPortfolioMixin:
    def __init__(self, *args, portfolios=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if portfolios is not None:
            self.fields["portfolio"].queryset = portfolios


# --- shared pieces ---------------------------------------------------------------------------


@extend_schema_serializer(component_name="PolicyVerdict")
class PolicyVerdictSerializer(serializers.Serializer):
    policy_id = serializers.IntegerField(allow_null=True, read_only=True)
    kind = _policy_kind_field(read_only=True)
    outcome = serializers.ChoiceField(
        choices=[(value, label) for value, label in Outcome.LABELS.items()], read_only=True
    )
    reason = serializers.CharField(read_only=True)
    field = serializers.CharField(
        read_only=True, help_text="The input the verdict is about (empty: the whole proposal)."
    )


@extend_schema_serializer(component_name="EvidenceLink")
class EvidenceLinkSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    url = serializers.CharField(
        max_length=500, help_text="An http(s) URL, or a path of this site such as /projects/PAY/."
    )


# --- recommendations -------------------------------------------------------------------------


@extend_schema_serializer(component_name="RankingChange")
class RankingRowSerializer(serializers.Serializer):
    epic_id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    current_position = serializers.IntegerField(read_only=True)
    proposed_position = serializers.IntegerField(read_only=True)
    moved = serializers.IntegerField(
        read_only=True, help_text="Places moved: positive is up (towards 1), negative down."
    )


@extend_schema_serializer(component_name="Approval")
class ApprovalOutputSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.get_username", read_only=True)
    decision = serializers.ChoiceField(choices=ApprovalDecision.choices, read_only=True)
    decision_log_id = serializers.IntegerField(source="log_entry_id", read_only=True)

    class Meta:
        model = Approval
        fields = ["approver", "decision", "comment", "created_at", "decision_log_id"]
        read_only_fields = fields


@extend_schema_serializer(component_name="Recommendation")
class RecommendationOutputSerializer(serializers.ModelSerializer):
    """A recommendation with its ranking diff, verdicts and the decisions taken on it."""

    portfolio = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    kind = serializers.ChoiceField(choices=RecommendationKind.choices, read_only=True)
    state = serializers.ChoiceField(choices=RecommendationState.choices, read_only=True)
    proposed_by = serializers.SerializerMethodField(
        help_text="Username of the proposer (or of who started the agent), if any."
    )
    proposer = serializers.CharField(source="proposer_label", read_only=True)
    confidence = serializers.DecimalField(
        max_digits=4, decimal_places=3, coerce_to_string=False, read_only=True
    )
    evidence = EvidenceLinkSerializer(many=True, read_only=True)
    policy_verdicts = PolicyVerdictSerializer(many=True, read_only=True)
    approval_count = serializers.IntegerField(read_only=True)
    ranking = serializers.SerializerMethodField(
        help_text="Every epic in proposed order, with its position now and as proposed."
    )
    approvals = ApprovalOutputSerializer(many=True, read_only=True)
    superseded_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Recommendation
        fields = [
            "id",
            "portfolio",
            "kind",
            "state",
            "proposed_by",
            "agent_label",
            "proposer",
            "rationale",
            "evidence",
            "expected_impact",
            "confidence",
            "policy_verdicts",
            "required_approvals",
            "approval_count",
            "executive_required",
            "snapshot_hash",
            "ranking",
            "approvals",
            "superseded_by",
            "created_at",
            "expires_at",
            "decided_at",
            "version",
        ]
        read_only_fields = fields

    def get_proposed_by(self, recommendation: Recommendation) -> str | None:
        user = recommendation.proposed_by
        return None if user is None else user.get_username()

    @extend_schema_field(RankingRowSerializer(many=True))
    def get_ranking(self, recommendation: Recommendation) -> list[dict[str, Any]]:
        return [
            {
                "epic_id": row.epic_id,
                "key": row.key,
                "title": row.title,
                "status": row.status,
                "current_position": row.current_position,
                "proposed_position": row.proposed_position,
                "moved": row.moved,
            }
            for row in ranking_diff(recommendation)
        ]


class RecommendationCreateInputSerializer(_ScopedPortfolioMixin, serializers.Serializer):
    portfolio = _visible_portfolio_field("Slug of the portfolio whose epics are re-ranked.")
    proposed_ranking = serializers.ListField(
        child=serializers.IntegerField(),
        allow_empty=False,
        help_text="Every epic id of the portfolio, exactly once, first = rank 1.",
    )
    expected_current = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="The ranking (epic ids) you based the proposal on; refused if it changed.",
    )
    rationale = serializers.CharField()
    evidence = EvidenceLinkSerializer(many=True, required=False)
    expected_impact = serializers.CharField(required=False, allow_blank=True)
    confidence = serializers.DecimalField(
        max_digits=4, decimal_places=3, min_value=0, max_value=1, coerce_to_string=False
    )


class RecommendationListInputSerializer(_ScopedPortfolioMixin, serializers.Serializer):
    portfolio = _visible_portfolio_field("Only this portfolio's recommendations.")
    state = serializers.ChoiceField(choices=RecommendationState.choices, required=False)
    pending = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Only pending (or decided) ones."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["portfolio"].required = False


class DecisionInputSerializer(serializers.Serializer):
    comment = serializers.CharField(
        allow_blank=True,
        help_text="Required: why you decide so. Recorded in the decision log.",
    )
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The version you reviewed; refused with 409 if the recommendation changed.",
    )


# --- decision log ----------------------------------------------------------------------------


@extend_schema_serializer(component_name="Decision")
class DecisionOutputSerializer(serializers.ModelSerializer):
    """A decision-log entry with its chain position and hashes."""

    portfolio = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    kind = serializers.ChoiceField(choices=DecisionKind.choices, read_only=True)
    actor_id = serializers.IntegerField(read_only=True, allow_null=True)
    confidence = serializers.DecimalField(
        max_digits=4, decimal_places=3, coerce_to_string=True, read_only=True, allow_null=True
    )
    inputs = serializers.JSONField(read_only=True)
    outputs = serializers.JSONField(read_only=True)
    policy_verdicts = PolicyVerdictSerializer(many=True, read_only=True)

    class Meta:
        model = DecisionLog
        fields = ["portfolio" if name == "portfolio_id" else name for name in PUBLISHED_FIELDS]
        read_only_fields = fields


class DecisionListInputSerializer(serializers.Serializer):
    portfolio = serializers.CharField(
        required=False, help_text='Portfolio slug, or "global" (entries without a portfolio).'
    )
    kind = serializers.ChoiceField(choices=DecisionKind.choices, required=False)
    actor = serializers.CharField(
        required=False, help_text="Part of the actor's username or agent label."
    )
    since = serializers.DateField(required=False, help_text="From this local date, inclusive.")
    until = serializers.DateField(required=False, help_text="To this local date, inclusive.")
    q = serializers.CharField(
        required=False,
        help_text='Full-text search, web-search syntax ("quoted phrase", -excluded, or).',
    )


@extend_schema_serializer(component_name="ChainFault")
class ChainFaultSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField(read_only=True)
    sequence = serializers.IntegerField(read_only=True)
    problem = serializers.ChoiceField(
        choices=["content_changed", "missing_entry", "reordered", "duplicate_sequence"],
        read_only=True,
    )
    message = serializers.CharField(read_only=True)


@extend_schema_serializer(component_name="ChainVerification")
class ChainStatusSerializer(serializers.Serializer):
    portfolio = serializers.CharField(source="slug", read_only=True, help_text='Slug or "global".')
    name = serializers.CharField(read_only=True)
    verified = serializers.BooleanField(source="verification.ok", read_only=True)
    entries = serializers.IntegerField(source="verification.entries", read_only=True)
    head_sequence = serializers.IntegerField(source="verification.head_sequence", read_only=True)
    head_hash = serializers.CharField(source="verification.head_hash", read_only=True)
    fault = ChainFaultSerializer(source="verification.fault", read_only=True, allow_null=True)


# --- policies --------------------------------------------------------------------------------


@extend_schema_serializer(component_name="Policy")
class PolicyOutputSerializer(serializers.ModelSerializer):
    portfolio = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    kind = serializers.ChoiceField(choices=PolicyKind.choices, read_only=True)
    parameters = serializers.DictField(
        read_only=True,
        help_text="confidence_floor: minimum; max_rank_move: max_places; gate_freeze: "
        "statuses; evidence_required: minimum_links; provider_restriction: providers.",
    )
    rule = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = [
            "id",
            "portfolio",
            "kind",
            "parameters",
            "rule",
            "active",
            "description",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_rule(self, policy: Policy) -> str:
        return policy_describe(policy.kind, policy.parameters)


class PolicyCreateInputSerializer(_ScopedPortfolioMixin, serializers.Serializer):
    portfolio = _visible_portfolio_field("Slug of the portfolio the policy governs.")
    kind = _policy_kind_field()
    parameters = serializers.DictField(help_text="The one parameter the kind takes.")
    active = serializers.BooleanField(default=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=300)


class PolicyUpdateInputSerializer(serializers.Serializer):
    parameters = serializers.DictField(required=False)
    active = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=300)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Refused with 409 if the policy changed since."
    )
