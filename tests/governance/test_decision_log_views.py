"""The decision log page (filters, full-text search, pagination, verification status) and its
exports, for every role: each sees the entries of the portfolios they may read, no more."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.models import DecisionKind, DecisionLog
from governance.services import decision_record
from tests.conftest import ROLES
from tests.factories import PortfolioFactory

pytestmark = pytest.mark.django_db

URL = "/decisions/"
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "decision-results"}


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def log(world):
    """Besides the role grants of `world`: a global entry and entries about each project."""
    decision_record(
        kind=DecisionKind.AGENT_RUN,
        actor=None,
        actor_label="nightly-agent",
        portfolio=None,
        subject="system",
        summary="Global maintenance run",
    )
    for project in (world.own_project, world.sibling_project, world.foreign_project):
        decision_record(
            kind=DecisionKind.KPI_CORRECTION,
            actor=world.admin,
            portfolio=project.portfolio,
            subject=f"project:{project.key}",
            summary=f"Corrected the velocity KPI of {project.key}",
            rationale="The sprint was double counted after the Jira migration.",
        )


def summaries(response) -> set[str]:
    return {entry.summary for entry in response.context["page"].object_list}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_the_entries_of_the_portfolios_it_may_read(client, world, log, role):
    user = world.user(role)
    if user is None:
        response = client.get(URL)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
        return
    client.force_login(user)

    response = client.get(URL)

    assert response.status_code == 200
    seen = summaries(response)
    own = {e.summary for e in DecisionLog.objects.filter(portfolio=world.own)}
    foreign = {e.summary for e in DecisionLog.objects.filter(portfolio=world.foreign)}
    if role in ("viewer", "pmo_leader", "executive"):
        assert seen == own
    elif role == "team_lead":  # entries about their project only
        assert seen == {
            e.summary
            for e in DecisionLog.objects.filter(subject=f"project:{world.own_project.key}")
        }
        assert "Corrected the velocity KPI of PAY" in seen
    else:
        assert seen == foreign
    assert "Global maintenance run" not in seen


def test_a_superuser_reads_everything_including_the_global_chain(client, world, log):
    client.force_login(world.admin)

    response = client.get(URL)

    assert summaries(response) == set(DecisionLog.objects.values_list("summary", flat=True))
    chains = {chain.slug: chain.verification.ok for chain in response.context["chains"]}
    assert chains == {"logistics": True, "payments": True, "global": True}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "kpi_correction"}, {"PAY", "CARD"}),
        ({"portfolio": "payments", "q": "velocity"}, {"PAY", "CARD"}),
        ({"q": "double counted migration"}, {"PAY", "CARD"}),
        ({"q": '"velocity KPI of PAY"'}, {"PAY"}),
        ({"q": "velocity -CARD"}, {"PAY"}),
        ({"actor": "ADM", "kind": "kpi_correction"}, {"PAY", "CARD"}),
        ({"kind": "kpi_correction", "portfolio": "logistics"}, set()),
        ({"kind": "kpi_correction", "since": "2999-01-01"}, set()),
        ({"kind": "kpi_correction", "until": "2000-01-01"}, set()),
    ],
)
def test_filters_and_full_text_search(client, world, log, params, expected):
    client.force_login(world.pmo_leader)

    response = client.get(URL, params)

    keys = {summary.rsplit(" ", 1)[-1] for summary in summaries(response)}
    assert keys == expected


def test_dates_are_inclusive_local_days(client, world, log, settings):
    client.force_login(world.pmo_leader)
    today = timezone.localdate()

    response = client.get(URL, {"kind": "kpi_correction", "since": today, "until": today})

    assert len(summaries(response)) == 2


def test_the_search_can_use_the_gin_index(world, log):
    from governance.selectors import DecisionFilters, decision_log_list

    queryset = decision_log_list(user=world.admin, filters=DecisionFilters(q="velocity"))
    with connection.cursor() as cursor:
        # A handful of rows: make the planner show whether the index can serve the query.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        plan = queryset.explain()
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_indexscan")

    assert "decision_search" in plan, plan


def test_unknown_filter_values_are_ignored_not_an_error(client, world, log):
    client.force_login(world.pmo_leader)

    response = client.get(URL, {"kind": "nope", "since": "yesterday", "page": "999"})

    assert response.status_code == 200


def test_htmx_filtering_swaps_only_the_results(client, world, log):
    client.force_login(world.pmo_leader)

    response = client.get(URL, {"q": "velocity"}, **HTMX)

    page = response.content.decode()
    assert page.lstrip().startswith('<div id="decision-results"')
    assert "Chain verification" not in page
    assert "HX-Request" in response["Vary"]


def test_the_page_says_verified_and_names_a_broken_entry(client, world, log):
    client.force_login(world.pmo_leader)
    assert "✔ Verified" in client.get(URL).content.decode()
    victim = DecisionLog.objects.filter(portfolio=world.own).order_by("sequence")[1]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE governance_decisionlog DISABLE TRIGGER USER")
        cursor.execute("UPDATE governance_decisionlog SET summary = 'x' WHERE id = %s", [victim.pk])
        cursor.execute("ALTER TABLE governance_decisionlog ENABLE TRIGGER USER")

    page = client.get(URL).content.decode()

    assert "✘ Broken" in page
    assert f"entry #{victim.pk} (sequence 2): content changed" in page


def test_pagination_keeps_the_filters(client, world):
    for index in range(55):
        decision_record(
            kind=DecisionKind.KPI_CHANGE,
            actor=None,
            portfolio=world.own,
            subject="project:PAY",
            summary=f"Change {index}",
        )
    client.force_login(world.pmo_leader)

    first = client.get(URL, {"kind": "kpi_change"})
    second = client.get(URL, {"kind": "kpi_change", "page": 2})

    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 5
    assert "?kind=kpi_change&amp;page=2" in first.content.decode()


# --- exports -----------------------------------------------------------------------------------


def test_exports_follow_the_filters_and_permissions(client, world, log):
    client.force_login(world.outsider)

    jsonl = client.get(reverse("governance:decision-log-export-jsonl"))
    records = [json.loads(line) for line in b"".join(jsonl.streaming_content).splitlines()]

    assert jsonl["Content-Disposition"].startswith('attachment; filename="decision-log-')
    assert {r["portfolio"] for r in records} == {"logistics"}
    assert {r["sequence"] for r in records} == set(range(1, len(records) + 1))
    assert all(len(r["entry_hash"]) == 64 for r in records)


def test_csv_export_has_hashes_and_neutralizes_formulas(client, world):
    decision_record(
        kind=DecisionKind.KPI_CHANGE,
        actor=None,
        portfolio=world.own,
        subject="project:PAY",
        summary='=HYPERLINK("http://evil")',
        inputs={"a": 1},
    )
    client.force_login(world.pmo_leader)

    response = client.get(reverse("governance:decision-log-export-csv"), {"kind": "kpi_change"})

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(rows) == 1
    assert rows[0]["summary"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["inputs"] == '{"a":1}'
    assert rows[0]["portfolio"] == "payments"
    entry = DecisionLog.objects.get(kind=DecisionKind.KPI_CHANGE)
    assert (rows[0]["entry_hash"], rows[0]["previous_hash"]) == (
        entry.entry_hash,
        entry.previous_hash,
    )


def test_exports_need_a_login(client, world, log):
    response = client.get(reverse("governance:decision-log-export-csv"))

    assert response.status_code == 302


# --- query counts ------------------------------------------------------------------------------


def _entries(portfolio, count):
    for index in range(count):
        decision_record(
            kind=DecisionKind.KPI_CHANGE,
            actor=None,
            portfolio=portfolio,
            subject="project:PAY",
            summary=f"Change {index}",
        )


@pytest.mark.parametrize("role", ["admin", "pmo_leader", "team_lead"])
def test_the_page_runs_a_constant_number_of_queries(client, world, role, django_assert_num_queries):
    client.force_login(getattr(world, role))
    _entries(world.own, 3)
    client.get(URL)
    with CaptureQueriesContext(connection) as small:
        client.get(URL, {"q": "change"})
    for _ in range(3):
        _entries(PortfolioFactory(), 2)
    _entries(world.own, 60)

    with django_assert_num_queries(len(small)):
        client.get(URL, {"q": "change"})


def test_the_export_runs_a_constant_number_of_queries(client, world, django_assert_num_queries):
    client.force_login(world.pmo_leader)
    _entries(world.own, 2)
    url = reverse("governance:decision-log-export-jsonl")
    b"".join(client.get(url).streaming_content)
    with CaptureQueriesContext(connection) as small:
        b"".join(client.get(url).streaming_content)
    _entries(world.own, 40)

    with django_assert_num_queries(len(small)):
        b"".join(client.get(url).streaming_content)


def test_old_entries_can_be_found_by_date(client, world):
    entry = decision_record(
        kind=DecisionKind.KPI_CHANGE,
        actor=None,
        portfolio=world.own,
        subject="project:PAY",
        summary="Dated",
    )
    client.force_login(world.pmo_leader)
    day = entry.created_at.astimezone(timezone.get_current_timezone()).date()

    hit = client.get(URL, {"since": day, "until": day, "kind": "kpi_change"})
    miss = client.get(URL, {"since": day + dt.timedelta(days=1), "kind": "kpi_change"})

    assert summaries(hit) == {"Dated"}
    assert summaries(miss) == set()
