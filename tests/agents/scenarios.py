"""Small scenarios for the agent-run tests, built on the metrics test builders (now is Fri
20 Mar 2026 12:00 UTC; projects are pinned there with data_as_of)."""

from __future__ import annotations

import datetime as dt

from portfolio.models import Epic, Portfolio, Project
from tests.factories import EpicFactory
from tests.metrics.builders import (
    NOW,
    TODAY,
    closed_sprint,
    midnight,
    open_items,
    steady_throughput,
)


def pin(project: Project) -> Project:
    project.data_as_of = NOW
    project.save(update_fields=["data_as_of"])
    return project


def late_project(project: Project, *, open_count: int = 40) -> Project:
    """Throughput of 1 item a day for 20 days, `open_count` open items, target in 10 days:
    the 85% forecast is `open_count` days away, after the target date; the last sprint's
    say/do is 0.5."""
    pin(project)
    project.target_date = TODAY + dt.timedelta(days=10)
    project.save(update_fields=["target_date"])
    steady_throughput(project, days=20)
    open_items(project, open_count, created=midnight(TODAY - dt.timedelta(days=20)))
    closed_sprint(project, "Sprint 1", start=NOW - dt.timedelta(days=16), committed=10, completed=5)
    return project


def ranked_epics(portfolio: Portfolio, project: Project) -> list[Epic]:
    """Three epics in the opposite of their WSJF order: EP-1 (WSJF 0.23), EP-2 (2.0), EP-3
    (20.5), ranked 1, 2, 3."""
    pin(project)
    scores = {"EP-1": (1, 1, 1, 13), "EP-2": (5, 3, 2, 5), "EP-3": (20, 13, 8, 2)}
    return [
        EpicFactory(
            portfolio=portfolio,
            project=project,
            key=key,
            rank=rank,
            business_value=value,
            time_criticality=criticality,
            risk_reduction=reduction,
            job_size=size,
        )
        for rank, (key, (value, criticality, reduction, size)) in enumerate(scores.items(), 1)
    ]


def honest_answer(
    data: dict,
    *,
    summary: str | None = None,
    evidence: str | None = None,
    drop_high: bool = False,
    severity: str | None = None,
    confidence: float = 0.8,
) -> dict:
    """What a model that follows the rules answers from a run's DATA block: every fact as a
    risk with its evidence, figures quoted from the data, the computed ranking. The options
    break one rule each."""
    facts = data["facts"]
    risks = [
        {
            "code": risk["code"],
            "severity": risk["severity"],
            "title": risk["title"],
            "detail": risk["sentence"],
            "project_key": risk["project_key"],
            "evidence_ids": list(risk["evidence_ids"]),
        }
        for risk in facts["risks"]
        if not (drop_high and risk["severity"] == "high")
    ]
    if severity:
        risks[0]["severity"] = severity
    if evidence:
        risks[0]["evidence_ids"].append(evidence)
    ranking = facts["ranking"]
    moved = bool(ranking) and any(
        epic["current_position"] != epic["proposed_position"] for epic in ranking["epics"]
    )
    return {
        "summary": summary or f"Model view: {facts['counts']['risks']} risk signals.",
        "trade_offs": [],
        "risks": risks,
        "recommendation_rationale": "Ordered by WSJF." if ranking else "",
        "proposed_ranking": ranking["proposed_keys"] if moved else [],
        "confidence": confidence,
    }
