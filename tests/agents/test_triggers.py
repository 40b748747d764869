"""Triggers of agent runs: a KPI measurement recorded or a sprint closed asks for a risk scan
of the project (one pending per project), the nightly beat asks for a review per portfolio.
The events are sent here as their owners send them, after their commit."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError

from agents import receivers
from agents.models import AgentRun, RunKind, RunStatus, RunTrigger
from agents.tasks.schedule import portfolio_reviews_nightly
from metrics.events import kpi_measurement_recorded
from pmo.celery import app
from portfolio.events import sprint_closed
from tests.factories import PortfolioFactory

pytestmark = pytest.mark.django_db


def kpi_recorded(project, status: str = "red", measurement_id: int = 1) -> None:
    kpi_measurement_recorded.send(
        sender=None,
        measurement_id=measurement_id,
        kpi_id=1,
        project_id=project.pk if project is not None else None,
        portfolio_id=project.portfolio_id if project is not None else 1,
        status=status,
    )


def test_a_kpi_measurement_queues_a_risk_scan_of_its_project(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        kpi_recorded(world.own_project)

    run = AgentRun.objects.get()
    assert (run.kind, run.portfolio, run.project, run.trigger, run.requested_by) == (
        RunKind.RISK_SCAN,
        world.own,
        world.own_project,
        RunTrigger.KPI_MEASUREMENT,
        None,
    )
    assert run.status == RunStatus.QUEUED
    assert len(enqueued) == 1


def test_a_burst_of_measurements_costs_one_pending_scan_per_project(world):
    for number in range(5):
        kpi_recorded(world.own_project, measurement_id=number)
    kpi_recorded(world.sibling_project)

    scans = AgentRun.objects.order_by("project__key")
    assert [run.project.key for run in scans] == ["CARD", "PAY"]


def test_a_measurement_after_the_scan_finished_queues_a_new_one(world):
    kpi_recorded(world.own_project)
    AgentRun.objects.update(status=RunStatus.SUCCEEDED)
    kpi_recorded(world.own_project, measurement_id=2)
    assert AgentRun.objects.filter(status=RunStatus.QUEUED).count() == 1
    assert AgentRun.objects.count() == 2


def test_a_portfolio_kpi_starts_no_scan(world):
    kpi_recorded(None)
    assert not AgentRun.objects.exists()


def test_a_closed_sprint_queues_a_risk_scan_of_its_project(world):
    sprint_closed.send(
        sender=None, sprint_id=7, project_id=world.foreign_project.pk,
        portfolio_id=world.foreign.pk,
    )  # fmt: skip
    run = AgentRun.objects.get()
    assert (run.project, run.trigger) == (world.foreign_project, RunTrigger.SPRINT_CLOSED)


def test_an_event_about_a_missing_project_is_logged_and_starts_nothing(world, caplog):
    with caplog.at_level(logging.WARNING, logger="agents.receivers"):
        sprint_closed.send(sender=None, sprint_id=1, project_id=987654, portfolio_id=1)
    assert not AgentRun.objects.exists()
    assert "project 987654 does not exist" in caplog.text


def test_a_failure_to_start_a_scan_never_breaks_the_sender(world, monkeypatch, caplog):
    def refuse(**kwargs):
        raise ValidationError({"project": "refused"})

    monkeypatch.setattr(receivers, "agent_run_request", refuse)
    with caplog.at_level(logging.ERROR, logger="agents.receivers"):
        kpi_recorded(world.own_project)  # does not raise
    assert "Could not request a risk scan of PAY" in caplog.text
    assert not AgentRun.objects.exists()


# --- the nightly review -------------------------------------------------------------------------


def test_the_nightly_beat_requests_one_review_per_portfolio_with_projects(
    world, django_capture_on_commit_callbacks
):
    PortfolioFactory(name="Empty", slug="empty")

    with django_capture_on_commit_callbacks() as enqueued:
        created = portfolio_reviews_nightly()

    reviews = AgentRun.objects.order_by("portfolio__slug")
    assert created == 2
    assert [run.portfolio.slug for run in reviews] == ["logistics", "payments"]
    assert {(run.kind, run.trigger, run.requested_by) for run in reviews} == {
        (RunKind.PORTFOLIO_REVIEW, RunTrigger.SCHEDULE, None)
    }
    assert len(enqueued) == 2


def test_the_nightly_beat_firing_twice_requests_each_review_once(world):
    portfolio_reviews_nightly()
    AgentRun.objects.update(status=RunStatus.SUCCEEDED)
    assert portfolio_reviews_nightly() == 0
    assert AgentRun.objects.count() == 2


def test_one_portfolio_failing_does_not_cost_the_others_their_review(world, monkeypatch, caplog):
    real = receivers.agent_run_request

    def flaky(**kwargs):
        if kwargs["portfolio"].slug == "logistics":
            raise RuntimeError("broker down")
        return real(**kwargs)

    monkeypatch.setattr("agents.tasks.schedule.agent_run_request", flaky)
    with caplog.at_level(logging.ERROR, logger="agents.tasks.schedule"):
        assert portfolio_reviews_nightly() == 1
    assert [run.portfolio.slug for run in AgentRun.objects.all()] == ["payments"]
    assert "nightly review of logistics" in caplog.text


def test_the_beat_schedule_runs_the_nightly_reviews_at_two():
    entry = app.conf.beat_schedule["agent-portfolio-reviews"]
    assert entry["task"] == "agents.tasks.schedule.portfolio_reviews_nightly"
    assert entry["task"] in app.tasks
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({2}, {0})
