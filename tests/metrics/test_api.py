"""The flow-metrics REST API: who gets what on every endpoint, the same numbers as the
selectors, 400s naming the bad parameter, and a constant number of queries.

Every project of the `history` fixture is an imported snapshot taken at NOW (data_as_of), so
the answers, whose defaults depend on "now", are the same whatever day the tests run.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from metrics import selectors
from metrics.forecasting import DEFAULT_SEED
from metrics.rounding import round_half_up
from portfolio.models import Project, Sprint
from tests.conftest import ROLES
from tests.factories import EpicFactory, ProjectFactory, SprintFactory
from tests.metrics.builders import (
    DAY,
    NOW,
    TODAY,
    closed_sprint,
    midnight,
    open_items,
    steady_throughput,
)
from tests.metrics.history import item, utc
from tests.test_permission_matrix import ANONYMOUS_API

pytestmark = pytest.mark.django_db

ANON = ANONYMOUS_API

PROJECT_ROUTES = [
    "project-sprints",
    "project-cycle-time",
    "project-throughput",
    "project-cfd",
    "project-aging-wip",
    "project-forecast",
]
SPRINT_ROUTES = ["sprint-burndown"]
PORTFOLIO_ROUTES = ["portfolio-summary", "portfolio-epics"]
KEYS = {"own": "PAY", "sibling": "CARD", "foreign": "SHIP"}
SLUGS = {"own": "payments", "foreign": "logistics"}


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def signed_in(api: APIClient, user) -> APIClient:
    """A session login (not force_authenticate), so the queries it costs are counted."""
    if user is not None:
        api.force_login(user)
    return api


def snapshot_at_now(project: Project) -> None:
    project.data_as_of = NOW
    project.save()


@pytest.fixture
def history(world) -> SimpleNamespace:
    """PAY: 20 days of steady throughput, 10 open items, two items with a cycle time, one in
    progress, a closed sprint (say/do 0.6) and an active one with added scope, target date
    29 March (red). CARD and SHIP: a closed sprint each. Epics in both portfolios."""
    pay, card, ship = world.own_project, world.sibling_project, world.foreign_project
    for project in (pay, card, ship):
        snapshot_at_now(project)
    steady_throughput(pay, days=20)
    open_items(pay, 10, created=midnight(TODAY - 20 * DAY))
    item(pay, "PAY-C1", created=utc(2026, 3, 1)).start(utc(2026, 3, 2)).done(utc(2026, 3, 5, 18))
    item(pay, "PAY-C2", created=utc(2026, 3, 3)).start(utc(2026, 3, 4)).done(utc(2026, 3, 12, 6))
    item(pay, "PAY-W1", created=utc(2026, 3, 1)).start(utc(2026, 3, 10, 9))
    closed = closed_sprint(pay, "S1", start=utc(2026, 2, 2, 9), committed=10, completed=6)
    active = SprintFactory(
        project=pay, name="S2", start=utc(2026, 3, 16), state=Sprint.State.ACTIVE
    )
    item(pay, "PAY-A1", created=utc(2026, 3, 14), points=5).join(active, utc(2026, 3, 15)).start(
        utc(2026, 3, 16, 9)
    ).done(utc(2026, 3, 17, 15))
    item(pay, "PAY-A2", created=utc(2026, 3, 14), points=8).join(active, utc(2026, 3, 15))
    item(pay, "PAY-A3", created=utc(2026, 3, 14), points=3).join(active, utc(2026, 3, 18, 10))
    pay.target_date = dt.date(2026, 3, 29)
    pay.save()
    card_sprint = closed_sprint(card, "C1", start=utc(2026, 2, 2, 9), committed=5, completed=5)
    ship_sprint = closed_sprint(ship, "X1", start=utc(2026, 2, 2, 9), committed=8, completed=3)
    for number, values in enumerate([(8, 5, 3, 5), (20, 13, 8, 3), (3, 2, 1, 8)]):
        EpicFactory(
            portfolio=world.own,
            key=f"PAY-E{number}",
            business_value=values[0],
            time_criticality=values[1],
            risk_reduction=values[2],
            job_size=values[3],
            project=pay if number else None,
        )
    EpicFactory(portfolio=world.foreign, key="SHIP-E1")
    return SimpleNamespace(
        closed=closed,
        active=active,
        sprints={"own": active, "sibling": card_sprint, "foreign": ship_sprint},
    )


def url_of(route: str, target: str, history: SimpleNamespace) -> str:
    if route in SPRINT_ROUTES:
        return reverse(route, args=[history.sprints[target].pk])
    if route in PORTFOLIO_ROUTES:
        return reverse(route, args=[SLUGS[target]])
    return reverse(route, args=[KEYS[target]])


def r2(value: Any) -> float | None:
    return None if value is None else round_half_up(value, 2)


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --- Who gets what: role x endpoint ----------------------------------------------------------
# Columns follow ROLES: anonymous, viewer, team_lead, pmo_leader, executive, outsider.

# fmt: off
#                               anon  view lead pmo  exec outsider
PROJECT_ACCESS = {
    "own":                     (ANON, 200, 200, 200, 200, 404),
    "sibling":                 (ANON, 200, 404, 200, 200, 404),
    "foreign":                 (ANON, 404, 404, 404, 404, 200),
}
PORTFOLIO_ACCESS = {
    "own":                     (ANON, 200, 200, 200, 200, 404),
    "foreign":                 (ANON, 404, 404, 404, 404, 200),
}
# fmt: on


def _access_cases() -> list:
    cases = []
    for route in PROJECT_ROUTES + SPRINT_ROUTES + PORTFOLIO_ROUTES:
        table = PORTFOLIO_ACCESS if route in PORTFOLIO_ROUTES else PROJECT_ACCESS
        for target, statuses in table.items():
            for role, expected in zip(ROLES, statuses, strict=True):
                cases.append(
                    pytest.param(route, target, role, expected, id=f"{route}-{target}-{role}")
                )
    return cases


@pytest.mark.parametrize(("route", "target", "role", "expected"), _access_cases())
def test_access_matrix(world, history, api, route, target, role, expected):
    response = signed_in(api, world.user(role)).get(url_of(route, target, history))

    assert response.status_code == expected
    if expected == 404:
        hidden = {"own": world.own_project, "sibling": world.sibling_project}.get(
            target, world.foreign_project
        )
        body = response.content.decode()
        assert hidden.name not in body
        assert set(response.json()) == {"detail"}


def test_anonymous_callers_are_refused_without_data(world, history, api):
    for route in PROJECT_ROUTES:
        response = api.get(url_of(route, "own", history))

        assert response.status_code == ANONYMOUS_API
        assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize(
    ("route", "missing"),
    [
        ("project-cycle-time", "NOPE"),
        ("project-forecast", "NOPE"),
        ("sprint-burndown", "999999999"),
        ("portfolio-summary", "no-such-portfolio"),
    ],
)
def test_an_invisible_object_answers_exactly_like_a_missing_one(
    world, history, api, route, missing
):
    client = signed_in(api, world.viewer)

    invisible = client.get(url_of(route, "foreign", history))
    absent = client.get(reverse(route, args=[missing]))

    assert invisible.status_code == absent.status_code == 404
    assert invisible.json() == absent.json()


@pytest.mark.parametrize(
    "url",
    [
        "/api/projects/not-a-key/cycle-time/",
        "/api/projects/TOOLONGAKEY12345/forecast/",
        "/api/sprints/abc/burndown/",
        "/api/sprints/-1/burndown/",
        "/api/sprints/99999999999999999999999/burndown/",
        "/api/sprints/\u00b2/burndown/",
    ],
)
def test_malformed_keys_and_ids_are_a_json_404(world, history, api, url):
    response = signed_in(api, world.viewer).get(url)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_team_lead_summary_shows_only_their_project(world, history, api):
    response = signed_in(api, world.team_lead).get(reverse("portfolio-summary", args=["payments"]))

    assert [row["key"] for row in response.json()["projects"]] == ["PAY"]
    assert response.json()["totals"]["projects"] == 1


def test_the_metrics_api_is_read_only(world, history, api):
    client = signed_in(api, world.pmo_leader)
    for route in PROJECT_ROUTES + SPRINT_ROUTES + PORTFOLIO_ROUTES:
        assert client.post(url_of(route, "own", history), {}).status_code == 405


# --- The same numbers as the selectors -------------------------------------------------------


def test_sprint_report_has_the_selector_figures(world, history, api):
    response = signed_in(api, world.viewer).get(reverse("project-sprints", args=["pay"]))

    assert response.status_code == 200
    body = response.json()
    figures = selectors.sprint_summaries(user=world.viewer, project=world.own_project)
    assert (body["project"], body["rolling_window"]) == ("PAY", 3)
    assert [row["id"] for row in body["sprints"]] == [f.sprint_id for f in figures]
    for row, sprint in zip(body["sprints"], figures, strict=True):
        assert row["name"] == sprint.name
        assert row["state"] == sprint.state
        assert instant(row["start"]) == sprint.start
        assert instant(row["end"]) == sprint.end
        assert instant(row["close"]) == sprint.close
        for field in ("committed", "completed", "added", "removed"):
            assert row[f"{field}_points"] == r2(getattr(sprint, f"{field}_points"))
            assert row[f"{field}_items"] == getattr(sprint, f"{field}_items")
        assert row["say_do"] == (None if sprint.say_do is None else round_half_up(sprint.say_do, 3))
        assert row["rolling_velocity"] == r2(sprint.rolling_velocity)
    closed, active = body["sprints"]
    assert (closed["say_do"], closed["committed_points"], closed["completed_points"]) == (
        0.6,
        10.0,
        6.0,
    )
    assert (active["state"], active["added_points"], active["rolling_velocity"]) == (
        "active",
        3.0,
        None,
    )


def test_burndown_has_the_selector_figures(world, history, api):
    response = signed_in(api, world.team_lead).get(
        reverse("sprint-burndown", args=[history.active.pk])
    )

    assert response.status_code == 200
    body = response.json()
    burndown = selectors.sprint_burndown(user=world.team_lead, sprint=history.active)
    assert (body["id"], body["name"], body["project"], body["state"]) == (
        history.active.pk,
        "S2",
        "PAY",
        "active",
    )
    assert body["committed_points"] == 13.0
    assert instant(body["close"]) == burndown.close
    assert [day["date"] for day in body["days"]] == [d.day.isoformat() for d in burndown.days]
    for row, day in zip(body["days"], burndown.days, strict=True):
        assert row["remaining"] == r2(day.remaining)
        assert row["ideal"] == r2(day.ideal)
        assert (row["added"], row["removed"], row["reestimated"]) == (
            r2(day.added),
            r2(day.removed),
            r2(day.reestimated),
        )
    assert body["days"][2] == {
        "date": "2026-03-18",
        "remaining": 11.0,
        "ideal": r2(13 * 11 / 14),
        "added": 3.0,
        "removed": 0.0,
        "reestimated": 0.0,
    }


def test_cycle_time_defaults_to_the_last_90_days_and_has_the_selector_figures(world, history, api):
    response = signed_in(api, world.viewer).get(reverse("project-cycle-time", args=["PAY"]))

    body = response.json()
    # the 90 local days up to and including the project's today (20 March)
    assert (body["start"], body["end"]) == ("2025-12-21", "2026-03-21")
    report = selectors.cycle_times(
        user=world.viewer,
        project=world.own_project,
        start=dt.date(2025, 12, 21),
        end=dt.date(2026, 3, 21),
    )
    assert body["count"] == report.count == len(body["items"])
    for name in ("p50", "p85", "p95", "lead_p50", "lead_p85", "lead_p95"):
        assert body[name] == r2(getattr(report, name))
    for row, expected in zip(body["items"], report.items, strict=True):
        assert row["key"] == expected.key
        assert instant(row["start"]) == expected.started_at
        assert instant(row["done"]) == expected.done_at
        assert (row["cycle_days"], row["lead_days"]) == (
            r2(expected.cycle_days),
            r2(expected.lead_days),
        )
    c1 = next(row for row in body["items"] if row["key"] == "PAY-C1")
    assert (c1["cycle_days"], c1["lead_days"]) == (3.75, 4.75)


def test_cycle_time_of_an_explicit_period(world, history, api):
    response = signed_in(api, world.viewer).get(
        reverse("project-cycle-time", args=["PAY"]), {"start": "2026-03-05", "end": "2026-03-06"}
    )

    body = response.json()
    assert (body["start"], body["end"], body["count"]) == ("2026-03-05", "2026-03-06", 2)
    assert sorted(row["key"] for row in body["items"]) == ["PAY-C1", "PAY-D5x0"]


def test_throughput_defaults_to_the_last_12_complete_weeks_as_on_the_dashboard(world, history, api):
    client = signed_in(api, world.viewer)

    body = client.get(reverse("project-throughput", args=["PAY"])).json()
    summary = client.get(reverse("portfolio-summary", args=["payments"])).json()

    # weeks of Mon 22 Dec to Mon 9 Mar; the week of 16 March (today's) is left out
    assert (body["start"], body["end"]) == ("2025-12-22", "2026-03-16")
    weeks = selectors.throughput(
        user=world.viewer,
        project=world.own_project,
        start=dt.date(2025, 12, 22),
        end=dt.date(2026, 3, 16),
    )
    assert body["weeks"] == [
        {"week_start": w.week_start.isoformat(), "count": w.count} for w in weeks
    ]
    assert body["total"] == sum(w.count for w in weeks)
    pay_row = next(row for row in summary["projects"] if row["key"] == "PAY")
    assert pay_row["throughput"] == body["weeks"][-8:]


def test_cumulative_flow_defaults_to_the_last_30_days(world, history, api):
    body = signed_in(api, world.viewer).get(reverse("project-cfd", args=["PAY"])).json()

    assert (body["start"], body["end"]) == ("2026-02-19", "2026-03-21")
    days = selectors.cumulative_flow(
        user=world.viewer,
        project=world.own_project,
        start=dt.date(2026, 2, 19),
        end=dt.date(2026, 3, 21),
    )
    assert body["days"] == [
        {
            "date": d.day.isoformat(),
            "todo": d.todo,
            "in_progress": d.in_progress,
            "done": d.done,
        }
        for d in days
    ]
    assert len(body["days"]) == 30


def test_aging_wip_has_the_selector_figures_at_the_projects_metrics_now(world, history, api):
    body = signed_in(api, world.viewer).get(reverse("project-aging-wip", args=["PAY"])).json()

    aging = selectors.wip_aging(user=world.viewer, project=world.own_project)
    assert instant(body["now"]) == NOW == aging.now
    assert body["count"] == aging.count == 1
    assert body["items"] == [
        {
            "key": "PAY-W1",
            "title": "PAY-W1",
            "status": "In Progress",
            "started": "2026-03-10T09:00:00Z",
            "age_days": 10.13,
            "story_points": 3.0,
        }
    ]
    assert body["reference"]["items"] == aging.reference_items
    assert body["reference"]["p85"] == r2(aging.cycle_p85)
    assert instant(body["reference"]["start"]) == NOW - 90 * DAY


def test_forecast_without_parameters_is_when_the_open_items_are_done(world, history, api):
    body = signed_in(api, world.viewer).get(reverse("project-forecast", args=["PAY"])).json()

    forecast = selectors.forecast_when(user=world.viewer, project=world.own_project)
    assert body["kind"] == "when"
    assert body["available"] is True
    # 10 open, PAY-W1 in progress, the item S1 left, PAY-A2 and PAY-A3
    assert body["remaining"] == forecast.remaining == 14
    assert (body["p50"], body["p85"], body["p95"]) == (
        forecast.p50_date.isoformat(),
        forecast.p85_date.isoformat(),
        forecast.p95_date.isoformat(),
    )
    assert (body["p50_days"], body["p85_days"], body["p95_days"]) == (
        forecast.p50_days,
        forecast.p85_days,
        forecast.p95_days,
    )
    assert (body["trials"], body["seed"], body["today"]) == (10_000, DEFAULT_SEED, "2026-03-20")
    assert body["history"] == {
        "start": forecast.history_start.isoformat(),
        "end": "2026-03-20",
        "days": forecast.history_days,
        "completed": forecast.history_completed,
    }


def test_forecast_when_for_a_number_of_items_with_a_seed(world, history, api):
    body = (
        signed_in(api, world.viewer)
        .get(reverse("project-forecast", args=["PAY"]), {"remaining": 30, "seed": 7})
        .json()
    )

    forecast = selectors.forecast_when(
        user=world.viewer, project=world.own_project, remaining=30, seed=7
    )
    assert (body["kind"], body["remaining"], body["seed"]) == ("when", 30, 7)
    assert body["p85"] == forecast.p85_date.isoformat()


def test_forecast_how_many_by_a_date(world, history, api):
    body = (
        signed_in(api, world.viewer)
        .get(reverse("project-forecast", args=["PAY"]), {"date": "2026-04-30"})
        .json()
    )

    forecast = selectors.forecast_how_many(
        user=world.viewer, project=world.own_project, until=dt.date(2026, 4, 30)
    )
    assert (body["kind"], body["date"], body["days"]) == ("how_many", "2026-04-30", 41)
    assert (body["p50"], body["p85"], body["p95"]) == (forecast.p50, forecast.p85, forecast.p95)
    assert body["p50"] >= body["p85"] >= body["p95"]


def test_forecast_without_enough_history_is_not_available_with_the_reason(world, history, api):
    # given: a project whose first item was created five days ago
    fresh = ProjectFactory(portfolio=world.own, key="NEW", data_as_of=NOW)
    open_items(fresh, 3, created=NOW - 5 * DAY)

    body = signed_in(api, world.viewer).get(reverse("project-forecast", args=["NEW"])).json()

    assert body["available"] is False
    assert body["reason"].startswith("Only ")
    assert (body["p50"], body["p85"], body["p95"]) == (None, None, None)


def test_portfolio_summary_has_the_dashboard_figures(world, history, api):
    body = (
        signed_in(api, world.pmo_leader).get(reverse("portfolio-summary", args=["payments"])).json()
    )

    dashboard = selectors.portfolio_dashboard(user=world.pmo_leader, portfolio=world.own)
    assert body["portfolio"] == "payments"
    assert [row["key"] for row in body["projects"]] == ["CARD", "PAY"]
    for row, expected in zip(body["projects"], dashboard.rows, strict=True):
        assert instant(row["as_of"]) == expected.as_of == NOW
        assert row["health"]["status"] == expected.health.status
        assert row["health"]["reasons"] == [
            {"rule": r.rule, "verdict": r.verdict, "status": r.status, "sentence": r.sentence}
            for r in expected.health.reasons
        ]
        assert row["velocity"] == [
            {"sprint": s.name, "points": r2(s.completed_points)} for s in expected.closed_sprints
        ]
        assert row["last_say_do"] == expected.last_say_do
        assert row["cycle_time_p85"] == r2(expected.cycle_time_p85)
        assert row["forecast"]["p85"] == (
            expected.forecast.p85_date and expected.forecast.p85_date.isoformat()
        )
        assert (row["open_items"], row["open_points"], row["wip"]) == (
            expected.open_items,
            r2(expected.open_points),
            expected.wip,
        )
        assert row["risk_count"] == expected.risk_count == len(row["risks"])
        assert [risk["code"] for risk in row["risks"]] == [r.code for r in expected.risks]
        for risk, signal in zip(row["risks"], expected.risks, strict=True):
            assert risk["sentence"] == signal.sentence
            assert risk["evidence"] == {
                "sprint_id": signal.evidence.sprint_id,
                "item_keys": list(signal.evidence.item_keys),
                "figures": signal.evidence.figures,
            }
    pay = body["projects"][1]
    assert pay["health"]["status"] == "red"
    assert pay["target_date"] == "2026-03-29"
    assert {"FORECAST_AFTER_TARGET", "SAY_DO_LOW", "SCOPE_GROWTH"} <= {
        risk["code"] for risk in pay["risks"]
    }
    assert body["totals"] == {
        "projects": 2,
        "open_items": dashboard.totals.open_items,
        "open_points": r2(dashboard.totals.open_points),
        "throughput": dashboard.totals.throughput,
        "throughput_weeks": 8,
        "risks": dashboard.totals.risks,
        "health": {"green": 1, "amber": 0, "red": 1, "grey": 0},
    }


def test_epic_ranking_has_the_wsjf_figures(world, history, api):
    body = signed_in(api, world.executive).get(reverse("portfolio-epics", args=["payments"])).json()

    ranking = selectors.epic_ranking(user=world.executive, portfolio=world.own)
    assert body["portfolio"] == "payments"
    assert [epic["key"] for epic in body["epics"]] == [rank.key for rank in ranking]
    assert body["epics"][0] == {
        "key": "PAY-E1",
        "title": body["epics"][0]["title"],
        "rank": 1,
        "status": "funnel",
        "project": "PAY",
        "business_value": 20,
        "time_criticality": 13,
        "risk_reduction": 8,
        "job_size": 3,
        "cost_of_delay": 41,
        "wsjf": 13.67,
    }


# --- Bad parameters: 400 naming the field, nothing computed ----------------------------------


@pytest.mark.parametrize(
    ("route", "params", "field"),
    [
        ("project-cycle-time", {"start": "notadate"}, "start"),
        ("project-cycle-time", {"end": "2026-13-01"}, "end"),
        ("project-cycle-time", {"start": "2026-03-10", "end": "2026-03-01"}, "end"),
        ("project-cycle-time", {"start": "2027-01-01"}, "start"),  # after the default end
        ("project-cycle-time", {"start": "1990-01-01", "end": "2026-01-01"}, "end"),  # too long
        ("project-throughput", {"start": "2026/03/01"}, "start"),
        ("project-throughput", {"start": "2026-03-10", "end": "2026-03-01"}, "end"),
        ("project-cfd", {"end": "yesterday"}, "end"),
        ("project-cfd", {"start": "2026-03-10", "end": "2026-03-09"}, "end"),
        ("project-cfd", {"end": "0001-01-05"}, "end"),  # the default length reaches year 0
        ("project-forecast", {"remaining": "-1"}, "remaining"),
        ("project-forecast", {"remaining": "ten"}, "remaining"),
        ("project-forecast", {"remaining": "1000001"}, "remaining"),
        ("project-forecast", {"seed": "-5"}, "seed"),
        ("project-forecast", {"date": "notadate"}, "date"),
        ("project-forecast", {"date": "2026-03-20"}, "date"),  # not after today
        ("project-forecast", {"date": "2040-01-01"}, "date"),  # beyond the horizon
        ("project-forecast", {"remaining": "5", "date": "2026-04-30"}, "non_field_errors"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_field(world, history, api, route, params, field):
    response = signed_in(api, world.viewer).get(reverse(route, args=["PAY"]), params)

    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert response.json()[field][0]


def test_a_bad_parameter_on_an_invisible_project_is_still_a_404(world, history, api):
    response = signed_in(api, world.viewer).get(
        reverse("project-cycle-time", args=["SHIP"]), {"start": "notadate"}
    )

    assert response.status_code == 404


# --- Constant number of queries --------------------------------------------------------------

# session and user, the object's lookup, then the selector: its permission check and one SQL
# query per figure (the summary: portfolio access, projects and four batched figure queries)
QUERIES = {
    **dict.fromkeys(PROJECT_ROUTES, 5),
    "sprint-burndown": 5,
    "portfolio-summary": 9,
    "portfolio-epics": 5,
}


def grow(world) -> None:
    """More history everywhere: older closed sprints on PAY, more items, and two more
    projects with histories in the portfolio."""
    pay = world.own_project
    for number in range(4):
        closed_sprint(
            pay,
            f"OLD{number}",
            start=utc(2025, 10, 6, 9) + dt.timedelta(weeks=2 * number),
            committed=12,
            completed=7,
        )
    for number in range(15):
        item(pay, f"PAY-G{number}", created=utc(2026, 1, 2)).start(utc(2026, 1, 5)).done(
            utc(2026, 1, 6) + number * DAY
        )
    for key in ("MORE", "EXTRA"):
        project = ProjectFactory(portfolio=world.own, key=key, data_as_of=NOW)
        steady_throughput(project, days=25)
        open_items(project, 4, created=utc(2026, 2, 1))
        closed_sprint(project, f"{key}1", start=utc(2026, 2, 2, 9), committed=10, completed=4)
        SprintFactory(project=project, start=utc(2026, 3, 16), state=Sprint.State.ACTIVE)
    for number in range(10):
        EpicFactory(portfolio=world.own, key=f"MORE-E{number}")


@pytest.mark.parametrize(("route", "queries"), QUERIES.items())
def test_every_endpoint_runs_a_constant_number_of_queries(
    world, history, api, django_assert_num_queries, route, queries
):
    client = signed_in(api, world.pmo_leader)
    url = url_of(route, "own", history)
    assert client.get(url).status_code == 200  # warm-up: guardian's per-process caches

    with django_assert_num_queries(queries):
        small = client.get(url)

    grow(world)
    with django_assert_num_queries(queries):
        large = client.get(url)

    assert small.status_code == large.status_code == 200
    if route == "portfolio-summary":
        assert (len(small.json()["projects"]), len(large.json()["projects"])) == (2, 4)


# --- Schema ----------------------------------------------------------------------------------


def test_every_metrics_endpoint_is_in_the_openapi_schema_without_a_warning(tmp_path):
    call_command("spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "schema.yml"))

    schema = (tmp_path / "schema.yml").read_text()
    for path in (
        "/api/projects/{key}/sprints/",
        "/api/sprints/{sprint_id}/burndown/",
        "/api/projects/{key}/cycle-time/",
        "/api/projects/{key}/throughput/",
        "/api/projects/{key}/cfd/",
        "/api/projects/{key}/aging-wip/",
        "/api/projects/{key}/forecast/",
        "/api/portfolios/{slug}/summary/",
        "/api/portfolios/{slug}/epics/",
    ):
        assert path in schema
