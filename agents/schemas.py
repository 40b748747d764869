"""The typed output of an agent run, whoever wrote it (a language model or the builtin analyst).

A model answers in this schema (LangChain structured output); the answer is then validated
against the run's snapshot by agents.guardrails before anything is stored. The same model is
stored as the run's result (`AgentOutput.model_dump(mode="json")`), so the pages read one shape.

Every field is required and no extra field is allowed, so the JSON schema also suits OpenAI's
strict structured outputs; lengths are bounded so a runaway answer is invalid, not stored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["high", "medium", "low"]


class TradeOff(BaseModel):
    """A choice the portfolio faces, with the projects it concerns."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    detail: str = Field(min_length=1, max_length=2000)
    project_keys: list[str] = Field(max_length=50)


class RiskFlag(BaseModel):
    """A risk, backed by evidence ids of the run's snapshot (never by prose alone)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=60)
    severity: Severity
    title: str = Field(min_length=1, max_length=200)
    detail: str = Field(min_length=1, max_length=2000)
    project_key: str | None
    evidence_ids: list[str] = Field(min_length=1, max_length=50)


class AgentOutput(BaseModel):
    """What a run concludes. `proposed_ranking` lists epic keys (prioritization only, else
    empty); `recommendation_rationale` is empty for runs that recommend nothing."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=4000)
    trade_offs: list[TradeOff] = Field(max_length=20)
    risks: list[RiskFlag] = Field(max_length=300)
    recommendation_rationale: str = Field(max_length=6000)
    proposed_ranking: list[str] = Field(max_length=500)
    confidence: float = Field(ge=0, le=1)
