"""The history upload in a real browser: the job page follows the import without a reload."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portfolio.models import HistoryImportJob
from portfolio.services import history_import_job_run
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SGG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "agile-real-sgg"


def test_pmo_leader_uploads_history_and_watches_it_finish(world, page, monkeypatch):
    # No worker in this test: the job is run here, while the page polls its status.
    monkeypatch.setattr("portfolio.tasks.history_import_job_run_task.delay", lambda job_id: None)
    log_in(page, "pmo_leader")

    page.get_by_role("link", name="Import history").click()
    page.get_by_label(re.compile(r"^Portfolio")).select_option(label="Payments")
    page.get_by_label("projects.csv").set_input_files(SGG / "projects.csv")
    page.get_by_label("sprints.csv").set_input_files(SGG / "sprints.csv")
    page.get_by_role("button", name="Upload and import").click()

    page.get_by_text("Choose your issues.csv").wait_for()  # issues.csv was left out
    assert not HistoryImportJob.objects.exists()
    page.get_by_label("projects.csv").set_input_files(SGG / "projects.csv")
    page.get_by_label("sprints.csv").set_input_files(SGG / "sprints.csv")
    page.get_by_label("issues.csv").set_input_files(SGG / "issues.csv")
    page.get_by_role("button", name="Upload and import").click()

    page.get_by_text("Waiting for a worker").wait_for()
    page.evaluate("window.__marker = 'same page'")
    history_import_job_run(job_id=HistoryImportJob.objects.get().pk)

    page.get_by_role("rowheader", name="Work items").wait_for()
    assert page.evaluate("window.__marker") == "same page"
    assert page.get_by_text("Warnings (5)").is_visible()
