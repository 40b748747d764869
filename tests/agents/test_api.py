"""The agent-runs REST API for every role: start a run (202 with its id), follow it (status,
progress, result, evidence, decision id), list with filters, usage and cost per portfolio.
A refused request starts nothing. The schema is generated without a warning."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from agents.models import AgentRun, RunKind, RunStatus, RunTrigger
from governance.decision_log import decision_record
from governance.models import DecisionKind
from governance.roles import Role
from governance.services import role_grant
from tests.agents.test_selectors import make_run, progress_of
from tests.factories import PortfolioFactory, ProjectFactory

pytestmark = pytest.mark.django_db

RUNS = "/api/agent-runs/"


@pytest.fixture
def api(world):
    def signed_in(role: str) -> APIClient:
        client = APIClient()
        user = world.admin if role == "admin" else world.user(role)
        if user is not None:
            client.force_login(user)
        return client

    return signed_in


# --- start ---------------------------------------------------------------------------------------


def test_a_pmo_leader_starts_a_review_and_gets_202_with_the_run_id(
    api, world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        response = api("pmo_leader").post(
            RUNS, {"kind": "portfolio_review", "portfolio": "payments"}, format="json"
        )

    assert response.status_code == 202
    run = AgentRun.objects.get()
    assert response.json() == {
        "id": run.pk,
        "status": "queued",
        "created": True,
        "url": f"{RUNS}{run.pk}/",
    }
    assert response["Location"] == f"{RUNS}{run.pk}/"
    assert (run.kind, run.portfolio, run.requested_by, run.trigger) == (
        RunKind.PORTFOLIO_REVIEW,
        world.own,
        world.pmo_leader,
        RunTrigger.USER,
    )
    assert len(enqueued) == 1


def test_a_second_scan_of_a_project_answers_the_pending_one(api, world):
    client = api("pmo_leader")
    body = {"kind": "risk_scan", "portfolio": "payments", "project": "PAY"}
    first = client.post(RUNS, body, format="json").json()
    second = client.post(RUNS, body, format="json")
    assert second.status_code == 202
    assert second.json()["id"] == first["id"]
    assert second.json()["created"] is False
    assert AgentRun.objects.count() == 1


def test_an_idempotency_key_makes_a_retried_request_return_the_same_run(api, world):
    client = api("pmo_leader")
    body = {"kind": "prioritization", "portfolio": "payments", "idempotency_key": "abc-1"}
    first = client.post(RUNS, body, format="json").json()
    second = client.post(RUNS, body, format="json").json()
    assert (second["id"], second["created"]) == (first["id"], False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "risk_scan", "portfolio": "payments"}, "project"),
        ({"kind": "portfolio_review", "portfolio": "payments", "project": "PAY"}, "project"),
        ({"kind": "risk_scan", "portfolio": "payments", "project": "SHIP"}, "project"),
        ({"kind": "risk_scan", "portfolio": "payments", "project": "CARD2"}, "project"),
        ({"kind": "astrology", "portfolio": "payments"}, "kind"),
        ({"kind": "portfolio_review", "portfolio": "logistics"}, "portfolio"),
        ({"kind": "portfolio_review"}, "portfolio"),
        ({"kind": "portfolio_review", "portfolio": "payments", "idempotency_key": ""}, None),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field_and_starts_nothing(api, world, body, field):
    response = api("pmo_leader").post(RUNS, body, format="json")
    assert response.status_code == 400
    if field is not None:
        assert field in response.json()
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 401),
        ("viewer", 403),
        ("executive", 403),
        ("team_lead", 403),
        ("outsider", 400),  # payments is not visible to them: "does not exist"
    ],
)
def test_only_pmo_leaders_of_the_portfolio_may_start_a_run(api, world, role, status):
    response = api(role).post(
        RUNS, {"kind": "risk_scan", "portfolio": "payments", "project": "PAY"}, format="json"
    )
    assert response.status_code == status
    assert not AgentRun.objects.exists()


# --- read ----------------------------------------------------------------------------------------


def test_a_run_gives_its_status_progress_result_evidence_and_decision_id(api, world):
    run = make_run(portfolio=world.own, project=world.own_project, provider="openai",
                   model="gpt-4o-mini", input_tokens=900, output_tokens=120)  # fmt: skip
    decision = decision_record(
        kind=DecisionKind.AGENT_RUN,
        actor=None,
        actor_label="agent:openai/gpt-4o-mini (prompt v1)",
        portfolio=world.own,
        subject=f"agent_run:{run.pk}",
        summary="Risk scan of PAY",
    )
    AgentRun.objects.filter(pk=run.pk).update(decision=decision)

    response = api("viewer").get(f"{RUNS}{run.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["decision"] == decision.pk
    assert body["recommendation"] is None
    assert (body["portfolio"], body["project"], body["kind"]) == ("payments", "PAY", "risk_scan")
    assert (body["provider"], body["model"], body["tokens"]) == ("openai", "gpt-4o-mini", 1020)
    assert [step["step"] for step in body["progress"]][0] == "snapshot"
    assert body["result"]["summary"].startswith("PAY will miss")
    assert {risk["code"] for risk in body["result"]["risks"]} == {
        "SAY_DO_LOW",
        "FORECAST_AFTER_TARGET",
    }
    # only the cited evidence that exists in the snapshot, with its link
    assert body["evidence"] == {
        "forecast:PAY": {
            "label": "PAY forecast vs target",
            "url": "/projects/PAY/#forecast-chart",
            "kind": "chart",
        },
        "velocity:PAY": {
            "label": "PAY velocity",
            "url": "/projects/PAY/#velocity-chart",
            "kind": "chart",
        },
    }
    assert "snapshot" not in body


def test_a_pending_run_shows_its_progress_and_no_result_yet(api, world):
    run = make_run(
        portfolio=world.own,
        status=RunStatus.RUNNING,
        progress=progress_of({"snapshot": "done", "facts": "running"}),
    )
    body = api("pmo_leader").get(f"{RUNS}{run.pk}/").json()
    assert body["status"] == "running"
    assert [step["state"] for step in body["progress"][:3]] == ["done", "running", "pending"]
    assert body["result"] == {}
    assert body["decision"] is None


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 401),
        ("viewer", 200),
        ("team_lead", 404),
        ("pmo_leader", 200),
        ("executive", 200),
        ("outsider", 404),
        ("admin", 200),
    ],
)
def test_a_portfolio_review_is_404_to_those_who_do_not_view_the_whole_portfolio(
    api, world, role, status
):
    run = make_run(portfolio=world.own)
    assert api(role).get(f"{RUNS}{run.pk}/").status_code == status


@pytest.mark.parametrize("run_id", ["abc", "99999999999999999999999", "0"])
def test_an_id_that_names_no_run_is_a_json_404(api, run_id):
    response = api("admin").get(f"{RUNS}{run_id}/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_the_list_filters_and_pages_the_readable_runs(api, world):
    make_run(portfolio=world.own)
    scan = make_run(portfolio=world.own, project=world.sibling_project)
    make_run(portfolio=world.own, status=RunStatus.FAILED, trigger=RunTrigger.SCHEDULE)
    make_run(portfolio=world.foreign)
    client = api("pmo_leader")

    everything = client.get(RUNS).json()
    assert everything["count"] == 3
    assert "progress" not in everything["results"][0]

    scans = client.get(RUNS, {"kind": "risk_scan", "project": "card"}).json()
    assert [run["id"] for run in scans["results"]] == [scan.pk]
    assert client.get(RUNS, {"trigger": "schedule"}).json()["count"] == 1
    assert client.get(RUNS, {"status": "failed", "portfolio": "payments"}).json()["count"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "astrology"}, "kind"),
        ({"portfolio": "logistics"}, "portfolio"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, world, query, field):
    response = api("pmo_leader").get(RUNS, query)
    assert response.status_code == 400
    assert field in response.json()


def test_usage_per_portfolio_adds_runs_tokens_and_cost_by_provider(api, world):
    make_run(portfolio=world.own, provider="openai", input_tokens=100, output_tokens=20,
             cost="0.0100")  # fmt: skip
    make_run(portfolio=world.own, project=world.own_project, provider="builtin")
    make_run(portfolio=world.foreign, provider="openai", cost="9")

    response = api("pmo_leader").get(f"{RUNS}usage/")

    assert response.status_code == 200
    (payments,) = response.json()
    assert (payments["portfolio"], payments["runs"], payments["tokens"]) == ("payments", 2, 120)
    assert payments["cost"] == "0.010000"
    assert [provider["provider"] for provider in payments["providers"]] == ["builtin", "openai"]
    assert payments["runs_this_month"] == 2
    only_scans = api("pmo_leader").get(f"{RUNS}usage/", {"kind": "risk_scan"}).json()
    assert only_scans[0]["runs"] == 1


# --- schema and query counts -------------------------------------------------------------------


def test_the_schema_documents_the_agent_runs_api_without_a_warning(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", validate=True, fail_on_warn=True, file=str(target))
    schema = target.read_text()
    for text in ("/api/agent-runs/", "/api/agent-runs/{id}/", "/api/agent-runs/usage/",
                 "AgentRunRequest", "AgentRunAccepted"):  # fmt: skip
        assert text in schema


@pytest.mark.parametrize("path", [RUNS, f"{RUNS}usage/"])
def test_the_list_and_usage_run_the_same_number_of_queries_for_few_or_many_runs(
    api, world, django_assert_num_queries, path
):
    make_run(portfolio=world.own)
    make_run(portfolio=world.own, project=world.own_project)
    client = api("pmo_leader")
    client.get(path)
    with CaptureQueriesContext(connection) as small:
        assert client.get(path).status_code == 200

    for number in range(3):
        portfolio = PortfolioFactory()
        role_grant(
            actor=world.admin, user=world.pmo_leader, role=Role.PMO_LEADER, portfolio=portfolio
        )
        for _ in range(3):
            make_run(portfolio=portfolio, project=ProjectFactory(portfolio=portfolio))
        make_run(portfolio=portfolio, provider=f"provider-{number}")

    with django_assert_num_queries(len(small.captured_queries)):
        assert client.get(path).status_code == 200
