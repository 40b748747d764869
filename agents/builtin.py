"""The builtin analyst: the last link of every provider chain. It needs no model: it writes the
narrative from the computed facts with templates, so the product works fully offline, a
run always completes, and tests are deterministic.

It states only figures found in the snapshot (the same guardrails validate its output as a
model's), reports every risk fact with its evidence, and for a prioritization proposes the
ranking agents.facts computed (WSJF, gates kept, capacity checked).
"""

from __future__ import annotations

from agents.facts import EpicFigures, Facts, ProjectFigures, RiskFact, RunSnapshot
from agents.schemas import AgentOutput, RiskFlag, TradeOff

MAX_RISKS = 300
MAX_TRADE_OFFS = 20
LISTED = 5


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural or word + 's'}"


def _keys(keys: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(keys[:LISTED])
    return shown + (f" and {len(keys) - LISTED} more" if len(keys) > LISTED else "")


def _risk_flags(risks: tuple[RiskFact, ...] | list[RiskFact]) -> list[RiskFlag]:
    return [
        RiskFlag(
            code=risk.code,
            severity=risk.severity,  # type: ignore[arg-type]
            title=risk.title,
            detail=risk.sentence,
            project_key=risk.project_key,
            evidence_ids=list(risk.evidence_ids),
        )
        for risk in risks[:MAX_RISKS]
    ]


def _risk_count(facts: Facts) -> str:
    counts = facts.counts
    if not counts["risks"]:
        return "no risk signal fires"
    parts = [
        f"{counts[f'risks_{severity}']} {severity}"
        for severity in ("high", "medium", "low")
        if counts[f"risks_{severity}"]
    ]
    return f"{_plural(counts['risks'], 'risk signal')} ({', '.join(parts)})"


def _forecast_sentence(project: ProjectFigures) -> str:
    forecast = project.forecast
    if not forecast["available"]:
        return f"No forecast for {project.key}: {forecast['reason']}".rstrip(".") + "."
    target = (
        f" against the target date {project.target_date}"
        if project.target_date
        else " (no target date)"
    )
    return (
        f"The 85% forecast of {project.key}'s "
        f"{_plural(forecast['open_items'], 'open item')} is {forecast['p85_date']}{target}."
    )


def _late_trade_off(project: ProjectFigures) -> TradeOff:
    forecast = project.forecast
    if forecast["available"] and forecast["p85_date"] and project.target_date:
        return TradeOff(
            title=f"{project.key}: scope, capacity or date",
            detail=(
                f"{project.key} {project.name} is late: the 85% forecast of its "
                f"{_plural(forecast['open_items'], 'open item')} is {forecast['p85_date']}, "
                f"after its target date {project.target_date}. Cut or defer scope, add "
                "capacity, or move the date; each choice is for a person to make."
            ),
            project_keys=[project.key],
        )
    return TradeOff(
        title=f"{project.key}: stalled",
        detail=(
            f"{project.key} {project.name} has finished nothing for two weeks while items are "
            "open. Find what blocks it, or stop starting new work there."
        ),
        project_keys=[project.key],
    )


def _dependency_trade_offs(facts: Facts) -> list[TradeOff]:
    trade_offs = []
    for risk in facts.risks:
        if risk.code != "DEPENDENCY_LATE":
            continue
        provider = risk.figures["provider"]
        trade_offs.append(
            TradeOff(
                title=f"{risk.project_key} waits on {provider}",
                detail=(
                    f"{risk.sentence} Either {provider} gets help to deliver in time, or "
                    f"{risk.project_key} plans around {provider}'s forecast."
                ),
                project_keys=[risk.project_key, provider],
            )
        )
    return trade_offs


def _at_risk_trade_offs(
    snapshot: RunSnapshot, facts: Facts, *, top: list[EpicFigures], late: list[ProjectFigures]
) -> list[TradeOff]:
    """Projects on time but with open risk signals: fixing the risk costs capacity now, and
    ignoring it puts at stake what the project delivers, its top-ranked epics above all. One
    trade-off per such project, most signals first, so a review always says where attention
    competes with delivery, not only where a date is already lost."""
    late_keys = {project.key for project in late}
    by_project: dict[str, list[RiskFact]] = {}
    for risk in facts.risks:
        if (
            risk.project_key
            and risk.project_key not in late_keys
            and risk.code != "DEPENDENCY_LATE"
        ):
            by_project.setdefault(risk.project_key, []).append(risk)
    trade_offs = []
    for key, risks in sorted(by_project.items(), key=lambda item: (-len(item[1]), item[0])):
        carried = [epic for epic in top if epic.project_key == key]
        titles = "; ".join(risk.title.lower() for risk in risks[:LISTED])
        stake = (
            f"it carries {', '.join(epic.key for epic in carried[:LISTED])} in the top third "
            "by WSJF, whose delivery the risk puts at stake"
            if carried
            else "its open work slips if the risk is left to grow"
        )
        trade_offs.append(
            TradeOff(
                title=f"{key}: deal with the risk now or keep the pace",
                detail=(
                    f"{key} is on time but {_plural(len(risks), 'risk signal')} "
                    f"{'is' if len(risks) == 1 else 'are'} open ({titles}); {stake}. "
                    "Spending capacity on the cause now slows other work; waiting is cheaper "
                    "today and dearer if the signal holds at the next review."
                ),
                project_keys=[key],
            )
        )
    return trade_offs


def _risk_scan(snapshot: RunSnapshot, facts: Facts) -> AgentOutput:
    project = snapshot.project(snapshot.project_key or "")
    assert project is not None
    parts = [
        f"Risk scan of {project.key} {project.name}: health {project.health}, "
        f"{_risk_count(facts)}.",
        _forecast_sentence(project),
    ]
    high = [risk for risk in facts.risks if risk.severity == "high"]
    if high:
        parts.append("Most pressing: " + " ".join(risk.sentence for risk in high[:LISTED]))
    outside = facts.counts["dependencies_outside"]
    if outside:
        parts.append(
            f"{_plural(outside, 'dependency', 'dependencies')} on projects of other portfolios "
            "could not be assessed from this portfolio."
        )
    trade_offs = _dependency_trade_offs(facts)
    if project.late:
        trade_offs.insert(0, _late_trade_off(project))
    return AgentOutput(
        summary=" ".join(parts),
        trade_offs=trade_offs[:MAX_TRADE_OFFS],
        risks=_risk_flags(facts.risks),
        recommendation_rationale="",
        proposed_ranking=[],
        confidence=facts.confidence,
    )


def _health_sentence(snapshot: RunSnapshot, facts: Facts) -> str:
    counts = facts.counts
    parts = [
        f"{counts[f'health_{status}']} {label}"
        for status, label in (
            ("red", "red"),
            ("amber", "amber"),
            ("green", "green"),
            ("grey", "without data"),
        )
        if counts[f"health_{status}"]
    ]
    return (
        f"{snapshot.portfolio_name}: {_plural(counts['projects'], 'project')}"
        + (f" ({', '.join(parts)})" if parts else "")
        + f"; {_risk_count(facts)}."
    )


def _portfolio_review(snapshot: RunSnapshot, facts: Facts) -> AgentOutput:
    late = [p for p in snapshot.projects if p.key in facts.late_projects]
    parts = [_health_sentence(snapshot, facts)]
    if late:
        parts.append(
            f"Late (85% forecast after the target date) or stalled: {_keys([p.key for p in late])}."
        )
    else:
        parts.append("No project is late against its target date or stalled.")
    if facts.counts["dependencies_on_late"]:
        parts.append(
            f"{_plural(facts.counts['dependencies_on_late'], 'project')} "
            f"{'depends' if facts.counts['dependencies_on_late'] == 1 else 'depend'} on a "
            "late project."
        )
    trade_offs: list[TradeOff] = []
    ranked = sorted(
        (epic for epic in snapshot.epics if epic.wsjf_position is not None),
        key=lambda epic: epic.wsjf_position or 0,
    )
    top = ranked[: max(1, -(-len(ranked) // 3))]  # the top third by WSJF
    for project in late:
        carried = [epic for epic in top if epic.project_key == project.key]
        if carried:
            listed = ", ".join(
                f"{epic.key} (WSJF {epic.wsjf}, position {epic.wsjf_position})"
                for epic in carried[:LISTED]
            )
            trade_offs.append(
                TradeOff(
                    title=f"{project.key} is late but carries top-ranked epics",
                    detail=(
                        f"{project.key} delivers {listed}, in the top third by WSJF, and is "
                        "late. Protect them by deferring lower-value work there, or accept a "
                        "later delivery of the highest-value epics."
                    ),
                    project_keys=[project.key],
                )
            )
    trade_offs += [_late_trade_off(project) for project in late]
    trade_offs += _dependency_trade_offs(facts)
    trade_offs += _at_risk_trade_offs(snapshot, facts, top=top, late=late)
    return AgentOutput(
        summary=" ".join(parts),
        trade_offs=trade_offs[:MAX_TRADE_OFFS],
        risks=_risk_flags(facts.risks),
        recommendation_rationale="",
        proposed_ranking=[],
        confidence=facts.confidence,
    )


def _prioritization(snapshot: RunSnapshot, facts: Facts) -> AgentOutput:
    ranking = facts.ranking
    assert ranking is not None
    counts = facts.counts
    if not counts["epics_open"]:
        summary = f"{snapshot.portfolio_name} has no open epic to rank."
    elif not counts["epics_moved"]:
        summary = (
            f"The current ranking of the {_plural(counts['epics_open'], 'open epic')} of "
            f"{snapshot.portfolio_name} already follows WSJF: nothing to propose."
        )
    else:
        summary = (
            f"Proposed ranking of the {_plural(counts['epics_open'], 'open epic')} of "
            f"{snapshot.portfolio_name} by WSJF: {counts['epics_moved']} of "
            f"{counts['epics']} epics change place. Against each project's 85% forecast "
            f"of items done in the next {counts['horizon_days']} days, "
            f"{counts['epics_within_capacity']} fit, {counts['epics_beyond_capacity']} do "
            f"not, and {counts['epics_unchecked']} could not be checked."
        )
    lines = []
    for epic in ranking.epics:
        if epic.capacity == "done":
            continue
        place = (
            f"moves from {epic.current_position} to {epic.proposed_position}"
            if epic.moved
            else f"stays at {epic.proposed_position}"
        )
        gate = f" (kept in place: {epic.status}, past the gate)" if epic.frozen else ""
        note = epic.capacity_note.rstrip(".")
        lines.append(f"- {epic.key} {epic.title}: WSJF {epic.wsjf}, {place}{gate}. {note}.")
    rationale = (
        "Ranked by WSJF (cost of delay / job size); epics past a gate keep their place.\n"
        + "\n".join(lines)
        if lines
        else ""
    )
    trade_offs = []
    for line in facts.capacity:
        if line.beyond:
            trade_offs.append(
                TradeOff(
                    title=f"{line.project_key} cannot finish all its ranked epics",
                    detail=(
                        f"{line.project_key} finishes {line.p85_items} items by {line.until} "
                        f"(85% forecast) but its open epics need {line.demand_items}: "
                        f"{_keys(list(line.beyond))} fall beyond. Defer them, split them, or "
                        "move capacity from another project."
                    ),
                    project_keys=[line.project_key],
                )
            )
    unchecked = [epic.key for epic in ranking.with_capacity("unchecked")]
    if unchecked:
        trade_offs.append(
            TradeOff(
                title="Epics ranked without a capacity check",
                detail=(
                    f"{_keys(unchecked)}: no project, no open work items or no forecast, so "
                    "their delivery date is unknown; break them down before committing."
                ),
                project_keys=sorted(
                    {e.project_key for e in ranking.with_capacity("unchecked") if e.project_key}
                ),
            )
        )
    return AgentOutput(
        summary=summary,
        trade_offs=trade_offs[:MAX_TRADE_OFFS],
        risks=_risk_flags(facts.risks),
        recommendation_rationale=rationale[:6000],
        proposed_ranking=list(ranking.proposed_keys) if counts["epics_moved"] else [],
        confidence=facts.confidence,
    )


def builtin_output(snapshot: RunSnapshot, facts: Facts) -> AgentOutput:
    """The builtin narrative of a run's facts."""
    if snapshot.kind == "risk_scan":
        return _risk_scan(snapshot, facts)
    if snapshot.kind == "portfolio_review":
        return _portfolio_review(snapshot, facts)
    return _prioritization(snapshot, facts)
