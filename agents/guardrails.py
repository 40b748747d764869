"""Validation of a run's output against its snapshot: an answer is stored only if it respects
the facts. Any problem rejects the whole answer (the next provider is tried); the builtin
analyst's output passes the same checks.

Checks (each problem is one sentence naming what was wrong):

- Ids: every evidence id cited exists in the snapshot's evidence; every project key named
  (risks, trade-offs) is a project of the snapshot; every epic or work-item key written in
  the text (KEY-123 shaped) is one the snapshot holds.
- Facts: every high-severity risk fact is reported, by its id, with its code, severity and
  project; a risk citing a fact's id carries that fact's code, severity and project.
- Numbers: every number and date written in the text is one the snapshot holds (a figure,
  or a number inside one of its sentences, names or dates), at the precision written
  (12.3 matches 12.34); a percentage may also be a ratio of the snapshot times 100.
- Ranking: a prioritization proposes exactly the computed ranking (or nothing when no epic
  moves); other runs propose none.

After validation `output_finalize` caps the confidence at the facts' confidence, whatever
the model claimed, so no answer can talk its way past the confidence-floor policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from agents.facts import Facts
from agents.schemas import AgentOutput

DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
NUMBER = re.compile(r"(?<![\w.:/#-])[-+]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)(?![\w-])")
KEY_LIKE = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b")


class OutputRejected(Exception):
    """The output broke a guardrail; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _numbers(value: Any) -> Iterator[Decimal]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float | Decimal):
        yield Decimal(str(value))
    elif isinstance(value, str):
        for match in NUMBER.finditer(DATE.sub(" ", value)):
            number = _parse(match)
            if number is not None:
                yield number
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(str(key))
            yield from _numbers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _numbers(item)


def _parse(match: re.Match[str]) -> Decimal | None:
    try:
        return Decimal(match.group(1).replace(",", "") + (match.group(2) or ""))
    except InvalidOperation:
        return None


class SnapshotIndex:
    """What a snapshot allows an answer to say: ids, keys, dates and numbers."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.evidence_ids = set(data.get("evidence", {}))
        self.project_keys = {p["key"] for p in data.get("projects", [])}
        keys = set(self.project_keys)
        keys.update(e["key"] for e in data.get("epics", []))
        keys.update(i["key"] for i in data.get("work_items", []))
        keys.update(i.split(":", 1)[1] for i in self.evidence_ids if ":" in i)
        self.keys = keys
        self.dates = {d for text in _strings(data) for d in DATE.findall(text)}
        self.numbers = {abs(n) for n in _numbers(data)}

    def knows_number(self, stated: Decimal, places: int, percent: bool) -> bool:
        quantum = Decimal(1).scaleb(-places)
        for figure in self.numbers:
            candidates = (figure, figure * 100) if percent else (figure,)
            for candidate in candidates:
                if candidate.quantize(quantum) == stated:
                    return True
        return False


def _texts(output: AgentOutput) -> Iterator[tuple[str, str]]:
    yield "summary", output.summary
    yield "recommendation_rationale", output.recommendation_rationale
    for index, trade_off in enumerate(output.trade_offs):
        yield f"trade_offs[{index}].title", trade_off.title
        yield f"trade_offs[{index}].detail", trade_off.detail
    for index, risk in enumerate(output.risks):
        yield f"risks[{index}].title", risk.title
        yield f"risks[{index}].detail", risk.detail


def _id_problems(output: AgentOutput, index: SnapshotIndex) -> list[str]:
    problems = []
    for number, risk in enumerate(output.risks):
        unknown = [i for i in risk.evidence_ids if i not in index.evidence_ids]
        if unknown:
            problems.append(f"risks[{number}] cites unknown evidence {', '.join(unknown[:5])}")
        if risk.project_key is not None and risk.project_key not in index.project_keys:
            problems.append(f"risks[{number}] names project {risk.project_key}, not in scope")
    for number, trade_off in enumerate(output.trade_offs):
        unknown = [k for k in trade_off.project_keys if k not in index.project_keys]
        if unknown:
            problems.append(
                f"trade_offs[{number}] names projects not in scope: {', '.join(unknown[:5])}"
            )
    for where, text in _texts(output):
        unknown = sorted({key for key in KEY_LIKE.findall(text) if key not in index.keys})
        if unknown:
            problems.append(f"{where} names {', '.join(unknown[:5])}, not in the run's scope")
    return problems


def _fact_problems(output: AgentOutput, facts: Facts) -> list[str]:
    problems = []
    by_id = {risk.id: risk for risk in facts.risks}
    cited: set[str] = set()
    for number, risk in enumerate(output.risks):
        for evidence_id in risk.evidence_ids:
            fact = by_id.get(evidence_id)
            if fact is None:
                continue
            cited.add(fact.id)
            if (risk.code, risk.severity, risk.project_key) != (
                fact.code,
                fact.severity,
                fact.project_key,
            ):
                problems.append(
                    f"risks[{number}] cites {fact.id} but says {risk.code}/{risk.severity}/"
                    f"{risk.project_key} instead of {fact.code}/{fact.severity}/"
                    f"{fact.project_key}"
                )
    missing = [r.id for r in facts.risks if r.severity == "high" and r.id not in cited]
    if missing:
        problems.append(f"high risks not reported: {', '.join(missing[:5])}")
    return problems


def _number_problems(output: AgentOutput, index: SnapshotIndex) -> list[str]:
    problems = []
    for where, text in _texts(output):
        for date in DATE.findall(text):
            if date not in index.dates:
                problems.append(f"{where} states the date {date}, not in the snapshot")
        for match in NUMBER.finditer(DATE.sub(" ", text)):
            stated = _parse(match)
            if stated is None:
                continue
            places = len(match.group(2)) - 1 if match.group(2) else 0
            if not index.knows_number(stated, places, percent=bool(match.group(3))):
                problems.append(f"{where} states {match.group(0)}, not a figure of the snapshot")
    return problems


def _ranking_problems(output: AgentOutput, kind: str, facts: Facts) -> list[str]:
    if kind != "prioritization":
        if output.proposed_ranking:
            return [f"a {kind.replace('_', ' ')} proposes no ranking"]
        return []
    ranking = facts.ranking
    expected = list(ranking.proposed_keys) if ranking is not None else []
    moved = bool(ranking and ranking.moved)
    if output.proposed_ranking == expected and moved:
        return []
    if not output.proposed_ranking and not moved:
        return []
    return ["proposed_ranking differs from the computed ranking (WSJF, gates kept)"]


def output_validate(output: AgentOutput, *, kind: str, data: dict[str, Any], facts: Facts) -> None:
    """Raise OutputRejected listing every problem of the output against the snapshot."""
    index = SnapshotIndex(data)
    problems = (
        _id_problems(output, index)
        + _fact_problems(output, facts)
        + _number_problems(output, index)
        + _ranking_problems(output, kind, facts)
    )
    if problems:
        raise OutputRejected(problems[:20])


def output_finalize(output: AgentOutput, *, kind: str, facts: Facts) -> AgentOutput:
    """The output as stored: confidence capped at the facts' confidence; no recommendation
    text on runs that recommend nothing."""
    return output.model_copy(
        update={
            "confidence": min(output.confidence, facts.confidence),
            "recommendation_rationale": output.recommendation_rationale
            if kind == "prioritization"
            else "",
        }
    )
