"""An upload through the web runs in a real worker: the job is sent after commit, imported,
and its page reports the outcome."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from governance.roles import Role
from governance.services import role_grant
from portfolio.models import HistoryImportJob, Project, WorkItem
from tests.factories import PortfolioFactory, UserFactory
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SGG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "agile-real-sgg"


def test_uploaded_files_are_imported_by_the_worker(celery_worker_process, client):
    admin = UserFactory(username="root", is_superuser=True)
    leader = UserFactory(username="leader")
    portfolio = PortfolioFactory(name="Grants", slug="grants")
    role_grant(actor=admin, user=leader, role=Role.PMO_LEADER, portfolio=portfolio)
    client.force_login(leader)
    files = {
        field: SimpleUploadedFile(f"{field}.csv", (SGG / f"{field}.csv").read_bytes())
        for field in ("projects", "sprints", "issues")
    }

    response = client.post(reverse("imports:job-create"), {"portfolio": "grants", **files})

    assert response.status_code == 302
    job = HistoryImportJob.objects.get()
    finished = wait_for(
        lambda: (
            HistoryImportJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"])
            .defer("files")
            .first()
        ),
        timeout=60,
    )
    assert finished.status == "succeeded", finished.errors
    assert finished.progress_total == 1 + 5 + 97
    assert finished.progress_done == finished.progress_total
    assert Project.objects.get(key="SGG").portfolio == portfolio
    assert WorkItem.objects.filter(project__key="SGG").count() == 97
    page = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "Succeeded" in page
    assert "hx-trigger" not in page
