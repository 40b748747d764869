"""What the portfolio API sends. Output serializers only: they render rows that a selector has
already filtered and annotated, so they never query or decide who may see what.

Input and output are kept apart (STYLE.md): the read endpoints take their input as query
parameters through `portfolio.filters`; write endpoints, when they come, get their own
`*InputSerializer` that feeds a service, never a `save()` on these classes.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from portfolio.models import Category, Portfolio, Project


@extend_schema_serializer(component_name="Portfolio")
class PortfolioOutputSerializer(serializers.ModelSerializer):
    """A portfolio as the caller sees it: `project_count` counts only the projects they may
    open, so a team lead of one project sees 1, not the portfolio's total."""

    project_count = serializers.IntegerField(
        read_only=True, help_text="Projects of this portfolio that the caller may see."
    )
    url = serializers.HyperlinkedIdentityField(view_name="portfolio-detail", lookup_field="slug")

    class Meta:
        model = Portfolio
        fields = ["slug", "name", "description", "project_count", "url"]
        read_only_fields = fields


class _OpenPointsField(serializers.DecimalField):
    """Sum of open story points; a project with nothing open (or nothing estimated) has 0, so
    clients can add the figures up without special-casing null."""

    def get_attribute(self, instance: Project) -> Decimal:
        # DRF renders a None attribute as null without calling to_representation, so the
        # default has to be applied here.
        value = super().get_attribute(instance)
        return Decimal(0) if value is None else value


@extend_schema_serializer(component_name="Project")
class ProjectOutputSerializer(serializers.ModelSerializer):
    """A project with the counts its list page shows, computed in the selector's one query."""

    portfolio = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="Slug of the project's portfolio."
    )
    status_categories = serializers.DictField(
        child=serializers.ChoiceField(choices=Category.choices),
        read_only=True,
        help_text="Workflow status name -> status category (todo, in_progress, done).",
    )
    item_count = serializers.IntegerField(read_only=True, help_text="All work items.")
    open_item_count = serializers.IntegerField(
        read_only=True, help_text="Work items not in the done category."
    )
    open_points = _OpenPointsField(
        max_digits=12,
        decimal_places=1,
        coerce_to_string=False,
        read_only=True,
        help_text="Story points of the open work items (unestimated items count 0).",
    )
    url = serializers.HyperlinkedIdentityField(view_name="project-detail", lookup_field="key")

    class Meta:
        model = Project
        fields = [
            "key",
            "name",
            "portfolio",
            "status",
            "target_date",
            "time_zone",
            "status_categories",
            "item_count",
            "open_item_count",
            "open_points",
            "url",
        ]
        read_only_fields = fields


@extend_schema_serializer(component_name="Error")
class ErrorOutputSerializer(serializers.Serializer):
    """DRF's error body (`{"detail": ...}`), named so the schema can document 403 and 404."""

    detail = serializers.CharField(read_only=True)
