"""The project and portfolio dashboards and their CSV downloads, through the test client, for
every role of the `world` fixture.

The histories are written with tests/metrics/history.py and evaluated at a fixed instant: the
project's `data_as_of` (the snapshot instant that Project.metrics_now returns), so every
figure on the page is reproducible whatever day the suite runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from metrics import dashboards
from metrics.dashboards import CSV_CHARTS
from portfolio.models import Project, Sprint
from tests.factories import EpicFactory, ProjectFactory, SprintFactory
from tests.metrics.history import item, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 3, 20, 12)
FIRST_SPRINT = utc(2026, 1, 5, 9)
CHART_SLUGS = [
    "burndown",
    "velocity",
    "cycle-time",
    "throughput",
    "cumulative-flow",
    "wip-aging",
    "forecast",
    "epics",
]
CSV_OF_SLUG = {"epics": "epic-ranking"}


# --- Histories ---------------------------------------------------------------------------------


def snapshot(project: Project, at: dt.datetime = NOW) -> Project:
    """Evaluate the project's metrics at `at` (Project.metrics_now), not at the real now."""
    project.data_as_of = at
    project.save(update_fields=["data_as_of"])
    return project


def build_history(project: Project, *, sprints: int, items_per_sprint: int) -> list[Sprint]:
    """`sprints` two-week sprints from FIRST_SPRINT, the last one active at NOW (the others
    closed), each with committed items that are started and mostly done inside it; plus a
    few items still in progress at NOW."""
    created = []
    for number in range(sprints):
        start = FIRST_SPRINT + dt.timedelta(days=14 * number)
        active = number == sprints - 1
        sprint = SprintFactory(
            project=project,
            name=f"{project.key} Sprint {number + 1}",
            start=start,
            state=Sprint.State.ACTIVE if active else Sprint.State.CLOSED,
        )
        created.append(sprint)
        for position in range(items_per_sprint):
            history = item(
                project,
                f"{project.key}-{number}-{position}",
                created=start - dt.timedelta(days=3),
                points=position % 5 + 1,
            ).join(sprint, start - dt.timedelta(hours=1))
            started = start + dt.timedelta(hours=2 + position)
            history.start(started)
            done = started + dt.timedelta(days=1 + position % 6, hours=position)
            if position % 3 and done < min(NOW, sprint.end):
                history.done(done)
    return created


@pytest.fixture
def history(world) -> list[Sprint]:
    snapshot(world.own_project)
    snapshot(world.sibling_project)
    sprints = build_history(world.own_project, sprints=6, items_per_sprint=6)
    EpicFactory(portfolio=world.own, project=world.own_project, key="EP-OWN", rank=1)
    EpicFactory(portfolio=world.own, project=world.sibling_project, key="EP-SIB", rank=2)
    return sprints


def project_url(key: str = "PAY", **params: str) -> str:
    url = reverse("portfolio:project-detail", args=[key])
    if params:
        url += "?" + "&".join(f"{name}={value}" for name, value in params.items())
    return url


def csv_url(chart: str, key: str = "PAY") -> str:
    return reverse(f"metrics:{chart}-csv", args=[key])


def htmx(client, url: str, target: str):
    return client.get(url, headers={"HX-Request": "true", "HX-Target": target})


# --- Reading tables back out of the HTML -----------------------------------------------------


class _TableParser(HTMLParser):
    """Collects the rows of every <table data-chart-table="slug"> as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table" and values.get("data-chart-table"):
            self._table = values["data-chart-table"]
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(html: str) -> dict[str, list[list[str]]]:
    parser = _TableParser()
    parser.feed(html)
    return parser.tables


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- Access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "team_lead", "pmo_leader", "executive", "admin"])
def test_every_role_of_the_portfolio_sees_the_project_dashboard(client, world, history, role):
    client.force_login(world.user(role))

    response = client.get(project_url())

    assert response.status_code == 200
    html = response.content.decode()
    for slug in CHART_SLUGS:
        assert f'id="{slug}-card"' in html
        assert reverse(f"metrics:{CSV_OF_SLUG.get(slug, slug)}-csv", args=["PAY"]) in html
    assert html.count("data-plotly=") >= len(CHART_SLUGS)
    assert "/static/vendor/plotly/plotly.min.js" in html
    assert "/static/js/charts.js" in html


def test_outsider_gets_not_found_on_the_dashboard_and_every_download(client, world, history):
    client.force_login(world.outsider)

    assert client.get(project_url()).status_code == 404
    for chart in CSV_CHARTS:
        response = client.get(csv_url(chart))
        assert response.status_code == 404, chart
        assert b"Payments" not in response.content


def test_team_lead_gets_not_found_on_the_sibling_dashboard_and_its_downloads(
    client, world, history
):
    client.force_login(world.team_lead)

    assert client.get(project_url("CARD")).status_code == 404
    assert htmx(client, project_url("CARD"), "burndown-chart").status_code == 404
    for chart in CSV_CHARTS:
        assert client.get(csv_url(chart, "CARD")).status_code == 404, chart


@pytest.mark.parametrize("chart", CSV_CHARTS)
def test_anonymous_download_is_sent_to_the_login_page(client, world, chart):
    url = csv_url(chart)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_download_of_a_missing_project_is_not_found(client, world):
    client.force_login(world.admin)

    assert client.get(csv_url("velocity", "NOPE")).status_code == 404


def test_downloads_refuse_writes(client, world, history):
    client.force_login(world.pmo_leader)

    assert client.post(csv_url("velocity")).status_code == 405


# --- CSV equals the table twin ---------------------------------------------------------------


@pytest.mark.parametrize("slug", CHART_SLUGS)
@pytest.mark.parametrize("role", ["team_lead", "pmo_leader"])
def test_csv_download_has_exactly_the_rows_of_the_table_under_the_chart(
    client, world, history, slug, role
):
    client.force_login(world.user(role))
    page = client.get(project_url())
    table = html_tables(page.content.decode())[slug]
    chart = next(chart for chart in _page_charts(page.context) if chart.slug == slug)

    response = client.get(chart.csv_url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    assert response["Content-Disposition"].endswith('.csv"')
    header, *rows = csv_rows(response)
    assert header == table[0]
    assert rows == table[1:]
    assert rows, f"the {slug} chart of the history has data"


def _page_charts(context) -> list:
    return [
        context["burndown"].chart,
        context["velocity"],
        context["cycle_time"],
        context["throughput"],
        context["cumulative_flow"],
        context["wip_aging"],
        context["forecast"].chart,
        context["epics_chart"],
    ]


def test_csv_of_a_filtered_chart_follows_the_same_filters(client, world, history):
    client.force_login(world.pmo_leader)
    first_sprint = history[0]
    page = client.get(project_url(sprint=str(first_sprint.pk), period="30"))
    tables = html_tables(page.content.decode())

    burndown = client.get(page.context["burndown"].chart.csv_url)
    throughput = client.get(page.context["throughput"].csv_url)

    assert page.context["burndown"].chart.csv_url.endswith(f"?sprint={first_sprint.pk}")
    assert page.context["throughput"].csv_url.endswith("?period=30")
    assert csv_rows(burndown) == tables["burndown"]
    assert csv_rows(throughput) == tables["throughput"]
    assert csv_rows(burndown)[1][0] == "2026-01-05"


# --- Charts and their content ----------------------------------------------------------------


def test_burndown_shows_the_active_sprint_by_default_and_a_chosen_sprint_on_request(
    client, world, history
):
    client.force_login(world.pmo_leader)

    default = client.get(project_url())
    chosen = client.get(project_url(sprint=str(history[1].pk)))

    assert default.context["burndown"].sprint == history[-1]
    assert "Burndown: PAY Sprint 6" in default.content.decode()
    assert chosen.context["burndown"].sprint == history[1]
    assert "Burndown: PAY Sprint 2" in chosen.content.decode()


def test_active_sprint_burndown_has_no_remaining_for_days_after_now(client, world, history):
    client.force_login(world.pmo_leader)

    table = html_tables(client.get(project_url()).content.decode())["burndown"]

    remaining = {row[0]: row[1] for row in table[1:]}
    assert remaining["2026-03-20"] != ""
    assert remaining["2026-03-21"] == ""


def test_velocity_lists_closed_sprints_only(client, world, history):
    client.force_login(world.pmo_leader)

    table = html_tables(client.get(project_url()).content.decode())["velocity"]

    assert [row[0] for row in table[1:]] == [f"PAY Sprint {number}" for number in range(1, 6)]
    assert {row[1] for row in table[1:]} == {"closed"}


def test_epics_of_the_project_are_highlighted_in_the_portfolio_ranking(client, world, history):
    client.force_login(world.team_lead)

    response = client.get(project_url())

    rows = response.context["epics_chart"].table.rows
    assert [(row.cells[1], row.highlighted) for row in rows] == [
        ("EP-OWN", True),
        ("EP-SIB", False),
    ]
    assert '<tr class="highlighted">' in response.content.decode()


def test_metrics_are_evaluated_at_the_snapshot_instant(client, world, history):
    client.force_login(world.pmo_leader)

    response = client.get(project_url())

    assert response.context["clock"].now == NOW
    assert response.context["clock"].today == dt.date(2026, 3, 20)
    assert "20 Mar 2026 12:00 UTC" in response.content.decode()


# --- HTMX regions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "inside", "outside"),
    [
        ("burndown-chart", "burndown-card", "velocity-card"),
        ("flow-charts", "cycle-time-card", "burndown-card"),
        ("forecast-chart", "forecast-card", "flow-charts"),
    ],
)
def test_htmx_request_gets_only_its_region(client, world, history, region, inside, outside):
    client.force_login(world.team_lead)

    response = htmx(client, project_url(), region)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<section id="{region}"')
    assert f'id="{inside}"' in html
    assert f'id="{outside}"' not in html
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_full_page_also_varies_on_hx_request(client, world, history):
    client.force_login(world.viewer)

    response = client.get(project_url())

    assert "HX-Request" in response["Vary"]
    assert "<html" in response.content.decode()


def test_htmx_request_for_an_unknown_target_gets_the_whole_page(client, world, history):
    client.force_login(world.viewer)

    response = htmx(client, project_url(), "no-such-region")

    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_sprint_switch_through_htmx_returns_that_sprints_burndown(client, world, history):
    client.force_login(world.pmo_leader)

    response = htmx(client, project_url(sprint=str(history[2].pk)), "burndown-chart")

    html = response.content.decode()
    assert "Burndown: PAY Sprint 3" in html
    assert f'<option value="{history[2].pk}" selected>' in html
    assert 'hx-push-url="true"' in html


def test_period_filter_through_htmx_swaps_the_flow_charts(client, world, history):
    client.force_login(world.pmo_leader)

    response = htmx(client, project_url(period="30"), "flow-charts")

    html = response.content.decode()
    assert "Cycle time, last 30 days" in html
    assert "Throughput, last 30 days" in html
    assert '<option value="30" selected>' in html


def test_how_many_form_through_htmx_answers_for_the_chosen_date(client, world, history):
    client.force_login(world.pmo_leader)

    response = htmx(client, project_url(until="2026-04-30"), "forecast-chart")

    html = response.content.decode()
    forecast = response.context["forecast"]
    assert forecast.until == dt.date(2026, 4, 30)
    assert forecast.how_many.available
    assert "30 Apr 2026" in html
    assert f"<strong>{forecast.how_many.p85}</strong> (85% sure)" in html


# --- Filters are validated: bad values are ignored or explained, never a 500 -------------------


@pytest.mark.parametrize(
    "sprint", ["abc", "-1", "0", "99999999", "9" * 5000, "1.5", "", "²", "٣", " 1"]
)
def test_bad_sprint_values_fall_back_to_the_current_sprint(client, world, history, sprint):
    client.force_login(world.pmo_leader)

    response = client.get(project_url(sprint=sprint))

    assert response.status_code == 200
    assert response.context["burndown"].sprint == history[-1]


def test_a_sprint_of_another_project_is_not_shown(client, world, history):
    foreign_sprint = SprintFactory(project=world.sibling_project, name="Secret sprint")
    client.force_login(world.team_lead)

    response = client.get(project_url(sprint=str(foreign_sprint.pk)))

    assert response.status_code == 200
    assert "Secret sprint" not in response.content.decode()
    assert response.context["burndown"].sprint == history[-1]
    assert "showing the current sprint instead" in response.content.decode()


@pytest.mark.parametrize("period", ["7", "abc", "-30", "90.0", "1" * 5000, "³0", "٣0"])
def test_bad_periods_fall_back_to_ninety_days(client, world, history, period):
    client.force_login(world.pmo_leader)

    response = client.get(project_url(period=period))

    assert response.status_code == 200
    assert response.context["filters"].period == 90
    assert "Cycle time, last 90 days" in response.content.decode()


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("not-a-date", "Enter a date as YYYY-MM-DD."),
        ("2026-02-30", "Enter a date as YYYY-MM-DD."),
        ("2026-03-20", "Choose a date after today (2026-03-20)."),
        ("2020-01-01", "Choose a date after today (2026-03-20)."),
        ("2099-01-01", "Choose a date before 2036-03-17 (ten years)."),
    ],
)
def test_bad_forecast_dates_are_explained_next_to_the_field(client, world, history, until, message):
    client.force_login(world.pmo_leader)

    response = htmx(client, project_url(until=until), "forecast-chart")

    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert 'aria-invalid="true"' in html
    assert response.context["forecast"].until == dt.date(2026, 12, 31)  # the target date


@pytest.mark.parametrize("chart", CSV_CHARTS)
def test_downloads_with_bad_parameters_still_answer(client, world, history, chart):
    client.force_login(world.pmo_leader)

    response = client.get(csv_url(chart) + "?sprint=x&period=y&until=z")

    assert response.status_code == 200


# --- Empty states ---------------------------------------------------------------------------------


def test_empty_project_explains_why_each_chart_is_empty(client, world):
    snapshot(world.own_project)
    client.force_login(world.pmo_leader)

    response = client.get(project_url())

    assert response.status_code == 200
    html = response.content.decode()
    for reason in [
        "No sprints yet: the burndown appears once a sprint starts.",
        "No closed sprint yet: velocity is measured when a sprint closes.",
        "No item was completed from 2025-12-21 to 2026-03-20",
        "No item is in progress right now",
        "No work item existed from 2025-12-21 to 2026-03-20",
        "Payments has no open epics to rank.",
        "Cannot forecast when the open items will be done: Only 0 day(s)",
        "Cannot forecast how many items will be done by 2026-12-31: Only 0 day(s)",
    ]:
        assert reason in html, reason
    assert "data-plotly=" not in html


def test_planned_sprints_only_explain_that_none_has_started(client, world):
    snapshot(world.own_project)
    SprintFactory(project=world.own_project, state=Sprint.State.FUTURE, start=utc(2026, 4, 1))
    client.force_login(world.pmo_leader)

    response = client.get(project_url())

    assert "No sprint has started yet (1 planned)" in response.content.decode()


def test_forecast_with_less_than_ten_days_of_history_gives_the_reason(client, world):
    project = snapshot(world.own_project)
    item(project, "PAY-1", created=utc(2026, 3, 15)).start(utc(2026, 3, 16)).done(utc(2026, 3, 17))
    item(project, "PAY-2", created=utc(2026, 3, 15))
    client.force_login(world.pmo_leader)

    response = client.get(project_url())

    html = response.content.decode()
    assert "Cannot forecast when the open items will be done: Only 5 day(s) of throughput" in html
    assert "a forecast needs at least 10" in html
    assert response.context["forecast"].chart.figure_json is None


def test_done_project_says_there_is_nothing_left_to_forecast(client, world):
    project = snapshot(world.own_project)
    for number in range(3):
        item(project, f"PAY-{number}", created=utc(2026, 1, 2)).start(utc(2026, 1, 5)).done(
            utc(2026, 2, 1 + number)
        )
    client.force_login(world.pmo_leader)

    response = client.get(project_url())

    assert "everything in this project is done" in response.content.decode()


def test_empty_chart_still_offers_its_csv_with_the_header(client, world):
    snapshot(world.own_project)
    client.force_login(world.pmo_leader)

    response = client.get(csv_url("velocity"))

    assert csv_rows(response) == [
        [
            "Sprint",
            "State",
            "Start",
            "Close",
            "Committed",
            "Completed",
            "Say/do",
            "Rolling velocity",
            "Added",
            "Removed",
        ]
    ]


# --- Constant number of queries --------------------------------------------------------------


def _count(client, url: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    return len(queries)


def _grow(world, size: int, offset: int) -> None:
    """More sprints and items on PAY (as a second, later team), more projects and epics."""
    for number in range(size):
        project = ProjectFactory(portfolio=world.own, key=f"GROW{offset + number}")
        snapshot(project)
        build_history(project, sprints=2, items_per_sprint=2)
        EpicFactory(portfolio=world.own, project=project)
    for position in range(size * 4):
        history = item(
            world.own_project,
            f"PAY-EXTRA-{offset}-{position}",
            created=utc(2026, 2, 1),
        ).start(utc(2026, 2, 2, position % 24))
        if position % 2:
            history.done(utc(2026, 3, 1 + position % 18))


REQUESTS = {
    "page": ({}, ""),
    "burndown-region": ({"HX-Request": "true", "HX-Target": "burndown-chart"}, ""),
    "flow-region": ({"HX-Request": "true", "HX-Target": "flow-charts"}, "?period=180"),
    "forecast-region": (
        {"HX-Request": "true", "HX-Target": "forecast-chart"},
        "?until=2026-05-01",
    ),
}


@pytest.mark.parametrize("request_name", REQUESTS)
@pytest.mark.parametrize("role", ["pmo_leader", "team_lead"])
def test_dashboard_runs_the_same_number_of_queries_as_the_history_grows(
    client, world, django_assert_num_queries, role, request_name
):
    headers, query = REQUESTS[request_name]
    snapshot(world.own_project)
    build_history(world.own_project, sprints=2, items_per_sprint=2)
    client.force_login(world.user(role))
    url = project_url() + query
    client.get(url, headers=headers)  # warm the per-process caches (content types)
    small = _count(client, url, **headers)

    build_history(world.sibling_project, sprints=3, items_per_sprint=4)
    _grow(world, size=6, offset=0)
    for number in range(3, 9):
        SprintFactory(
            project=world.own_project,
            name=f"Later {number}",
            start=FIRST_SPRINT + dt.timedelta(days=14 * number),
            state=Sprint.State.FUTURE,
        )

    with django_assert_num_queries(small):
        response = client.get(url, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("chart", CSV_CHARTS)
def test_download_runs_the_same_number_of_queries_as_the_history_grows(
    client, world, django_assert_num_queries, chart
):
    snapshot(world.own_project)
    build_history(world.own_project, sprints=2, items_per_sprint=2)
    client.force_login(world.pmo_leader)
    url = csv_url(chart)
    client.get(url)
    small = _count(client, url)

    _grow(world, size=5, offset=100)

    with django_assert_num_queries(small):
        assert client.get(url).status_code == 200


# --- Portfolio dashboard -----------------------------------------------------------------------


@pytest.fixture
def portfolio_history(world, history) -> None:
    """PAY as in `history` (target 31 Dec 2026: on time); CARD with a short history, open
    work and a target date next week, so its 85% forecast is late and its health red."""
    build_history(world.sibling_project, sprints=4, items_per_sprint=5)
    for number in range(8):
        item(world.sibling_project, f"CARD-OPEN-{number}", created=utc(2026, 3, 1))
    world.sibling_project.target_date = dt.date(2026, 3, 27)
    world.sibling_project.save(update_fields=["target_date"])


def portfolio_url(slug: str = "payments", **params: str) -> str:
    url = reverse("portfolio:portfolio-detail", args=[slug])
    if params:
        url += "?" + "&".join(f"{name}={value}" for name, value in params.items())
    return url


def shown_keys(response) -> list[str]:
    return [line.row.key for line in response.context["board"].lines]


@pytest.mark.parametrize(
    ("role", "keys"),
    [
        ("viewer", ["CARD", "PAY"]),
        ("pmo_leader", ["CARD", "PAY"]),
        ("executive", ["CARD", "PAY"]),
        ("admin", ["CARD", "PAY"]),
        ("team_lead", ["PAY"]),
    ],
)
def test_portfolio_dashboard_has_one_row_per_visible_project(
    client, world, portfolio_history, role, keys
):
    client.force_login(world.user(role))

    response = client.get(portfolio_url())

    assert response.status_code == 200
    assert shown_keys(response) == keys
    html = response.content.decode()
    for key in keys:
        assert f'href="{project_url(key)}"' in html
    if role == "team_lead":
        assert project_url("CARD") not in html
        assert "Cards" not in html


def test_outsider_gets_not_found_on_the_portfolio_dashboard_and_its_download(
    client, world, portfolio_history
):
    client.force_login(world.outsider)

    assert client.get(portfolio_url()).status_code == 404
    assert htmx(client, portfolio_url(), "projects-table").status_code == 404
    response = client.get(reverse("metrics:portfolio-csv", args=["payments"]))
    assert response.status_code == 404
    assert b"Cards" not in response.content


def test_health_badge_shows_its_status_and_reasons(client, world, portfolio_history):
    client.force_login(world.pmo_leader)

    response = client.get(portfolio_url())

    card = next(line for line in response.context["board"].lines if line.row.key == "CARD")
    assert card.row.health.status == "red"
    assert card.late
    html = response.content.decode()
    assert '<span class="badge badge-red" title="' in html
    assert ">Red</span>" in html
    reason = next(sentence for sentence in card.reasons if "after the target date" in sentence)
    assert f"<li>{reason}</li>" in html
    assert '<time datetime="' in html
    assert 'class="late"' in html
    assert "day late" in html or "days late" in html


def test_portfolio_row_forecast_equals_the_project_dashboard_forecast(
    client, world, portfolio_history
):
    client.force_login(world.pmo_leader)

    board = client.get(portfolio_url()).context["board"]
    page = client.get(project_url("CARD"))

    row = next(line.row for line in board.lines if line.row.key == "CARD")
    table = html_tables(page.content.decode())["forecast"]
    when_85 = next(cells for cells in table if cells[1] == "85%" and cells[0].startswith("When"))
    assert when_85[2] == row.forecast.p85_date.isoformat()
    assert int(when_85[4]) == row.open_items


def test_portfolio_totals_cover_every_visible_project(client, world, portfolio_history):
    client.force_login(world.pmo_leader)

    response = client.get(portfolio_url(q="PAY"))

    totals = response.context["board"].dashboard.totals
    assert totals.projects == 2
    assert shown_keys(response) == ["PAY"]
    assert totals.health.red == 1
    html = response.content.decode()
    assert "1 of 2 projects match the filter" in html
    assert "Shown: 1 project" in html


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"sort": "key", "dir": "asc"}, ["CARD", "PAY"]),
        ({"sort": "key", "dir": "desc"}, ["PAY", "CARD"]),
        ({"sort": "health", "dir": "desc"}, ["CARD", "PAY"]),
        ({"sort": "health", "dir": "asc"}, ["PAY", "CARD"]),
        ({"sort": "risks", "dir": "desc"}, ["CARD", "PAY"]),
        ({"sort": "forecast", "dir": "desc"}, ["CARD", "PAY"]),
    ],
)
def test_portfolio_table_sorts_by_the_chosen_column(client, world, portfolio_history, params, keys):
    client.force_login(world.pmo_leader)
    forecasts = {
        line.row.key: line.row.forecast.p85_date
        for line in client.get(portfolio_url()).context["board"].lines
    }

    response = client.get(portfolio_url(**params))

    if params["sort"] == "forecast":
        keys = sorted(forecasts, key=lambda key: forecasts[key], reverse=True)
    assert shown_keys(response) == keys
    column = response.context["board"].columns[params["sort"]]
    direction = "descending" if params["dir"] == "desc" else "ascending"
    assert f'aria-sort="{direction}"' in response.content.decode()
    assert column.current


def test_sorting_a_sorted_column_again_flips_its_direction(client, world, portfolio_history):
    client.force_login(world.pmo_leader)

    response = client.get(portfolio_url(sort="health", dir="asc", health="red"))

    columns = response.context["board"].columns
    assert columns["health"].query == "?sort=health&dir=desc&health=red"
    assert columns["key"].query == "?sort=key&dir=asc&health=red"


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "drop table", "dir": "sideways"},
        {"sort": "__class__", "dir": "desc"},
        {"health": "purple"},
        {"q": "%00%27;--"},
        {"q": "x" * 500},
        {"sort": "", "dir": "", "health": "", "q": ""},
    ],
)
def test_bad_sort_and_filter_values_are_ignored(client, world, portfolio_history, params):
    client.force_login(world.pmo_leader)

    response = client.get(portfolio_url(**params))
    csv_response = client.get(
        reverse("metrics:portfolio-csv", args=["payments"])
        + "?"
        + "&".join(f"{name}={value}" for name, value in params.items())
    )

    assert response.status_code == 200
    assert csv_response.status_code == 200
    filters = response.context["board"].filters
    assert filters.sort in dashboards.PORTFOLIO_SORTS
    assert filters.direction in ("asc", "desc")
    assert filters.health in ("", *dashboards.HEALTH_STATUSES)
    assert len(filters.search) <= dashboards.SEARCH_MAX_LENGTH


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"health": "red"}, ["CARD"]),
        ({"health": "grey"}, []),
        ({"q": "card"}, ["CARD"]),
        ({"q": "payments"}, ["PAY"]),
        ({"q": "  pa  "}, ["PAY"]),
        ({"q": "nothing-like-it"}, []),
    ],
)
def test_portfolio_table_filters_by_health_and_text(client, world, portfolio_history, params, keys):
    client.force_login(world.pmo_leader)

    response = client.get(portfolio_url(**params))

    assert shown_keys(response) == keys
    if not keys:
        assert "No project matches the filter." in response.content.decode()


def test_htmx_sort_request_gets_only_the_projects_table(client, world, portfolio_history):
    client.force_login(world.pmo_leader)

    response = htmx(client, portfolio_url(sort="key", dir="desc"), "projects-table")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="projects-table"')
    assert "Epics by rank" not in html
    assert "<html" not in html
    assert html.index('data-project="PAY"') < html.index('data-project="CARD"')
    assert "HX-Request" in response["Vary"]
    assert 'name="sort" value="key" form="project-filters"' in html


def test_portfolio_csv_has_the_rows_of_the_table_in_its_order(client, world, portfolio_history):
    client.force_login(world.pmo_leader)
    page = client.get(portfolio_url(sort="health", dir="desc"))

    response = client.get(page.context["board"].csv_url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = csv_rows(response)
    assert header[:3] == ["Project", "Name", "Health"]
    assert [row[0] for row in rows] == ["CARD", "PAY"]
    assert rows == [list(row.cells) for row in page.context["board"].table.rows]
    card = rows[0]
    assert card[2] == "red"
    assert "after the target date" in card[3]


def test_team_lead_downloads_only_their_project(client, world, portfolio_history):
    client.force_login(world.team_lead)

    response = client.get(reverse("metrics:portfolio-csv", args=["payments"]))

    assert [row[0] for row in csv_rows(response)[1:]] == ["PAY"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"HX-Request": "true", "HX-Target": "projects-table"}],
    ids=["page", "table-region"],
)
@pytest.mark.parametrize("role", ["pmo_leader", "team_lead"])
def test_portfolio_dashboard_runs_the_same_number_of_queries_as_the_portfolio_grows(
    client, world, django_assert_num_queries, role, headers
):
    snapshot(world.own_project)
    build_history(world.own_project, sprints=2, items_per_sprint=2)
    client.force_login(world.user(role))
    url = portfolio_url(sort="health", dir="desc")
    client.get(url, headers=headers)
    small = _count(client, url, **headers)

    _grow(world, size=8, offset=200)

    with django_assert_num_queries(small):
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    expected = 1 if role == "team_lead" else 10
    assert response.content.decode().count("<tr data-project=") == expected
