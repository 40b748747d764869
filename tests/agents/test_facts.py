"""The deterministic core (agents.facts): the snapshot is read through the selectors within the
run's portfolio only, and the facts (risk signals with evidence, dependencies on late
projects, the WSJF ranking with its capacity check, the confidence) are computed in code."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from agents import builtin, facts, guardrails
from agents.models import AgentRun, RunKind, RunTrigger
from agents.services import system_reader
from governance.models import PolicyKind
from governance.policies import policy_create
from portfolio.models import Epic, ProjectDependency, WorkItem
from tests.agents.scenarios import late_project, pin, ranked_epics
from tests.factories import EpicFactory
from tests.kpis.factories import KPIFactory, MeasurementFactory
from tests.metrics.builders import NOW, TODAY, midnight, open_items, steady_throughput
from tests.metrics.history import item

pytestmark = pytest.mark.django_db


def compute(run: AgentRun, reader=None):
    snapshot = facts.snapshot_build(reader=reader or run.requested_by or system_reader(), run=run)
    computed = facts.facts_compute(snapshot)
    return snapshot, computed, facts.snapshot_json(snapshot, computed)


def new_run(world, kind: str, *, project=None, actor="pmo_leader") -> AgentRun:
    return AgentRun.objects.create(
        kind=kind,
        portfolio=world.own,
        project=project,
        trigger=RunTrigger.USER if actor else RunTrigger.SCHEDULE,
        requested_by=getattr(world, actor) if actor else None,
        idempotency_key=f"test-{kind}-{project.pk if project else ''}-{actor}",
    )


def test_risk_signals_become_facts_with_evidence_that_links_into_the_product(world):
    late_project(world.own_project)
    aging = item(world.own_project, "PAY-A1", created=NOW - dt.timedelta(days=9), title="Login")
    aging.start(NOW - dt.timedelta(days=8))
    run = new_run(world, RunKind.RISK_SCAN, project=world.own_project)

    _, computed, data = compute(run)

    by_code = {risk.code: risk for risk in computed.risks}
    assert list(by_code)[0] == "FORECAST_AFTER_TARGET"  # high first
    forecast = by_code["FORECAST_AFTER_TARGET"]
    assert forecast.id == "risk:PAY:FORECAST_AFTER_TARGET"
    assert forecast.evidence_ids == (forecast.id, "project:PAY", "forecast:PAY")
    assert data["evidence"]["forecast:PAY"]["url"] == "/projects/PAY/#forecast-chart"
    say_do = by_code["SAY_DO_LOW"]
    sprint_id = next(i for i in say_do.evidence_ids if i.startswith("sprint:"))
    assert data["evidence"][sprint_id]["url"].startswith("/projects/PAY/?sprint=")
    assert data["evidence"][say_do.id]["figures"]["say_do"] == 0.5
    assert "item:PAY-A1" in by_code["AGING_WIP"].evidence_ids
    assert data["evidence"]["item:PAY-A1"]["label"] == "PAY-A1 Login"
    assert {"key": "PAY-A1", "title": "Login"} in data["work_items"]


def test_a_dependency_on_a_late_project_is_a_fact(world):
    late_project(world.sibling_project)  # CARD: 85% forecast after its target date
    pin(world.own_project)
    world.own_project.target_date = TODAY + dt.timedelta(days=365)
    world.own_project.save()
    ProjectDependency.objects.create(project=world.own_project, depends_on=world.sibling_project)
    run = new_run(world, RunKind.RISK_SCAN, project=world.own_project)

    _, computed, data = compute(run)

    (risk,) = [r for r in computed.risks if r.code == "DEPENDENCY_LATE"]
    assert risk.id == "risk:PAY:DEPENDENCY_LATE:CARD"
    assert risk.severity == "medium"  # CARD is late, but still before PAY's own target date
    assert risk.project_key == "PAY"
    assert "PAY depends on CARD, which is late" in risk.sentence
    assert set(risk.evidence_ids) >= {"project:CARD", "forecast:CARD"}
    assert [p["key"] for p in data["projects"]] == ["PAY", "CARD"]
    assert computed.counts["projects"] == 1  # CARD is context, not scope


def test_a_late_provider_past_the_dependent_target_date_is_high(world):
    late_project(world.sibling_project)
    pin(world.own_project)
    world.own_project.target_date = TODAY + dt.timedelta(days=5)
    world.own_project.save()
    ProjectDependency.objects.create(project=world.own_project, depends_on=world.sibling_project)
    run = new_run(world, RunKind.RISK_SCAN, project=world.own_project)

    _, computed, _ = compute(run)

    (risk,) = [r for r in computed.risks if r.code == "DEPENDENCY_LATE"]
    assert risk.severity == "high"


def test_a_dependency_on_another_portfolio_is_reported_without_its_data(world):
    late_project(world.foreign_project)  # SHIP, in Logistics
    pin(world.own_project)
    ProjectDependency.objects.create(
        project=world.own_project, depends_on=world.foreign_project, description="labels API"
    )
    run = new_run(world, RunKind.PORTFOLIO_REVIEW, actor=None)

    _, computed, data = compute(run, reader=system_reader())

    assert [d["depends_on_key"] for d in data["dependencies"]] == [None]
    assert computed.counts["dependencies_outside"] == 1
    text = json.dumps(data)
    assert "SHIP" not in text
    assert "Shipping" not in text
    assert "Logistics" not in text


def test_a_trigger_run_reads_only_its_portfolio(world):
    late_project(world.foreign_project)
    pin(world.own_project)
    run = new_run(world, RunKind.PORTFOLIO_REVIEW, actor=None)

    snapshot, _, _ = compute(run, reader=system_reader())

    assert sorted(p.key for p in snapshot.projects) == ["CARD", "PAY"]


def epic(world, key: str, *, rank: int, value: int, size: int, project=None, status="funnel"):
    return EpicFactory(
        portfolio=world.own,
        project=project,
        key=key,
        rank=rank,
        status=status,
        business_value=value,
        time_criticality=1,
        risk_reduction=1,
        job_size=size,
    )


def give_open_items(project, target: Epic, count: int) -> None:
    prefix = f"{target.key}-"
    open_items(project, count, created=midnight(TODAY - dt.timedelta(days=30)), prefix=prefix)
    WorkItem.objects.filter(key__startswith=f"{project.key}-{prefix}").update(epic=target)


def test_prioritization_ranks_by_wsjf_and_keeps_gated_epics_in_place(world):
    pin(world.own_project)
    policy_create(
        actor=world.pmo_leader,
        portfolio=world.own,
        kind=PolicyKind.GATE_FREEZE,
        parameters={"statuses": ["implementing"]},
    )
    epic(world, "E-LOW", rank=1, value=1, size=13, status="implementing")
    epic(world, "E-MID", rank=2, value=5, size=5)
    epic(world, "E-DONE", rank=3, value=20, size=1, status="done")
    epic(world, "E-TOP", rank=4, value=20, size=2)
    run = new_run(world, RunKind.PRIORITIZATION)

    _, computed, _ = compute(run)

    ranking = computed.ranking
    assert ranking.proposed_keys == ("E-LOW", "E-TOP", "E-DONE", "E-MID")
    frozen = {e.key for e in ranking.epics if e.frozen}
    assert frozen == {"E-LOW", "E-DONE"}
    assert [e.key for e in ranking.moved] == ["E-TOP", "E-MID"]
    assert computed.counts["epics_moved"] == 2
    assert computed.counts["epics_open"] == 3


def test_the_capacity_check_compares_epics_with_the_forecast_throughput(world):
    pin(world.own_project)
    steady_throughput(world.own_project, days=30)  # one item a day
    top = epic(world, "E-TOP", rank=2, value=20, size=2, project=world.own_project)
    big = epic(world, "E-BIG", rank=1, value=5, size=8, project=world.own_project)
    epic(world, "E-NONE", rank=3, value=8, size=3)  # no project
    give_open_items(world.own_project, top, 30)
    give_open_items(world.own_project, big, 100)
    run = new_run(world, RunKind.PRIORITIZATION)

    _, computed, data = compute(run)

    by_key = {e.key: e for e in computed.ranking.epics}
    (line,) = computed.capacity
    assert line.project_key == "PAY"
    assert 30 <= line.p85_items < 130
    assert line.demand_items == 130
    assert by_key["E-TOP"].capacity == "within"
    assert by_key["E-TOP"].demand_items == 30
    assert by_key["E-BIG"].capacity == "beyond"
    assert by_key["E-BIG"].demand_items == 130
    assert by_key["E-NONE"].capacity == "unchecked"
    assert data["evidence"]["capacity:PAY"]["url"].startswith("/projects/PAY/?until=")
    assert computed.confidence == pytest.approx(0.5 + 0.4 * 2 / 3, abs=0.01)


def test_confidence_follows_the_data_behind_the_facts(world):
    late_project(world.own_project)  # a forecast and a closed sprint
    run = new_run(world, RunKind.RISK_SCAN, project=world.own_project)
    assert compute(run)[1].confidence == 0.9

    empty = new_run(world, RunKind.RISK_SCAN, project=world.sibling_project)
    assert compute(empty)[1].confidence == 0.5


def test_the_same_snapshot_gives_the_same_facts(world):
    late_project(world.own_project)
    run = new_run(world, RunKind.PORTFOLIO_REVIEW)

    snapshot, first, _ = compute(run)

    assert facts.facts_compute(snapshot) == first


# --- KPIs ----------------------------------------------------------------------------------------


def test_a_kpi_beyond_its_red_threshold_is_a_high_risk_fact(world):
    pin(world.own_project)
    kpi = KPIFactory(project=world.own_project, name="CSAT")
    MeasurementFactory(kpi=kpi, period_start=dt.date(2026, 3, 1), value=Decimal(3), note="Outage")
    green = KPIFactory(project=world.own_project, name="NPS")
    MeasurementFactory(kpi=green, period_start=dt.date(2026, 3, 1), value=Decimal("4.6"))
    run = new_run(world, RunKind.RISK_SCAN, project=world.own_project)

    _, computed, data = compute(run)

    (risk,) = [r for r in computed.risks if r.code == "KPI_RED"]
    assert risk.id == f"risk:PAY:KPI_RED:{kpi.pk}"
    assert risk.severity == "high"
    assert risk.sentence == (
        "KPI CSAT is 3 score for the period starting 2026-03-01, below its red threshold 3.5 "
        "(target 4.5)."
    )
    assert data["evidence"][f"kpi:{kpi.pk}"]["url"] == f"/kpis/{kpi.pk}/"
    assert {k["name"]: k["note"] for k in data["kpis"]} == {"CSAT": "Outage", "NPS": ""}


def test_a_portfolio_kpi_in_the_red_is_a_fact_of_portfolio_runs(world):
    pin(world.own_project)
    kpi = KPIFactory(project=None, portfolio=world.own, name="Budget burn")
    MeasurementFactory(kpi=kpi, period_start=dt.date(2026, 3, 1), value=Decimal(2))
    review = new_run(world, RunKind.PORTFOLIO_REVIEW)
    scan = new_run(world, RunKind.RISK_SCAN, project=world.own_project)

    (risk,) = [r for r in compute(review)[1].risks if r.code == "KPI_RED"]
    assert risk.project_key is None
    assert risk.id == f"risk:portfolio:KPI_RED:{kpi.pk}"
    assert not [r for r in compute(scan)[1].risks if r.code == "KPI_RED"]


def test_a_red_kpi_does_not_make_a_provider_late(world):
    pin(world.sibling_project)
    pin(world.own_project)
    kpi = KPIFactory(project=world.sibling_project)
    MeasurementFactory(kpi=kpi, period_start=dt.date(2026, 3, 1), value=Decimal(1))
    ProjectDependency.objects.create(project=world.own_project, depends_on=world.sibling_project)
    run = new_run(world, RunKind.RISK_SCAN, project=world.own_project)

    snapshot, computed, _ = compute(run)

    assert snapshot.project("CARD").health == "red"
    assert not snapshot.project("CARD").late
    assert not [r for r in computed.risks if r.code == "DEPENDENCY_LATE"]


def test_a_review_weighs_the_risk_of_a_project_on_time_against_its_top_epics(world):
    # given: PAY has the late project's history but a far target date (on time, yet its last
    # sprint's say/do is 0.5), and it carries the portfolio's top epic by WSJF
    late_project(world.own_project)
    world.own_project.target_date = TODAY + dt.timedelta(days=400)
    world.own_project.save(update_fields=["target_date"])
    ranked_epics(world.own, world.own_project)
    run = new_run(world, RunKind.PORTFOLIO_REVIEW)

    # when
    snapshot, computed, data = compute(run)
    output = builtin.builtin_output(snapshot, computed)

    # then: one trade-off names the open signals and the top epic at stake, and it passes
    # the guardrails like every builtin answer
    assert "PAY" not in computed.late_projects
    (trade_off,) = [t for t in output.trade_offs if t.project_keys == ["PAY"]]
    assert trade_off.title == "PAY: deal with the risk now or keep the pace"
    assert "EP-3" in trade_off.detail
    assert "say/do" in trade_off.detail.lower()
    guardrails.output_validate(output, kind=run.kind, data=data, facts=computed)
