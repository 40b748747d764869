"""Long-term memory of a portfolio: decisions, risks, retrospectives and run summaries, each
embedded once so that a later run can recall what happened before on similar ground."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIMENSIONS = 384
"""all-MiniLM-L6-v2 embeds into 384 dimensions; a hosted model must be configured to match."""


SEARCH_CONFIG = "english"
"""Text-search configuration of the full-text half of a recall; queries must use the same one."""


class MemoryKind(models.TextChoices):
    DECISION = "decision", "Decision"
    RISK = "risk", "Risk"
    RETROSPECTIVE = "retrospective", "Retrospective"
    RUN_SUMMARY = "run_summary", "Run summary"


class MemoryItem(models.Model):
    """One remembered fact. Never edited in place: a newer item supersedes it, so a recall
    can say "this was superseded" instead of silently reusing a reversed decision."""

    portfolio = models.ForeignKey(
        "portfolio.Portfolio", on_delete=models.CASCADE, related_name="memory_items"
    )
    project = models.ForeignKey(
        "portfolio.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memory_items",
    )
    kind = models.CharField(max_length=16, choices=MemoryKind.choices)
    text = models.TextField()
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
        help_text="Full-text document of the text, so exact terms match as well as meaning",
    )
    source_type = models.CharField(
        max_length=40, help_text="What the memory came from, e.g. decision_log, agent_run"
    )
    source_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="supersedes"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_type", "source_id", "kind"], name="memory_one_item_per_source"
            ),
        ]
        indexes = [
            HnswIndex(
                name="memory_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="memory_search_gin"),
            models.Index(fields=["portfolio", "kind"], name="memory_portfolio_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"
