"""The history upload: form and pages through the test client, and the job services run
directly (no worker here; tests/integration/test_import_task.py runs a real one)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection
from django.urls import reverse
from guardian.shortcuts import assign_perm

from governance.models import DecisionKind, DecisionLog, RoleAssignment
from governance.services import role_revoke
from portfolio import services
from portfolio.import_selectors import history_import_allowed, history_import_portfolios
from portfolio.models import HistoryImportJob, Project, WorkItem
from portfolio.services import (
    MAX_ATTEMPTS,
    HistoryImportJobInterrupted,
    history_import_job_create,
    history_import_job_run,
)
from portfolio.tasks import history_import_job_run_task

pytestmark = pytest.mark.django_db

SGG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "agile-real-sgg"
SGG_ROWS = 1 + 5 + 97  # projects.csv, sprints.csv, issues.csv
HTMX = {"HTTP_HX_REQUEST": "true"}
CREATE_URL = reverse("imports:job-create")
LIST_URL = reverse("imports:job-list")


def sgg_bytes(name: str) -> bytes:
    return (SGG / name).read_bytes()


def with_cell(name: str, key: str, column: str, value: str) -> bytes:
    """The SGG file `name` with one cell of the row whose first column is `key` changed."""
    rows = list(csv.reader(io.StringIO(sgg_bytes(name).decode())))
    for row in rows[1:]:
        if row[0] == key:
            row[rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def line_of(name: str, key: str) -> int:
    lines = sgg_bytes(name).decode().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.startswith(key + ","))


def upload(name: str, content: bytes | None = None) -> SimpleUploadedFile:
    data = sgg_bytes(name) if content is None else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def form_data(portfolio: str, **files: SimpleUploadedFile | None) -> dict[str, object]:
    """The POST of the upload form: SGG's three files unless overridden (None leaves one out)."""
    chosen: dict[str, SimpleUploadedFile | None] = {
        "projects": upload("projects.csv"),
        "sprints": upload("sprints.csv"),
        "issues": upload("issues.csv"),
    }
    chosen.update(files)
    return {"portfolio": portfolio, **{k: v for k, v in chosen.items() if v is not None}}


def sgg_files(**overrides: bytes) -> dict[str, bytes]:
    names = ("projects.csv", "sprints.csv", "issues.csv")
    return {name: overrides.get(name, sgg_bytes(name)) for name in names}


@pytest.fixture
def job_of(world, django_capture_on_commit_callbacks):
    """Create a job through the service, as the PMO leader of `own`, without sending its task
    (the test transaction never commits, and the callbacks are captured, not run)."""

    def create(actor=None, **overrides: bytes) -> HistoryImportJob:
        with django_capture_on_commit_callbacks(execute=False):
            return history_import_job_create(
                actor=actor or world.pmo_leader,
                portfolio_name=world.own.name,
                files=sgg_files(**overrides),
            )

    return create


# --- who may open the form -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_user_is_sent_to_login(client, world, method):
    response = getattr(client, method)(CREATE_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["viewer", "team_lead", "executive"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_user_without_the_change_right_gets_not_found_and_nothing_is_created(
    client, world, django_capture_on_commit_callbacks, role, method
):
    client.force_login(world.user(role))

    with django_capture_on_commit_callbacks() as callbacks:
        response = getattr(client, method)(CREATE_URL, form_data(world.own.slug))

    assert response.status_code == 404
    assert not HistoryImportJob.objects.exists()
    assert callbacks == []


def test_pmo_leader_chooses_among_the_portfolios_they_may_change(client, world):
    client.force_login(world.pmo_leader)

    response = client.get(CREATE_URL)

    assert response.status_code == 200
    assert response.context["form"].fields["portfolio"].choices == [("payments", "Payments")]
    assert "new_portfolio_name" not in response.context["form"].fields


def test_pmo_leader_of_another_portfolio_cannot_import_into_this_one(
    client, world, django_capture_on_commit_callbacks
):
    client.force_login(world.outsider)  # PMO leader of `foreign`

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(CREATE_URL, form_data(world.own.slug))

    assert response.status_code == 200
    assert "Select a valid choice" in response.context["form"].errors["portfolio"][0]
    assert not HistoryImportJob.objects.exists()
    assert callbacks == []


def test_superuser_may_also_name_a_new_portfolio(client, world):
    client.force_login(world.admin)

    response = client.get(CREATE_URL)

    choices = response.context["form"].fields["portfolio"].choices
    assert ("__new__", "New portfolio…") in choices
    assert {"payments", "logistics"} <= {value for value, _ in choices}


# --- uploading -----------------------------------------------------------------------------


def test_pmo_leader_upload_queues_a_job_sent_after_commit(
    client, world, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[tuple] = []
    monkeypatch.setattr(history_import_job_run_task, "delay", lambda *args: sent.append(args))
    client.force_login(world.pmo_leader)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(CREATE_URL, form_data(world.own.slug))

    job = HistoryImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("imports:job-detail", args=[job.pk])
    assert (job.status, job.requested_by, job.portfolio_name) == (
        "queued",
        world.pmo_leader,
        "Payments",
    )
    assert job.files["issues.csv"] == sgg_bytes("issues.csv").decode()
    assert job.file_sizes == {
        name: len(sgg_bytes(name)) for name in ("projects.csv", "sprints.csv", "issues.csv")
    }
    assert len(callbacks) == 1
    assert sent == [(job.pk,)]
    assert not Project.objects.filter(key="SGG").exists()  # the worker imports, not the web


def test_superuser_uploads_into_a_new_portfolio(client, world, django_capture_on_commit_callbacks):
    client.force_login(world.admin)
    data = {**form_data("__new__"), "new_portfolio_name": "Grants"}

    with django_capture_on_commit_callbacks():
        response = client.post(CREATE_URL, data)

    assert response.status_code == 302
    assert HistoryImportJob.objects.get().portfolio_name == "Grants"


BIG = 21 * 1024 * 1024


@pytest.mark.parametrize(
    ("files", "field", "message"),
    [
        ({"issues": None}, "issues", "Choose your issues.csv"),
        ({"projects": None}, "projects", "Choose your projects.csv"),
        (
            {
                "issues": upload(
                    "issues.csv", "key,project,created,status\nSGG-1,SGG,,Café\n".encode("latin-1")
                )
            },
            "issues",
            "issues.csv is not UTF-8 text (invalid continuation byte at byte",
        ),
        (
            {"issues": upload("issues.csv", b"key,project,created\nSGG-1,SGG,\n")},
            "issues",
            "issues.csv has no status column in its header row (line 1)",
        ),
        (
            {"sprints": upload("sprints.csv", b"sprint_id,project,name,start,end\n\x00\x01\n")},
            "sprints",
            "sprints.csv contains NUL characters",
        ),
        ({"events": upload("events.csv", b"")}, "events", "events.csv is empty"),
        (
            {"issues": upload("issues.csv", b"key,project,created,status\n" + b"x" * BIG)},
            "__all__",
            "The files total 21.0 MB; an upload may total at most 20 MB.",
        ),
    ],
    ids=["no-issues", "no-projects", "not-utf8", "no-column", "binary", "empty", "too-big"],
)
def test_bad_upload_is_a_field_error_and_creates_nothing(
    client, world, django_capture_on_commit_callbacks, files, field, message
):
    client.force_login(world.pmo_leader)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(CREATE_URL, form_data(world.own.slug, **files))

    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(error.startswith(message) for error in errors), errors
    assert message.split(" (")[0] in response.content.decode().replace("&#x27;", "'")
    assert not HistoryImportJob.objects.exists()
    assert callbacks == []


def test_a_new_portfolio_needs_a_name(client, world):
    client.force_login(world.admin)

    response = client.post(CREATE_URL, form_data("__new__"))

    assert response.context["form"].errors["new_portfolio_name"] == ["Name the new portfolio."]
    assert not HistoryImportJob.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "team_lead", "executive", "outsider"])
def test_create_service_refuses_without_the_change_right(world, role):
    with pytest.raises(PermissionDenied):
        history_import_job_create(
            actor=world.user(role), portfolio_name=world.own.name, files=sgg_files()
        )

    assert not HistoryImportJob.objects.exists()


# --- the job pages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("pmo_leader", 200), ("admin", 200), ("outsider", 404), ("viewer", 404), ("executive", 404)],
)
def test_job_page_is_visible_to_its_requester_and_superusers_only(
    client, world, job_of, role, status
):
    job = job_of()
    client.force_login(world.user(role))

    response = client.get(reverse("imports:job-detail", args=[job.pk]))

    assert response.status_code == status


def test_queued_job_page_polls_its_status_region(client, world, job_of):
    job = job_of()
    client.force_login(world.pmo_leader)
    url = reverse("imports:job-detail", args=[job.pk])

    page = client.get(url)
    region = client.get(url, **HTMX)

    assert 'hx-trigger="every 1s"' in page.content.decode()
    html = region.content.decode()
    assert html.lstrip().startswith('<section id="job-status"')
    assert 'hx-trigger="every 1s"' in html
    assert "Waiting for a worker" in html
    assert "HX-Request" in region["Vary"]


def test_running_job_shows_live_progress_from_the_cache(client, world, job_of):
    job = job_of()
    HistoryImportJob.objects.filter(pk=job.pk).update(status="running")
    cache.set(
        HistoryImportJob.progress_cache_key(job.pk),
        {"stage": "Reading issues.csv", "done": 3000, "total": 3608},
    )
    client.force_login(world.pmo_leader)

    html = client.get(reverse("imports:job-detail", args=[job.pk]), **HTMX).content.decode()

    cache.delete(HistoryImportJob.progress_cache_key(job.pk))
    assert "Reading issues.csv: 3000 of 3608 rows" in html
    assert '<progress max="3608" value="3000"' in html
    assert 'hx-trigger="every 1s"' in html


def test_finished_job_region_stops_polling_and_shows_the_report(client, world, job_of):
    job = job_of()
    history_import_job_run(job_id=job.pk)
    client.force_login(world.pmo_leader)

    html = client.get(reverse("imports:job-detail", args=[job.pk]), **HTMX).content.decode()

    assert "hx-trigger" not in html
    assert "Succeeded" in html
    assert "103 of 103 rows imported" in html
    assert all(status in html for status in ("Ready", "Refinement", "Sprint Backlog"))
    assert "Warnings (5)" in html


def test_failed_job_page_lists_the_located_errors(client, world, job_of):
    job = job_of(**{"issues.csv": with_cell("issues.csv", "SGG-299", "story_points", "-1")})
    history_import_job_run(job_id=job.pk)
    client.force_login(world.pmo_leader)

    html = client.get(reverse("imports:job-detail", args=[job.pk])).content.decode()

    assert "Nothing was imported" in html
    assert f"issues.csv:{line_of('issues.csv', 'SGG-299')}: story_points &#x27;-1&#x27;" in html


def test_job_list_shows_the_users_own_jobs_and_superusers_all(client, world, job_of):
    mine = job_of()
    theirs = job_of(actor=world.admin)

    client.force_login(world.pmo_leader)
    own_list = client.get(LIST_URL).context["jobs"]
    client.force_login(world.admin)
    all_list = client.get(LIST_URL).context["jobs"]

    assert own_list == [mine]
    assert all_list == [theirs, mine]


def test_job_list_runs_a_constant_number_of_queries(
    client, world, job_of, django_assert_num_queries
):
    client.force_login(world.admin)
    job_of()
    client.get(LIST_URL)  # warm the session and content-type caches
    with django_assert_num_queries(3) as one:  # session, user, jobs
        client.get(LIST_URL)
    for _ in range(3):
        job_of(actor=world.admin)

    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(LIST_URL)

    assert len(response.context["jobs"]) == 4


def test_import_link_is_shown_to_users_who_may_import(client, world):
    pages = {}
    for role in ("pmo_leader", "viewer", "admin"):
        client.force_login(world.user(role))
        pages[role] = client.get(reverse("portfolio:portfolio-list")).content.decode()

    assert CREATE_URL in pages["pmo_leader"]
    assert CREATE_URL in pages["admin"]
    assert CREATE_URL not in pages["viewer"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("admin", True),
        ("pmo_leader", True),
        ("outsider", True),  # PMO leader of another portfolio
        ("executive", False),
        ("team_lead", False),
        ("viewer", False),
    ],
)
def test_whether_a_user_may_import_costs_one_query_and_agrees_with_the_portfolio_choices(
    world, django_assert_max_num_queries, role, allowed
):
    user = world.user(role)
    ContentType.objects.get_for_model(HistoryImportJob)  # no per-process cache to warm here

    with django_assert_max_num_queries(0 if role == "admin" else 1):
        result = history_import_allowed(user=user)

    assert result is allowed
    assert history_import_portfolios(user=user).exists() is allowed


def test_a_right_held_through_a_group_counts_too(world):
    group = Group.objects.create(name="Grants office")
    assign_perm("portfolio.change_portfolio", group, world.foreign)
    world.viewer.groups.add(group)

    assert history_import_allowed(user=world.viewer)
    assert list(history_import_portfolios(user=world.viewer)) == [world.foreign]


# --- running a job (the service the task calls) ---------------------------------------------


def test_run_imports_the_files_and_records_success(world, job_of, monkeypatch):
    job = job_of()
    written: list[dict] = []
    set_in_cache = cache.set
    monkeypatch.setattr(
        services.cache,
        "set",
        lambda key, value, *a: (written.append(value), set_in_cache(key, value, *a)),
    )

    history_import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert (job.progress_done, job.progress_total, job.stage) == (SGG_ROWS, SGG_ROWS, "Done")
    assert job.finished_at is not None
    assert job.attempts == 1
    assert job.errors == []
    assert job.portfolio == world.own
    assert job.report["counts"]["work_items"]["created"] == 97
    assert job.report["files"] == {"projects.csv": 1, "sprints.csv": 5, "issues.csv": 97}
    assert sorted(job.report["unknown_statuses"]["SGG"]) == [
        "Ready",
        "Refinement",
        "Sprint Backlog",
    ]
    assert job.report["warning_count"] == len(job.report["warnings"]) == 5
    assert Project.objects.get(key="SGG").portfolio == world.own
    assert WorkItem.objects.filter(project__key="SGG").count() == 97
    decision = DecisionLog.objects.get(kind=DecisionKind.HISTORY_IMPORT)
    assert decision.actor == world.pmo_leader
    # Live progress went to the cache, stage by stage, and was cleared at the end.
    stages = [value["stage"] for value in written]
    assert stages[:2] == ["Checking against the database", "Checked; writing"]
    assert {"stage": "Checked; writing", "done": 97, "total": 97} in written
    assert cache.get(HistoryImportJob.progress_cache_key(job.pk)) is None


def test_running_a_finished_job_again_changes_nothing(world, job_of):
    job = job_of()
    history_import_job_run(job_id=job.pk)
    job.refresh_from_db()
    decisions = DecisionLog.objects.count()

    history_import_job_run(job_id=job.pk)

    again = HistoryImportJob.objects.get(pk=job.pk)
    assert (again.status, again.attempts, again.finished_at) == ("succeeded", 1, job.finished_at)
    assert DecisionLog.objects.count() == decisions


def test_a_bad_row_fails_the_job_with_its_location_and_imports_nothing(world, job_of):
    job = job_of(**{"issues.csv": with_cell("issues.csv", "SGG-299", "story_points", "-1")})

    history_import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    line = line_of("issues.csv", "SGG-299")
    assert job.errors == [f"issues.csv:{line}: story_points '-1' is negative"]
    assert job.finished_at is not None
    assert not Project.objects.filter(key="SGG").exists()
    assert not WorkItem.objects.exists()
    assert not DecisionLog.objects.filter(kind=DecisionKind.HISTORY_IMPORT).exists()


def test_a_right_revoked_after_the_upload_fails_the_job(world, job_of):
    job = job_of()
    assignment = RoleAssignment.objects.get(user=world.pmo_leader, portfolio=world.own)
    role_revoke(actor=world.admin, assignment=assignment)

    history_import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.errors[0].startswith("You may not import into portfolio 'Payments'")
    assert not Project.objects.filter(key="SGG").exists()


def test_a_transient_database_error_is_retried_then_fails_the_job(world, job_of, monkeypatch):
    job = job_of()

    def lost_connection(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "history_import", lost_connection)

    with pytest.raises(HistoryImportJobInterrupted):
        history_import_job_run(job_id=job.pk, retry_transient=True)
    assert HistoryImportJob.objects.get(pk=job.pk).status == "running"  # to be run again

    history_import_job_run(job_id=job.pk, retry_transient=False)  # the last attempt

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 2)
    assert "server closed the connection unexpectedly" in job.errors[0]


def test_a_job_left_running_by_a_lost_worker_is_run_again(world, job_of):
    job = job_of()
    HistoryImportJob.objects.filter(pk=job.pk).update(status="running", attempts=1)

    history_import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)


def test_a_job_interrupted_too_often_is_given_up(world, job_of):
    job = job_of()
    HistoryImportJob.objects.filter(pk=job.pk).update(status="running", attempts=MAX_ATTEMPTS)

    history_import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert "interrupted" in job.errors[0]
    assert not Project.objects.filter(key="SGG").exists()


def test_a_job_another_worker_is_running_is_left_alone(world, job_of):
    job = job_of()
    other_worker = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        other_worker.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"history-import-job:{job.pk}"]
        )

        history_import_job_run(job_id=job.pk)

        assert HistoryImportJob.objects.get(pk=job.pk).status == "queued"
    finally:
        other_worker.close()
