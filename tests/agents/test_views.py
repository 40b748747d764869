"""Agent pages through the test client: the runs list (filters, usage), one run (live
progress by htmx polling, then the result panel with its evidence links), and the agents
panel on the dashboards, for every role."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.memory import RecalledMemory
from agents.models import AgentRun, MemoryItem, MemoryKind, RunKind, RunStatus, RunTrigger
from agents.models.memory import EMBEDDING_DIMENSIONS
from governance.decision_log import decision_record
from governance.models import DecisionKind
from governance.roles import Role
from governance.services import recommendation_propose, role_grant
from tests.agents.test_selectors import make_run, progress_of, result_of
from tests.factories import PortfolioFactory, ProjectFactory
from tests.governance.factories import make_epics

HTMX = {"HX-Request": "true"}


def detail_url(run) -> str:
    return reverse("agents:run-detail", args=[run.pk])


def login(client, world, role: str):
    user = world.user(role) if role != "admin" else world.admin
    if user is not None:
        client.force_login(user)
    return user


# --- one run -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 302),
        ("viewer", 200),
        ("team_lead", 404),
        ("pmo_leader", 200),
        ("executive", 200),
        ("outsider", 404),
        ("admin", 200),
    ],
)
def test_a_portfolio_review_opens_for_those_who_view_the_whole_portfolio(
    client, world, role, status
):
    run = make_run(portfolio=world.own)
    login(client, world, role)
    response = client.get(detail_url(run))
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("login"))


def test_a_team_lead_reads_the_risk_scans_of_their_project_only(client, world):
    own = make_run(portfolio=world.own, project=world.own_project)
    sibling = make_run(portfolio=world.own, project=world.sibling_project)
    client.force_login(world.team_lead)
    assert client.get(detail_url(own)).status_code == 200
    assert client.get(detail_url(sibling)).status_code == 404


def test_a_pending_run_polls_its_status_every_second(client, world):
    run = make_run(
        portfolio=world.own,
        status=RunStatus.RUNNING,
        progress=progress_of(
            {"snapshot": "done", "facts": "done", "recall": "done", "provider": "running"},
            provider="openai gpt-4o-mini",
        ),
    )
    client.force_login(world.pmo_leader)

    page = client.get(detail_url(run)).content.decode()

    assert f'hx-get="{detail_url(run)}"' in page
    assert 'hx-trigger="every 1s"' in page
    assert "Provider in use: <strong>openai gpt-4o-mini</strong>" in page
    assert "Asking builtin" in page  # the provider step's label
    assert 'class="run-step run-step-running" data-step="provider"' in page


def test_the_poll_answers_the_status_region_only_and_stops_once_the_run_has_finished(client, world):
    run = make_run(portfolio=world.own, status=RunStatus.QUEUED)
    client.force_login(world.pmo_leader)

    pending = client.get(detail_url(run), headers=HTMX)
    assert pending.status_code == 200
    body = pending.content.decode()
    assert body.lstrip().startswith(f'<section id="run-status-{run.pk}"')
    assert "<html" not in body
    assert 'hx-trigger="every 1s"' in body
    assert "Waiting for an agent worker" in body
    assert pending["Cache-Control"].startswith("max-age=0")

    run.status = RunStatus.SUCCEEDED
    run.progress = progress_of(dict.fromkeys(["snapshot", "facts", "recall"], "done"))
    run.result = result_of()
    run.save()
    finished = client.get(detail_url(run), headers=HTMX).content.decode()
    assert "hx-trigger" not in finished
    assert "PAY will miss its target date" in finished


def test_the_result_panel_links_every_risk_to_its_evidence_and_flags_unknown_evidence(
    client, world
):
    run = make_run(portfolio=world.own, project=world.own_project)
    client.force_login(world.pmo_leader)

    page = client.get(detail_url(run)).content.decode()

    assert "PAY will miss its target date unless scope is cut." in page
    assert "Scope or date" in page
    assert (
        '<a class="evidence-link" href="/projects/PAY/#forecast-chart" '
        'data-evidence-id="forecast:PAY">PAY forecast vs target</a>'
    ) in page
    assert 'href="/projects/PAY/#velocity-chart"' in page
    assert '<span class="evidence-unknown" data-evidence-id="sprint:404">sprint:404' in page
    assert "unknown evidence" in page
    assert page.index("Forecast after the target date") < page.index("Say/do below 0.7")
    assert "82%" in page
    assert "builtin" in page
    assert "Prompt version</dt><dd>v1" in page


def test_evidence_pointing_off_site_is_shown_as_text_not_as_a_link(client, world):
    risk = result_of()["risks"][0] | {"evidence_ids": ["kpi:evil"]}
    run = make_run(portfolio=world.own, result=result_of(risks=[risk]))
    client.force_login(world.pmo_leader)
    page = client.get(detail_url(run)).content.decode()
    assert "javascript:" not in page
    assert '<span class="evidence-text" data-evidence-id="kpi:evil">Off-site</span>' in page


def test_the_result_panel_links_the_decision_log_entry(client, world):
    run = make_run(portfolio=world.own)
    decision = decision_record(
        kind=DecisionKind.AGENT_RUN,
        actor=None,
        actor_label="agent:builtin (prompt v1)",
        portfolio=world.own,
        subject=f"agent_run:{run.pk}",
        summary="Portfolio review of Payments",
    )
    run.decision = decision
    run.save()
    other = make_run(portfolio=world.own)  # a second agent-run entry the same day
    decision_record(
        kind=DecisionKind.AGENT_RUN,
        actor=None,
        actor_label="agent:builtin (prompt v1)",
        portfolio=world.own,
        subject=f"agent_run:{other.pk}",
        summary=f"Portfolio review of Payments, run {run.pk}",
    )
    client.force_login(world.viewer)

    page = client.get(detail_url(run)).content.decode()

    link = re.search(r'<a class="decision-link" href="([^"]+)"', page).group(1)
    assert f"Entry #{decision.sequence} of Payments" in page
    log = client.get(html.unescape(link))
    assert log.status_code == 200
    assert [entry.pk for entry in log.context["page"].object_list] == [decision.pk]


def test_a_prioritization_links_its_recommendation_for_those_who_propose_or_decide(client, world):
    epics = make_epics(world.own, 3)
    recommendation = recommendation_propose(
        actor=world.pmo_leader,
        portfolio=world.own,
        proposed_ranking=[epic.pk for epic in reversed(epics)],
        rationale="Cost of delay",
        confidence="0.9",
    )
    run = make_run(
        portfolio=world.own,
        kind=RunKind.PRIORITIZATION,
        recommendation=recommendation,
        result=result_of(
            proposed_ranking=[epic.key for epic in reversed(epics)],
            recommendation_rationale="Highest cost of delay first.",
        ),
    )
    link = reverse("governance:recommendation-detail", args=[recommendation.pk])
    for role, shown in [("executive", True), ("pmo_leader", True), ("viewer", False)]:
        client.force_login(world.user(role))
        page = client.get(detail_url(run)).content.decode()
        assert "Highest cost of delay first." in page
        assert epics[-1].key in page
        assert (link in page) is shown, role


def test_a_prioritization_that_proposed_nothing_says_why(client, world):
    run = make_run(
        portfolio=world.own,
        kind=RunKind.PRIORITIZATION,
        result=result_of(no_recommendation_reason="No open epic to rank."),
    )
    client.force_login(world.pmo_leader)
    page = client.get(detail_url(run)).content.decode()
    assert "No recommendation was proposed: No open epic to rank." in page


def test_a_failed_run_shows_its_error_and_no_risk_section(client, world):
    run = make_run(portfolio=world.own, status=RunStatus.FAILED, error="No provider answered.")
    client.force_login(world.pmo_leader)
    page = client.get(detail_url(run)).content.decode()
    assert "The run failed: No provider answered." in page
    assert "Risk flags" not in page


def test_recalled_memory_is_shown_with_the_result(client, world):
    item = MemoryItem.objects.create(
        portfolio=world.own,
        kind=MemoryKind.DECISION,
        text="Cut scope of PAY in Q1 rather than moving the date",
        embedding=[0.0] * EMBEDDING_DIMENSIONS,
        source_type="decision_log",
        source_id="1",
    )
    recalled = RecalledMemory(
        id=item.pk,
        kind=item.kind,
        text=item.text,
        similarity=0.91,
        source_type="decision_log",
        source_id="1",
        url="/decisions/?portfolio=payments",
        superseded=False,
        superseded_by_id=None,
        superseded_by_url="",
        created_at=item.created_at,
        portfolio_id=world.own.pk,
        project_id=None,
    ).as_dict()
    run = make_run(portfolio=world.own, result=result_of(recalled=[recalled]))
    client.force_login(world.pmo_leader)

    page = client.get(detail_url(run)).content.decode()

    assert f'<h3 id="run-{run.pk}-memory">Recalled memory</h3>' in page
    assert "Cut scope of PAY in Q1 rather than moving the date" in page
    assert "91% similar" in page


# --- the runs list -----------------------------------------------------------------------------


def test_the_runs_list_shows_only_readable_runs_with_usage_per_portfolio(client, world):
    make_run(portfolio=world.own, provider="openai", input_tokens=1200, output_tokens=300)
    make_run(portfolio=world.own, project=world.sibling_project)
    make_run(portfolio=world.foreign)
    client.force_login(world.pmo_leader)

    response = client.get(reverse("agents:run-list"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "2 runs." in page
    assert "Logistics" not in page
    assert 'data-portfolio="payments"' in page
    assert '<td class="numeric">1500</td>' in page
    assert "Start a run on Payments" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=risk_scan", {"CARD"}),
        ("status=failed", {"failed"}),
        ("portfolio=payments&project=card", {"CARD"}),
        ("trigger=schedule", set()),
    ],
)
def test_the_runs_list_filters(client, world, query, expected):
    make_run(portfolio=world.own)
    make_run(portfolio=world.own, project=world.sibling_project)
    make_run(portfolio=world.own, status=RunStatus.FAILED, error="failed")
    client.force_login(world.pmo_leader)

    response = client.get(f"{reverse('agents:run-list')}?{query}", headers=HTMX | {
        "HX-Target": "agent-run-results"})  # fmt: skip

    page = response.content.decode()
    assert page.lstrip().startswith('<div id="agent-run-results"')
    count = page.count('<th scope="row"><a href="/agents/runs/')
    assert count == (len(expected) if expected != {"failed"} else 1)
    for text in expected - {"failed"}:
        assert text in page


@pytest.mark.parametrize("query", ["kind=nonsense", "since=2026-13-45", "portfolio=logistics"])
def test_a_bad_filter_is_reported_and_lists_nothing(client, world, query):
    make_run(portfolio=world.own)
    make_run(portfolio=world.foreign)
    client.force_login(world.pmo_leader)
    response = client.get(f"{reverse('agents:run-list')}?{query}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "These filters are not valid" in page
    assert "0 runs" in page


def test_the_runs_list_runs_the_same_number_of_queries_for_few_or_many_runs(
    client, world, django_assert_num_queries
):
    make_run(portfolio=world.own, project=world.own_project)
    make_run(portfolio=world.own)
    client.force_login(world.pmo_leader)
    url = reverse("agents:run-list")
    client.get(url)  # warm the per-process caches (content types)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200

    for number in range(3):
        portfolio = PortfolioFactory()
        role_grant(
            actor=world.admin, user=world.pmo_leader, role=Role.PMO_LEADER, portfolio=portfolio
        )
        for _ in range(4):
            make_run(portfolio=portfolio, project=ProjectFactory(portfolio=portfolio))
        make_run(portfolio=portfolio, provider=f"provider-{number}")

    with django_assert_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200


def test_the_run_page_runs_the_same_number_of_queries_whatever_the_result_size(
    client, world, django_assert_num_queries
):
    small = make_run(portfolio=world.own, project=world.own_project)
    many_risks = result_of(risks=result_of()["risks"] * 30)
    large = make_run(portfolio=world.own, result=many_risks)
    client.force_login(world.pmo_leader)
    client.get(detail_url(small))
    with CaptureQueriesContext(connection) as counted:
        client.get(detail_url(small))
    with django_assert_num_queries(len(counted.captured_queries)):
        assert client.get(detail_url(large)).status_code == 200


# --- the dashboards' agents panel ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "buttons", "panel"),
    [
        ("pmo_leader", True, True),
        ("admin", True, True),
        ("executive", False, True),
        ("viewer", False, True),
        ("team_lead", False, False),
    ],
)
def test_the_portfolio_dashboard_offers_run_review_and_prioritization_to_pmo_leaders_only(
    client, world, role, buttons, panel
):
    make_run(portfolio=world.own)
    login(client, world, role)

    page = client.get(reverse("portfolio:portfolio-detail", args=["payments"])).content.decode()

    start = reverse("agents:run-start", args=["payments"])
    assert ('value="portfolio_review"' in page and "Run review" in page) is buttons
    assert ('value="prioritization"' in page and "Propose prioritization" in page) is buttons
    assert (f'hx-post="{start}"' in page) is buttons
    assert ('id="agent-panel"' in page) is panel


@pytest.mark.parametrize(
    ("role", "buttons"),
    [("pmo_leader", True), ("team_lead", False), ("viewer", False), ("executive", False)],
)
def test_the_project_dashboard_offers_scan_risks_to_pmo_leaders_only(client, world, role, buttons):
    login(client, world, role)
    page = client.get(reverse("portfolio:project-detail", args=["PAY"])).content.decode()
    assert ('value="risk_scan"' in page and "Scan risks" in page) is buttons
    assert ('name="project" value="PAY"' in page) is buttons


def test_a_pending_run_keeps_its_live_progress_on_the_dashboard(client, world):
    run = make_run(portfolio=world.own, status=RunStatus.RUNNING)
    client.force_login(world.pmo_leader)
    page = client.get(reverse("portfolio:portfolio-detail", args=["payments"])).content.decode()
    assert f'id="run-status-{run.pk}"' in page
    assert 'hx-trigger="every 1s"' in page


def test_the_navigation_links_the_agent_runs(client, world):
    client.force_login(world.viewer)
    page = client.get(reverse("agents:run-list")).content.decode()
    assert '<a href="/agents/runs/" aria-current="page">Agent runs</a>' in page


# --- starting a run ------------------------------------------------------------------------------


def start_url(slug: str = "payments") -> str:
    return reverse("agents:run-start", args=[slug])


def test_run_review_queues_a_portfolio_review_and_opens_its_page(
    client, world, django_capture_on_commit_callbacks
):
    client.force_login(world.pmo_leader)

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(start_url(), {"kind": "portfolio_review"})

    run = AgentRun.objects.get()
    assert (run.kind, run.portfolio, run.project, run.trigger, run.requested_by) == (
        RunKind.PORTFOLIO_REVIEW,
        world.own,
        None,
        RunTrigger.USER,
        world.pmo_leader,
    )
    assert run.status == RunStatus.QUEUED
    assert len(enqueued) == 1
    assert response.status_code == 302
    assert response["Location"] == detail_url(run)
    page = client.get(response["Location"]).content.decode()
    assert f"Portfolio review of Payments queued (run #{run.pk})." in page
    assert 'hx-trigger="every 1s"' in page


def test_the_buttons_swap_in_the_live_progress_with_htmx(client, world):
    client.force_login(world.pmo_leader)

    response = client.post(start_url(), {"kind": "prioritization"}, headers=HTMX)

    run = AgentRun.objects.get()
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<section id="run-status-{run.pk}"')
    assert f"Prioritization of Payments queued (run #{run.pk})." in body
    assert 'hx-trigger="every 1s"' in body


def test_scan_risks_twice_follows_the_pending_scan_instead_of_starting_another(client, world):
    client.force_login(world.pmo_leader)

    client.post(start_url(), {"kind": "risk_scan", "project": "PAY"})
    response = client.post(start_url(), {"kind": "risk_scan", "project": "PAY"}, follow=True)

    run = AgentRun.objects.get()
    assert run.project == world.own_project
    assert f"A risk scan of PAY is already pending (run #{run.pk})" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "risk_scan"}, "project", "A risk scan is about one project"),
        ({"kind": "portfolio_review", "project": "PAY"}, "project", "choose no project"),
        ({"kind": "astrology"}, "kind", "Select a valid choice"),
        ({"kind": "risk_scan", "project": "SHIP"}, "project", "Select a valid choice"),
        ({}, "kind", "This field is required"),
    ],
)
def test_a_bad_start_request_is_a_form_error_and_starts_nothing(
    client, world, data, field, message
):
    client.force_login(world.pmo_leader)

    response = client.post(start_url(), data)

    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field])
    assert message in response.content.decode()
    assert not AgentRun.objects.exists()


def test_a_bad_start_request_from_a_button_answers_the_errors_in_place(client, world):
    client.force_login(world.pmo_leader)
    response = client.post(start_url(), {"kind": "risk_scan"}, headers=HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="run-start-errors"')
    assert "A risk scan is about one project" in body
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 302),
        ("viewer", 403),
        ("executive", 403),
        ("team_lead", 403),
        ("outsider", 404),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_only_pmo_leaders_of_the_portfolio_may_start_runs(client, world, role, status, method):
    login(client, world, role)
    response = getattr(client, method)(start_url(), {"kind": "portfolio_review"})
    assert response.status_code == status
    assert not AgentRun.objects.exists()


def test_the_start_form_offers_the_kinds_and_the_portfolio_projects(client, world):
    client.force_login(world.pmo_leader)
    page = client.get(start_url()).content.decode()
    assert '<option value="risk_scan">Risk scan</option>' in page
    assert '<option value="PAY">' in page
    assert '<option value="SHIP">' not in page
