"""seed_demo: deterministic, consistent demo data, written once and only into an empty database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.test import override_settings

from governance.models import DecisionKind, DecisionLog, RoleAssignment
from portfolio import demo
from portfolio.demo import DEMO_ANCHOR, DEMO_SCALE, Scale, demo_plan_build, demo_seed
from portfolio.models import Epic, Portfolio, Project, Sprint, WorkItem, WorkItemEvent
from portfolio.permissions import visible_portfolios, visible_projects
from tests.factories import WorkItemFactory

TINY = Scale(name="tiny", projects=2, items=500, sprints=6, epics_per_portfolio=3)
PAYMENTS_KEYS = {"PAY", "CARD", "FRAUD", "LEDGER"}
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="class")
def seeded(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The demo scale written once per class through the management command, inside a
    transaction rolled back after the class; yields what the command printed. Each test's
    own transaction nests in it as a savepoint, so tests still cannot see each other."""
    fast_hashing = override_settings(PASSWORD_HASHERS=FAST_HASHERS)  # as conftest, per test
    with django_db_blocker.unblock(), fast_hashing, transaction.atomic():
        out = StringIO()
        call_command("seed_demo", "--anchor", str(DEMO_ANCHOR), stdout=out)
        connection.check_constraints()  # the deferred foreign keys, as a commit would
        yield out.getvalue()
        transaction.set_rollback(True)


def _fingerprint(plan: demo.DemoPlan) -> list[tuple]:
    return [
        (item.key, item.story_points, item.status, item.sprint, len(item.events))
        for item in plan.items
    ]


def _table_counts() -> dict[str, int]:
    models = (Portfolio, Project, Sprint, Epic, WorkItem, WorkItemEvent, RoleAssignment)
    counts = {model.__name__: model.objects.count() for model in models}
    counts["users"] = get_user_model().objects.count()
    counts["decisions"] = DecisionLog.objects.count()
    return counts


# --- The plan (no database) -----------------------------------------------------------------


def test_same_seed_builds_the_same_data_and_another_seed_does_not():
    first = demo_plan_build(scale=TINY, seed=7)
    again = demo_plan_build(scale=TINY, seed=7)
    other = demo_plan_build(scale=TINY, seed=8)

    assert _fingerprint(first) == _fingerprint(again)
    assert first.event_count == again.event_count
    assert [epic.rank for epic in first.epics] == [epic.rank for epic in again.epics]
    assert _fingerprint(first) != _fingerprint(other)


def test_sprints_count_back_from_the_anchor_and_nothing_happens_after_the_cutoff():
    plan = demo_plan_build()

    assert plan.cutoff == dt.datetime(2026, 11, 20, 18, tzinfo=dt.UTC)
    for sprints in plan.sprints:
        *closed, active = sprints
        assert len(closed) == 11
        assert active.state == Sprint.State.ACTIVE
        assert active.start < plan.cutoff < active.end
        assert all(sprint.state == Sprint.State.CLOSED for sprint in closed)
        assert all(a.close < b.start for a, b in zip(sprints, sprints[1:], strict=False))
    assert max(event.at for item in plan.items for event in item.events) <= plan.cutoff


def test_demo_projects_mix_time_zones_and_some_targets_are_tight():
    plan = demo_plan_build()

    assert {project.time_zone for project in plan.projects} == {
        "UTC",
        "Europe/Paris",
        "America/New_York",
    }
    assert all(2 <= len(project.key) <= 10 and project.key.isalpha() for project in plan.projects)
    late = [project for project in plan.projects if project.schedule == "late"]
    assert late
    assert all(project.target_date < plan.anchor + dt.timedelta(weeks=8) for project in late)


# --- Written through the command --------------------------------------------------------------


# Each query returns the work items whose columns disagree with their own history.
HISTORY_INVARIANTS = {
    "status and category are the last status event's": """
        SELECT w.id FROM {item} w
        LEFT JOIN LATERAL (
            SELECT to_status, to_category FROM {event} e
            WHERE e.work_item_id = w.id AND e.kind = 'status' ORDER BY e.at DESC, e.id DESC LIMIT 1
        ) last ON true
        WHERE last.to_status IS DISTINCT FROM w.status
           OR last.to_category IS DISTINCT FROM w.category
    """,
    "done_at is the last entry into done, only while done": """
        SELECT w.id FROM {item} w
        WHERE w.done_at IS DISTINCT FROM (
            CASE WHEN w.category = 'done' THEN (
                SELECT max(e.at) FROM {event} e
                WHERE e.work_item_id = w.id AND e.kind = 'status' AND e.to_category = 'done'
                  AND e.from_category IS DISTINCT FROM 'done'
            ) END)
    """,
    "started_at is the first entry into in_progress, else the done time": """
        SELECT w.id FROM {item} w
        WHERE w.started_at IS DISTINCT FROM COALESCE(
            (SELECT min(e.at) FROM {event} e WHERE e.work_item_id = w.id
               AND e.kind = 'status' AND e.to_category = 'in_progress'),
            w.done_at)
    """,
    "sprint is where the last sprint event left the item": """
        SELECT w.id FROM {item} w
        LEFT JOIN LATERAL (
            SELECT to_sprint_id FROM {event} e
            WHERE e.work_item_id = w.id AND e.kind = 'sprint' ORDER BY e.at DESC, e.id DESC LIMIT 1
        ) last ON true
        WHERE last.to_sprint_id IS DISTINCT FROM w.sprint_id
    """,
    "story points are the last points event's": """
        SELECT w.id FROM {item} w
        LEFT JOIN LATERAL (
            SELECT to_points FROM {event} e
            WHERE e.work_item_id = w.id AND e.kind = 'points' ORDER BY e.at DESC, e.id DESC LIMIT 1
        ) last ON true
        WHERE last.to_points IS DISTINCT FROM w.story_points
    """,
    "history starts with a status event at creation": """
        SELECT w.id FROM {item} w
        JOIN LATERAL (
            SELECT * FROM {event} e WHERE e.work_item_id = w.id ORDER BY e.at, e.id LIMIT 1
        ) first ON true
        WHERE first.kind <> 'status' OR first.from_status <> '' OR first.at <> w.created_at
    """,
    "every change starts from the value the previous one left": """
        SELECT work_item_id FROM (
            SELECT e.*, lag(e.to_status) OVER w AS previous_status,
                   lag(e.to_sprint_id) OVER w AS previous_sprint,
                   lag(e.to_points) OVER w AS previous_points,
                   lag(e.at) OVER (PARTITION BY e.work_item_id ORDER BY e.at, e.id) AS previous_at
            FROM {event} e
            WINDOW w AS (PARTITION BY e.work_item_id, e.kind ORDER BY e.at, e.id)
        ) chain
        WHERE previous_at >= at
           OR (kind = 'status' AND from_status IS DISTINCT FROM coalesce(previous_status, ''))
           OR (kind = 'sprint' AND from_sprint_id IS DISTINCT FROM previous_sprint)
           OR (kind = 'points' AND from_points IS DISTINCT FROM previous_points)
    """,
    "events belong to the item's project and sprints of that project": """
        SELECT w.id FROM {item} w JOIN {event} e ON e.work_item_id = w.id
        LEFT JOIN {sprint} f ON f.id = e.from_sprint_id
        LEFT JOIN {sprint} t ON t.id = e.to_sprint_id
        WHERE e.project_id <> w.project_id OR f.project_id <> w.project_id
           OR t.project_id <> w.project_id
    """,
}


def _inside(sprint_field: str) -> Q:
    """An event strictly inside the window [start, close) of its from/to sprint."""
    return Q(
        at__gt=F(f"{sprint_field}__start"),
        at__lt=Coalesce(F(f"{sprint_field}__completed_at"), F(f"{sprint_field}__end")),
    )


@pytest.mark.django_db
class TestOnTheSeededDemo:
    """Read-mostly checks that share one seeded database (seeding takes about a second)."""

    def test_demo_scale_writes_the_expected_counts(self, seeded):
        plan = demo_plan_build(scale=DEMO_SCALE)

        assert Portfolio.objects.count() == 3
        assert Project.objects.count() == 12
        assert Sprint.objects.filter(state=Sprint.State.CLOSED).count() == 12 * 11
        assert Sprint.objects.filter(state=Sprint.State.ACTIVE).count() == 12
        assert WorkItem.objects.count() == len(plan.items) == 1_800
        assert WorkItemEvent.objects.count() == plan.event_count
        assert Epic.objects.count() == 3 * DEMO_SCALE.epics_per_portfolio
        assert get_user_model().objects.count() == len(plan.users)
        assert list(WorkItem.objects.order_by("id").values_list("key", "story_points")) == [
            (item.key, item.story_points) for item in plan.items
        ]
        assert "1,800 work items" in seeded
        assert "lead-pay" in seeded

    @pytest.mark.parametrize(
        ("username", "portfolios", "projects"),
        [
            ("pmo", {"payments", "customer-experience", "operations"}, None),
            ("exec", {"payments", "customer-experience", "operations"}, None),
            ("viewer", {"payments"}, PAYMENTS_KEYS),
            ("lead-pay", {"payments"}, {"PAY"}),
            ("lead-crm", {"customer-experience"}, {"CRM"}),
        ],
    )
    def test_fixed_logins_see_what_their_role_allows(self, seeded, username, portfolios, projects):
        user = get_user_model().objects.get(username=username)

        assert user.check_password("demo")
        assert set(visible_portfolios(user).values_list("slug", flat=True)) == portfolios
        expected = (
            set(Project.objects.values_list("key", flat=True)) if projects is None else projects
        )
        assert set(visible_projects(user).values_list("key", flat=True)) == expected

    def test_admin_is_a_superuser_and_team_members_cannot_log_in(self, seeded):
        users = get_user_model().objects
        admin = users.get(username="admin")
        members = users.filter(team_memberships__role="member").distinct()

        assert admin.is_superuser
        assert admin.is_staff
        assert members.exists()
        assert not any(member.has_usable_password() for member in members)
        assert not visible_projects(members.first()).exists()

    def test_roles_are_granted_by_admin_and_audited(self, seeded):
        grants = RoleAssignment.objects.all()

        assert grants.count() == 3 + 3 + 1 + 12
        assert set(grants.values_list("granted_by__username", flat=True)) == {"admin"}
        assert DecisionLog.objects.filter(kind=DecisionKind.ROLE_CHANGE).count() == grants.count()
        assert DecisionLog.objects.filter(kind=DecisionKind.HISTORY_IMPORT).count() == 3

    def test_epics_are_ranked_by_wsjf_within_each_portfolio(self, seeded):
        for portfolio in Portfolio.objects.all():
            epics = list(portfolio.epics.order_by("rank"))
            assert [epic.rank for epic in epics] == list(range(1, len(epics) + 1))
            wsjf = [epic.cost_of_delay / epic.job_size for epic in epics]
            assert wsjf == sorted(wsjf, reverse=True)
        assert WorkItem.objects.filter(epic__isnull=False).exists()
        assert (
            not WorkItem.objects.exclude(epic__isnull=True)
            .exclude(epic__portfolio=F("project__portfolio"))
            .exists()
        )

    @pytest.mark.parametrize("query", HISTORY_INVARIANTS.values(), ids=HISTORY_INVARIANTS.keys())
    def test_work_item_columns_agree_with_their_history(self, seeded, query):
        tables = {
            "item": WorkItem._meta.db_table,
            "event": WorkItemEvent._meta.db_table,
            "sprint": Sprint._meta.db_table,
        }
        with connection.cursor() as cursor:
            cursor.execute(query.format(**tables))
            offenders = [row[0] for row in cursor.fetchall()]

        assert offenders == []

    def test_history_has_reopenings_re_estimates_scope_changes_and_carry_over(self, seeded):
        events = WorkItemEvent.objects
        sprint_events = events.filter(kind=WorkItemEvent.Kind.SPRINT)

        reopened = events.filter(kind="status", from_category="done", to_status="Reopened")
        assert WorkItem.objects.filter(
            pk__in=reopened.values("work_item"), category="done"
        ).exists()
        assert (
            events.filter(kind="points", from_points__isnull=False, to_points__isnull=False)
            .exclude(from_points=F("to_points"))
            .exists()
        )
        assert sprint_events.filter(_inside("to_sprint"), from_sprint__isnull=True).exists()
        assert sprint_events.filter(_inside("from_sprint"), to_sprint__isnull=True).exists()
        carried = sprint_events.filter(
            from_sprint__state=Sprint.State.CLOSED,
            to_sprint__isnull=False,
            at__gte=F("from_sprint__completed_at"),
            at__lt=F("to_sprint__start"),
        )
        assert carried.exists()
        assert WorkItem.objects.filter(category="in_progress").exists()
        assert WorkItem.objects.filter(sprint__isnull=True, category="todo").count() > 100
        assert WorkItem.objects.filter(story_points__isnull=True).exists()

    def test_committed_items_join_before_the_sprint_starts_never_at_its_start(self, seeded):
        assert not WorkItemEvent.objects.filter(kind="sprint", at=F("to_sprint__start")).exists()
        assert not WorkItemEvent.objects.filter(kind="sprint", at=F("from_sprint__start")).exists()

    def test_if_empty_does_nothing_on_a_seeded_database(self, seeded):
        before = _table_counts()
        out = StringIO()

        call_command("seed_demo", "--if-empty", stdout=out)

        assert "not seeded" in out.getvalue()
        assert _table_counts() == before

    def test_second_run_refuses_and_changes_nothing(self, seeded):
        before = _table_counts()

        with pytest.raises(CommandError, match="fresh database"):
            call_command("seed_demo", stdout=StringIO())

        assert _table_counts() == before


# --- Each test on its own database state ---------------------------------------------------


def test_existing_demo_login_name_is_refused(db):
    get_user_model().objects.create_user(username="pmo")

    with pytest.raises(demo.DemoDataExistsError, match="pmo"):
        demo_seed(scale=TINY)

    assert not Portfolio.objects.exists()


def test_existing_admin_superuser_is_reused_as_the_granting_actor(db):
    admin = get_user_model().objects.create_superuser(username="admin", password="own-secret")

    demo_seed(scale=TINY)

    admin.refresh_from_db()
    assert admin.check_password("own-secret")
    assert set(RoleAssignment.objects.values_list("granted_by", flat=True)) == {admin.pk}


def test_a_failure_midway_leaves_nothing_behind(db, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo, "_copy_work_items", broken)

    with pytest.raises(RuntimeError, match="disk full"):
        demo_seed(scale=TINY)

    assert not Portfolio.objects.exists()
    assert not get_user_model().objects.exists()
    assert not DecisionLog.objects.exists()


def test_copy_path_at_a_tiny_scale_keeps_the_id_sequences_usable(db):
    plan = demo_plan_build(scale=TINY, seed=11)

    summary = demo_seed(scale=TINY, seed=11)

    assert (summary.work_items, summary.events) == (500, plan.event_count)
    assert WorkItem.objects.count() == 500
    assert WorkItemEvent.objects.count() == plan.event_count
    newest = WorkItem.objects.order_by("-id").first()
    created = WorkItemFactory(project=newest.project)
    assert created.pk > newest.pk
    event = WorkItemEvent.objects.create(
        work_item=created, project=created.project, kind="points", at=created.created_at
    )
    assert event.pk > WorkItemEvent.objects.exclude(pk=event.pk).order_by("-id").first().pk


@pytest.mark.parametrize(
    ("today", "anchor"),
    [
        (dt.date(2026, 11, 23), dt.date(2026, 11, 16)),  # Monday: last week's sprint start
        (dt.date(2026, 11, 21), dt.date(2026, 11, 16)),  # Saturday: this week's Monday
        (dt.date(2026, 11, 20), dt.date(2026, 11, 9)),  # Friday: the week is not over yet
    ],
)
def test_default_anchor_keeps_the_seeded_history_before_today(today, anchor):
    from portfolio.management.commands.seed_demo import default_anchor

    assert default_anchor(today) == anchor
    assert default_anchor(today).weekday() == 0
