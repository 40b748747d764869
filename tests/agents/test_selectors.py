"""Reads of the agent runs: who reads which run, the result panel's model (evidence resolved
against the snapshot), progress, and usage and cost per portfolio in one query.

`make_run` writes runs straight to the table, shaped like the engine's JSON
(/work/notes/agents-contract.md): these tests are about reading, not running."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.utils import timezone

from agents.models import AgentRun, RunKind, RunStatus, RunTrigger
from agents.selectors import (
    agent_run_get,
    agent_run_list,
    agent_run_progress,
    agent_run_recent,
    agent_run_result,
    agent_run_start_allowed,
    agent_run_usage,
)
from governance.roles import Role
from governance.services import role_grant
from portfolio.permissions import forget_cached_permissions
from tests.factories import PortfolioFactory, ProjectFactory

STEPS = ["snapshot", "facts", "recall", "provider", "validate", "record"]


def progress_of(states: dict[str, str] | None = None, **details: str) -> list[dict[str, Any]]:
    states = states or {}
    return [
        {
            "step": step,
            "label": "Asking builtin" if step == "provider" else f"Step {step}",
            "state": states.get(step, "pending"),
            "at": None,
            "detail": details.get(step, ""),
        }
        for step in STEPS
    ]


DONE = progress_of(dict.fromkeys(STEPS, "done"))


def evidence_snapshot(project_key: str = "PAY") -> dict[str, Any]:
    return {
        "as_of": "2026-03-20T12:00:00+00:00",
        "evidence": {
            f"forecast:{project_key}": {
                "label": f"{project_key} forecast vs target",
                "url": f"/projects/{project_key}/#forecast-chart",
                "kind": "chart",
                "figures": {},
            },
            f"velocity:{project_key}": {
                "label": f"{project_key} velocity",
                "url": f"/projects/{project_key}/#velocity-chart",
                "kind": "chart",
                "figures": {},
            },
            "kpi:evil": {"label": "Off-site", "url": "javascript:alert(1)", "kind": "kpi"},
        },
    }


def result_of(project_key: str = "PAY", **overrides: Any) -> dict[str, Any]:
    result = {
        "summary": f"{project_key} will miss its target date unless scope is cut.",
        "trade_offs": [
            {
                "title": "Scope or date",
                "detail": "Cut two epics or move the target by a sprint.",
                "project_keys": [project_key],
            }
        ],
        "risks": [
            {
                "code": "SAY_DO_LOW",
                "severity": "medium",
                "title": "Say/do below 0.7",
                "detail": "The last sprint delivered 55% of its commitment.",
                "project_key": project_key,
                "evidence_ids": [f"velocity:{project_key}"],
            },
            {
                "code": "FORECAST_AFTER_TARGET",
                "severity": "high",
                "title": "Forecast after the target date",
                "detail": "The 85% date is three weeks late.",
                "project_key": project_key,
                "evidence_ids": [f"forecast:{project_key}", "sprint:404"],
            },
        ],
        "recommendation_rationale": "",
        "proposed_ranking": [],
        "confidence": 0.82,
        "recalled": [],
    }
    result.update(overrides)
    return result


def make_run(
    *,
    portfolio,
    project=None,
    kind: str | None = None,
    status: str = RunStatus.SUCCEEDED,
    **fields: Any,
) -> AgentRun:
    """A run as the engine leaves it (finished by default), written directly."""
    kind = kind or (RunKind.RISK_SCAN if project is not None else RunKind.PORTFOLIO_REVIEW)
    finished = status in (RunStatus.SUCCEEDED, RunStatus.DEGRADED, RunStatus.FAILED)
    key = project.key if project is not None else "PAY"
    values: dict[str, Any] = {
        "trigger": RunTrigger.USER,
        "progress": DONE if finished else progress_of({"snapshot": "done", "facts": "running"}),
        "provider": "builtin" if finished else "",
        "model": "",
        "prompt_version": "v1",
        "snapshot": evidence_snapshot(key) if finished else {},
        "result": result_of(key) if status != RunStatus.FAILED and finished else {},
        "started_at": timezone.now(),
        "finished_at": timezone.now() if finished else None,
        "idempotency_key": f"test-{uuid.uuid4().hex}",
    }
    values.update(fields)
    return AgentRun.objects.create(
        kind=kind, portfolio=portfolio, project=project, status=status, **values
    )


@pytest.fixture
def runs(world) -> dict[str, AgentRun]:
    return {
        "own_review": make_run(portfolio=world.own),
        "own_scan": make_run(portfolio=world.own, project=world.own_project),
        "sibling_scan": make_run(portfolio=world.own, project=world.sibling_project),
        "foreign_review": make_run(portfolio=world.foreign),
    }


# --- who reads which run ----------------------------------------------------------------------

READABLE = {
    "anonymous": set(),
    "viewer": {"own_review", "own_scan", "sibling_scan"},
    "team_lead": {"own_scan"},
    "pmo_leader": {"own_review", "own_scan", "sibling_scan"},
    "executive": {"own_review", "own_scan", "sibling_scan"},
    "outsider": {"foreign_review"},
    "admin": {"own_review", "own_scan", "sibling_scan", "foreign_review"},
}


@pytest.mark.parametrize("role", READABLE)
def test_each_role_reads_the_runs_of_what_it_may_see(world, runs, role):
    user = world.admin if role == "admin" else world.user(role)
    user = user or AnonymousUser()
    names = {name for name, run in runs.items() if run in agent_run_list(user=user)}
    assert names == READABLE[role]
    for name, run in runs.items():
        if name in READABLE[role]:
            assert agent_run_get(user=user, run_id=run.pk) == run
        else:
            with pytest.raises(Http404):
                agent_run_get(user=user, run_id=run.pk)


def test_team_lead_does_not_read_a_portfolio_review_covering_projects_they_cannot_see(world, runs):
    with pytest.raises(Http404):
        agent_run_get(user=world.team_lead, run_id=runs["own_review"].pk)


@pytest.mark.parametrize("run_id", ["abc", "-1", "99999999999999999999999", "1.5", "٣"])
def test_a_run_id_that_cannot_be_one_is_not_found(world, run_id):
    with pytest.raises(Http404):
        agent_run_get(user=world.admin, run_id=run_id)


def test_recent_runs_of_a_project_are_its_risk_scans_newest_first(world, runs):
    newer = make_run(portfolio=world.own, project=world.own_project)
    recent = agent_run_recent(user=world.pmo_leader, portfolio=world.own, project=world.own_project)
    assert recent == [newer, runs["own_scan"]]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", False),
        ("team_lead", False),
        ("executive", False),
        ("pmo_leader", True),
        ("outsider", False),
        ("admin", True),
    ],
)
def test_only_pmo_leaders_of_the_portfolio_may_start_runs(world, role, allowed):
    assert agent_run_start_allowed(user=getattr(world, role), portfolio=world.own) is allowed


# --- the result panel's model -----------------------------------------------------------------


def test_risks_are_sorted_by_severity_with_their_evidence_resolved_against_the_snapshot(world):
    run = make_run(portfolio=world.own, project=world.own_project)
    result = agent_run_result(run)

    assert [risk.code for risk in result.risks] == ["FORECAST_AFTER_TARGET", "SAY_DO_LOW"]
    forecast, unknown = result.risks[0].evidence
    assert (forecast.label, forecast.url, forecast.known) == (
        "PAY forecast vs target",
        "/projects/PAY/#forecast-chart",
        True,
    )
    assert (unknown.id, unknown.url, unknown.known) == ("sprint:404", "", False)
    assert result.risks[0].unknown_evidence == [unknown]
    assert result.severity_counts == {"high": 1, "medium": 1, "low": 0}
    assert result.confidence_percent == 82


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://evil.example/x", "//evil.example/x", "/\\evil", 7]
)
def test_evidence_that_does_not_point_into_this_site_is_not_linked(world, url):
    snapshot = evidence_snapshot()
    snapshot["evidence"]["kpi:evil"]["url"] = url
    risk = result_of()["risks"][0] | {"evidence_ids": ["kpi:evil"]}
    run = make_run(portfolio=world.own, snapshot=snapshot, result=result_of(risks=[risk]))

    (link,) = agent_run_result(run).risks[0].evidence
    assert link.known
    assert link.url == ""


@pytest.mark.parametrize(
    "result",
    [
        {},
        {"risks": "nope", "trade_offs": None, "confidence": "high"},
        {"risks": [None, 3, {"severity": "catastrophic", "evidence_ids": "x"}]},
        [],
    ],
)
def test_a_malformed_result_reads_as_empty_or_partial_never_an_error(world, result):
    run = make_run(portfolio=world.own, result=result, snapshot={"evidence": []})
    read = agent_run_result(run)
    assert read.confidence is None
    assert all(risk.severity in {"high", "medium", "low"} for risk in read.risks)
    assert all(risk.evidence == [] for risk in read.risks)


# --- progress ---------------------------------------------------------------------------------


def test_progress_names_the_current_step_and_the_provider_being_tried(world):
    run = make_run(
        portfolio=world.own,
        status=RunStatus.RUNNING,
        progress=progress_of(
            {"snapshot": "done", "facts": "done", "recall": "done", "provider": "running"},
            provider="openai gpt-4o-mini",
        ),
    )
    progress = agent_run_progress(run)
    assert not progress.finished
    assert progress.current.step == "provider"
    assert progress.provider_label == "openai gpt-4o-mini"
    assert (progress.done_count, progress.total) == (3, 6)


def test_progress_of_a_finished_run_names_the_provider_that_answered(world):
    run = make_run(portfolio=world.own, provider="openai", model="gpt-4o-mini")
    progress = agent_run_progress(run)
    assert progress.finished
    assert progress.provider_label == "openai (gpt-4o-mini)"


# --- usage and cost ---------------------------------------------------------------------------


def test_usage_adds_runs_tokens_and_cost_per_portfolio_and_provider_this_month_and_total(world):
    now = timezone.now()
    last_month = timezone.localtime(now).replace(day=1) - dt.timedelta(days=2)
    make_run(portfolio=world.own, provider="openai", input_tokens=100, output_tokens=50,
             cost=Decimal("0.010000"))  # fmt: skip
    make_run(portfolio=world.own, provider="openai", input_tokens=10, output_tokens=5,
             cost=Decimal("0.002000"), created_at=last_month)  # fmt: skip
    make_run(portfolio=world.own, project=world.own_project, provider="builtin")
    make_run(portfolio=world.own, status=RunStatus.QUEUED)
    make_run(portfolio=world.foreign, provider="openai", cost=Decimal("5"))

    (own,) = agent_run_usage(user=world.pmo_leader, now=now)

    assert (own.slug, own.runs, own.runs_this_month) == ("payments", 4, 3)
    by_provider = {usage.provider: usage for usage in own.providers}
    assert list(by_provider) == ["", "builtin", "openai"]
    openai = by_provider["openai"]
    assert (openai.runs, openai.tokens, openai.cost) == (2, 165, Decimal("0.012"))
    assert (openai.runs_this_month, openai.tokens_this_month, openai.cost_this_month) == (
        1,
        150,
        Decimal("0.01"),
    )
    assert own.cost == Decimal("0.012")
    assert own.cost_this_month == Decimal("0.01")


def test_usage_counts_only_the_runs_the_user_reads(world, runs):
    (usage,) = agent_run_usage(user=world.team_lead)
    assert (usage.slug, usage.runs) == ("payments", 1)
    assert agent_run_usage(user=world.outsider)[0].slug == "logistics"


def test_usage_is_two_queries_at_any_number_of_runs_and_portfolios(
    world, django_assert_num_queries
):
    make_run(portfolio=world.own, provider="openai")
    forget_cached_permissions(world.pmo_leader)
    with django_assert_num_queries(2):  # the user's grants, the aggregate
        small = agent_run_usage(user=world.pmo_leader)

    for number in range(4):
        portfolio = PortfolioFactory()
        role_grant(actor=world.admin, user=world.pmo_leader, role=Role.PMO_LEADER,
                   portfolio=portfolio)  # fmt: skip
        make_run(portfolio=portfolio, provider="builtin")
        make_run(portfolio=portfolio, project=ProjectFactory(portfolio=portfolio),
                 provider=f"provider-{number}")  # fmt: skip
    forget_cached_permissions(world.pmo_leader)
    with django_assert_num_queries(2):
        large = agent_run_usage(user=world.pmo_leader)
    assert (len(small), len(large)) == (1, 5)
