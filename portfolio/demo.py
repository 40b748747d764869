"""Deterministic demo data: three portfolios of agile projects with a believable history.

`manage.py seed_demo` calls `demo_seed`. The work is split in two halves:

- Building (`demo_plan_build`) is pure: a seed and an anchor date become plain dataclasses.
  Each project is simulated sprint by sprint (planning, work, scope changes, close,
  carry-over), and every change goes through `ItemPlan.change_*`, which appends the event
  and updates the denormalized columns in the same step. That is why the WorkItem columns
  always agree with the WorkItemEvent history (METRICS.md computes everything from events):
  status and category are those of the last status event; started_at is the first time the
  item entered `in_progress` (its done time if it went from `todo` straight to `done`; such
  items are never reopened, so the two readings never disagree); done_at is the last time it
  entered `done` while it is done now, else empty; sprint is where the last sprint event left
  it; story_points are the last points event's value.
- Writing (`demo_plan_write`) inserts users, portfolios, projects, sprints and epics with the
  ORM, grants roles only through `governance.services.role_grant` (so guardian permissions
  and the decision log are right), and streams work items and events with PostgreSQL COPY,
  which is what lets the 100,000-item benchmark scale load in seconds.

Conventions the history follows (so that metric code never meets an ambiguous instant):

- An item is created in its initial status ("Backlog" or "To Do"): its history starts with a
  status event at created_at from "" to that status, so the status at any instant follows
  from the events alone. An estimate is a points event from empty to the value; a
  re-estimate is a points event between two values.
- Committed items join a sprint at planning, one hour before it starts (PLANNING_LEAD), so
  they are in it at its start and never count as added scope. Scope added or removed
  mid-sprint moves strictly inside the window. Unfinished items are carried over (or sent
  back to the backlog) at the next sprint's planning, after the previous sprint has closed.
- No two events of one item share a timestamp, and nothing happens after the data's "now".

Time never comes from the clock. DEMO_ANCHOR is the day the last, active sprint starts; the
data's "now" is CUTOFF_AFTER_ANCHOR later (the Friday evening of that first week), and every
earlier sprint is two weeks before the next one. Pass another anchor to move the whole
history, e.g. to keep the active sprint current on a later day.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, models, transaction

from governance.models import DecisionKind
from governance.roles import Role
from governance.services import decision_record, role_grant
from metrics.freezing import sprint_figures_freeze
from metrics.kpis.demo import kpi_demo_seed
from portfolio.history import EventPlan, apply_event
from portfolio.models import (
    DEFAULT_STATUS_CATEGORIES,
    WSJF_SCALE,
    Category,
    Epic,
    Portfolio,
    Project,
    ProjectDependency,
    Sprint,
    TeamMembership,
    WorkItem,
    WorkItemEvent,
)

UTC = dt.UTC

DEMO_ANCHOR = dt.date(2026, 11, 16)
"""Monday on which the active sprint starts; every other date is computed back from it."""

CUTOFF_AFTER_ANCHOR = dt.timedelta(days=4, hours=18)
"""The data's "now", counted from midnight UTC of the anchor day: Friday 18:00 UTC."""

DEFAULT_SEED = 2026

PLANNING_LEAD = dt.timedelta(hours=1)
SPRINT_CADENCE = dt.timedelta(days=14)
SPRINT_WORKING_DAYS = 11  # Monday 09:00 of week one to Friday 17:00 of week two
HISTORY_LEAD = dt.timedelta(days=42)  # the oldest items predate the first sprint by six weeks
ONE_MINUTE = dt.timedelta(minutes=1)
SECONDS_PER_DAY = 86_400

POINT_SCALE = tuple(Decimal(value) for value in (1, 2, 3, 5, 8, 13))
POINT_WEIGHTS = (10, 18, 26, 24, 15, 7)
RE_ESTIMATE = "re-estimate"  # a step of an item's workflow that is a points change, not a status

TO_DO, IN_PROGRESS, DONE = Category.TO_DO.value, Category.IN_PROGRESS.value, Category.DONE.value

TIME_ZONES = ("UTC", "Europe/Paris", "UTC", "America/New_York", "UTC", "UTC")
"""Cycled over the projects: mostly UTC, some Paris and New York teams."""

SCHEDULES = ("on_track", "on_track", "late", "on_track", "at_risk", "on_track")
"""Cycled over the projects; how far the target date sits from the projected finish."""

SCHEDULE_FACTORS = {"late": 0.5, "at_risk": 0.9, "on_track": 2.0}


@dataclass(frozen=True)
class Scale:
    """How much data to build. The shares are of each project's work items."""

    name: str
    projects: int
    items: int
    sprints: int = 12
    epics_per_portfolio: int = 8
    members_per_project: int = 4
    backlog_share: float = 0.15  # never planned into a sprint
    added_share: float = 0.08  # join a sprint mid-window (mostly urgent bugs)


DEMO_SCALE = Scale(name="demo", projects=12, items=1_800)
LARGE_SCALE = Scale(
    name="large",
    projects=50,
    items=100_000,
    sprints=52,
    epics_per_portfolio=40,
    members_per_project=6,
    backlog_share=0.3,
)
SCALES = {scale.name: scale for scale in (DEMO_SCALE, LARGE_SCALE)}


# --- Themes: names that make the demo read like a real company ---------------------------


@dataclass(frozen=True)
class _ProjectTheme:
    key: str
    name: str
    nouns: tuple[str, ...]


@dataclass(frozen=True)
class _PortfolioTheme:
    slug: str
    name: str
    description: str
    epic_prefix: str
    projects: tuple[_ProjectTheme, ...]
    epics: tuple[str, ...]


THEMES = (
    _PortfolioTheme(
        slug="payments",
        name="Payments",
        description="Card acquiring, payouts, fraud prevention and the general ledger.",
        epic_prefix="PAYM",
        projects=(
            _ProjectTheme(
                "PAY",
                "Payments core",
                ("payout webhook", "settlement batch", "refund flow", "currency conversion"),
            ),
            _ProjectTheme(
                "CARD", "Cards", ("card tokenization", "3-D Secure challenge", "PIN reset flow")
            ),
            _ProjectTheme(
                "FRAUD", "Fraud detection", ("risk score API", "velocity rules", "review queue")
            ),
            _ProjectTheme(
                "LEDGER", "General ledger", ("journal import", "trial balance", "FX revaluation")
            ),
        ),
        epics=(
            "Instant payouts",
            "PSD3 readiness",
            "Chargeback automation",
            "Multi-currency ledger",
            "Fraud model v2",
            "Merchant self-onboarding",
            "Reconciliation dashboard",
            "Network token migration",
        ),
    ),
    _PortfolioTheme(
        slug="customer-experience",
        name="Customer experience",
        description="Everything a shopper touches: web, mobile, search and support.",
        epic_prefix="CX",
        projects=(
            _ProjectTheme("WEB", "Web storefront", ("checkout page", "basket", "product page")),
            _ProjectTheme("MOBILE", "Mobile app", ("push notifications", "offline mode", "login")),
            _ProjectTheme("SEARCH", "Search", ("autocomplete", "ranking model", "search facets")),
            _ProjectTheme(
                "CRM", "Customer relations", ("support inbox", "loyalty points", "NPS survey")
            ),
        ),
        epics=(
            "One-page checkout",
            "Personalized search",
            "Mobile app redesign",
            "Loyalty programme",
            "Accessibility to WCAG 2.2 AA",
            "Live chat support",
            "Wishlist sharing",
            "Product reviews",
        ),
    ),
    _PortfolioTheme(
        slug="operations",
        name="Operations",
        description="Warehouses, shipping and the data platform behind them.",
        epic_prefix="OPS",
        projects=(
            _ProjectTheme("SHIP", "Shipping", ("carrier label", "tracking page", "customs form")),
            _ProjectTheme(
                "WMS", "Warehouse management", ("pick list", "stock count", "putaway rules")
            ),
            _ProjectTheme("ROUTE", "Route planning", ("route solver", "driver app", "time slots")),
            _ProjectTheme("DATA", "Data platform", ("ingestion job", "data catalog", "dbt models")),
        ),
        epics=(
            "Same-day delivery",
            "Warehouse robotics pilot",
            "Carrier API consolidation",
            "Route optimization v2",
            "Returns portal",
            "Data lake migration",
            "Inventory forecasting",
            "Real-time tracking",
        ),
    ),
)

COMMON_NOUNS = ("audit log", "CSV export", "retry policy", "monitoring alerts", "API pagination")
VERBS = ("Add", "Improve", "Refactor", "Migrate", "Document", "Validate", "Speed up", "Automate")
SYMPTOMS = (
    "fails on empty input",
    "times out under load",
    "shows wrong totals",
    "returns 500 after deploy",
    "ignores the time zone",
    "is not translated",
)
GOALS = ("Ship the", "Stabilize the", "Finish the", "Pilot the", "Harden the")
FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jon",
    "Kenji", "Lea", "Marco", "Nadia", "Omar", "Paula", "Quentin", "Rosa", "Sami", "Tara",
)  # fmt: skip
LAST_NAMES = (
    "Silva", "Novak", "Martin", "Okafor", "Kaya", "Haddad", "Lee", "Dubois", "Costa", "Berg",
    "Tanaka", "Roux", "Rossi", "Ivanova", "Aziz", "Lopez", "Blanc", "Moreno", "Virtanen", "Shah",
)  # fmt: skip


# --- Plans: the data to write, as plain values ----------------------------------------------


@dataclass(slots=True)
class ItemPlan:
    """A work item and its history. Change it only through `change_*`, which keep the
    denormalized columns equal to what the events say."""

    project: int
    type: str
    title: str
    created_at: dt.datetime
    status: str = ""
    category: str = ""
    story_points: Decimal | None = None
    started_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    sprint: int | None = None
    epic: int | None = None
    key: str = ""
    number: int = 0
    events: list[EventPlan] = field(default_factory=list)

    @classmethod
    def create(
        cls, *, project: int, type: str, title: str, created_at: dt.datetime, status: str
    ) -> ItemPlan:
        item = cls(project=project, type=type, title=title, created_at=created_at)
        item.change_status(created_at, status)
        return item

    @property
    def last_at(self) -> dt.datetime:
        return self.events[-1].at

    def _record(self, event: EventPlan) -> None:
        if self.events and event.at <= self.events[-1].at:
            raise ValueError(f"Events of one item must move forward in time ({event}).")
        self.events.append(event)
        apply_event(self, event)

    def change_status(self, at: dt.datetime, status: str) -> None:
        category = DEFAULT_STATUS_CATEGORIES[status]
        self._record(
            EventPlan(
                kind=WorkItemEvent.Kind.STATUS.value,
                at=at,
                from_status=self.status,
                to_status=status,
                from_category=self.category,
                to_category=category,
            )
        )

    def change_sprint(self, at: dt.datetime, sprint: int | None) -> None:
        self._record(
            EventPlan(
                kind=WorkItemEvent.Kind.SPRINT.value,
                at=at,
                from_sprint=self.sprint,
                to_sprint=sprint,
            )
        )

    def change_points(self, at: dt.datetime, points: Decimal | None) -> None:
        self._record(
            EventPlan(
                kind=WorkItemEvent.Kind.POINTS.value,
                at=at,
                from_points=self.story_points,
                to_points=points,
            )
        )


@dataclass(slots=True)
class PortfolioPlan:
    slug: str
    name: str
    description: str
    created_at: dt.datetime


@dataclass(slots=True)
class ProjectPlan:
    portfolio: int
    key: str
    name: str
    description: str
    time_zone: str
    schedule: str
    created_at: dt.datetime
    nouns: tuple[str, ...]
    target_date: dt.date | None = None


@dataclass(slots=True)
class SprintPlan:
    number: int
    name: str
    goal: str
    start: dt.datetime
    end: dt.datetime
    completed_at: dt.datetime | None
    state: str

    @property
    def close(self) -> dt.datetime:
        return self.completed_at or self.end


@dataclass(slots=True)
class EpicPlan:
    portfolio: int
    project: int | None
    key: str
    title: str
    business_value: int
    time_criticality: int
    risk_reduction: int
    job_size: int
    created_at: dt.datetime
    status: str = Epic.Status.FUNNEL.value
    rank: int = 0

    @property
    def wsjf(self) -> Fraction:
        cost_of_delay = self.business_value + self.time_criticality + self.risk_reduction
        return Fraction(cost_of_delay, self.job_size)


@dataclass(frozen=True, slots=True)
class UserPlan:
    username: str
    first_name: str
    last_name: str
    is_superuser: bool = False
    can_log_in: bool = True  # team members without a role get an unusable password


@dataclass(frozen=True, slots=True)
class GrantPlan:
    username: str
    role: str
    portfolio: int | None = None
    project: int | None = None


@dataclass(frozen=True, slots=True)
class MembershipPlan:
    project: int
    username: str
    role: str


@dataclass
class DemoPlan:
    scale: Scale
    seed: int
    anchor: dt.date
    cutoff: dt.datetime
    portfolios: list[PortfolioPlan]
    projects: list[ProjectPlan]
    sprints: list[list[SprintPlan]]  # per project, oldest first; the last one is active
    epics: list[EpicPlan]
    items: list[ItemPlan]
    users: list[UserPlan]
    grants: list[GrantPlan]
    memberships: list[MembershipPlan]

    @property
    def event_count(self) -> int:
        return sum(len(item.events) for item in self.items)


@dataclass(frozen=True)
class DemoSummary:
    scale: str
    seed: int
    anchor: dt.date
    portfolios: int
    projects: int
    sprints: int
    work_items: int
    events: int
    users: int
    logins: list[tuple[str, str]]


# --- Building --------------------------------------------------------------------------------


def demo_plan_build(
    *, scale: Scale = DEMO_SCALE, seed: int = DEFAULT_SEED, anchor: dt.date = DEMO_ANCHOR
) -> DemoPlan:
    """Everything seed_demo writes, computed from the seed and the anchor alone."""
    rng = random.Random(f"{seed}/demo")
    cutoff = dt.datetime.combine(anchor, dt.time(), tzinfo=UTC) + CUTOFF_AFTER_ANCHOR
    origin = dt.datetime.combine(anchor, dt.time(9), tzinfo=UTC) - SPRINT_CADENCE * scale.sprints
    portfolios = [
        PortfolioPlan(
            slug=theme.slug,
            name=theme.name,
            description=theme.description,
            created_at=origin - HISTORY_LEAD - dt.timedelta(days=30),
        )
        for theme in THEMES
    ]
    projects = _project_plans(scale, origin - HISTORY_LEAD - dt.timedelta(days=14))
    sizes = _split(scale.items, len(projects), rng, spread=0.3)
    sprints: list[list[SprintPlan]] = []
    items: list[ItemPlan] = []
    for index, (project, size) in enumerate(zip(projects, sizes, strict=True)):
        project_rng = random.Random(f"{seed}/{project.key}")
        project_sprints = _sprint_plans(project, scale.sprints, anchor, project_rng)
        history = _ProjectHistory(
            index=index,
            project=project,
            sprints=project_sprints,
            size=size,
            scale=scale,
            cutoff=cutoff,
            rng=project_rng,
        )
        project_items = history.simulate()
        project.target_date = _target_date(project, project_sprints, project_items, anchor)
        sprints.append(project_sprints)
        items.extend(project_items)
    epics = _epic_plans(scale, projects, origin, random.Random(f"{seed}/epics"))
    _link_items_to_epics(items, epics, projects, random.Random(f"{seed}/links"))
    users, grants, memberships = _people(scale, projects, random.Random(f"{seed}/people"))
    return DemoPlan(
        scale=scale,
        seed=seed,
        anchor=anchor,
        cutoff=cutoff,
        portfolios=portfolios,
        projects=projects,
        sprints=sprints,
        epics=epics,
        items=items,
        users=users,
        grants=grants,
        memberships=memberships,
    )


def _split(total: int, parts: int, rng: random.Random, *, spread: float) -> list[int]:
    """`total` cut into `parts` integers of roughly equal size (+/- spread) that sum exactly."""
    weights = [rng.uniform(1 - spread, 1 + spread) for _ in range(parts)]
    scale = total / sum(weights)
    shares = [weight * scale for weight in weights]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(parts), key=lambda part: counts[part] - shares[part])
    for part in by_remainder[: total - sum(counts)]:
        counts[part] += 1
    return counts


def _between(rng: random.Random, low: dt.datetime, high: dt.datetime) -> dt.datetime:
    """A whole-second instant in [low, high); `low` itself when the range is empty."""
    span = (high - low).total_seconds()
    if span <= 1:
        return low
    return low + dt.timedelta(seconds=int(rng.random() * span))


def _project_plans(scale: Scale, created_at: dt.datetime) -> list[ProjectPlan]:
    """Projects spread round-robin over the portfolios; past the four themed projects of a
    portfolio, keys and names get a number (PAY2, "Payments core 2")."""
    plans = []
    for index in range(scale.projects):
        portfolio = index % len(THEMES)
        within = index // len(THEMES)
        theme = THEMES[portfolio].projects[within % len(THEMES[portfolio].projects)]
        generation = within // len(THEMES[portfolio].projects)
        suffix = str(generation + 1) if generation else ""
        plans.append(
            ProjectPlan(
                portfolio=portfolio,
                key=f"{theme.key}{suffix}",
                name=f"{theme.name} {suffix}".strip(),
                description=f"The {theme.name.lower()} team's product backlog.",
                time_zone=TIME_ZONES[index % len(TIME_ZONES)],
                schedule=SCHEDULES[index % len(SCHEDULES)],
                created_at=created_at,
                nouns=theme.nouns + COMMON_NOUNS,
            )
        )
    return plans


def _sprint_plans(
    project: ProjectPlan, count: int, anchor: dt.date, rng: random.Random
) -> list[SprintPlan]:
    """Two-week sprints ending with the active one that starts on the anchor day.

    A sprint runs from Monday 09:00 to Friday 17:00 of its second week in the team's time
    zone (so UTC times follow daylight saving) and is closed within 90 minutes of its end."""
    zone = ZoneInfo(project.time_zone)
    plans = []
    for number in range(1, count + 1):
        first_day = anchor - SPRINT_CADENCE * (count - number)
        start = dt.datetime.combine(first_day, dt.time(9), tzinfo=zone).astimezone(UTC)
        last_day = first_day + dt.timedelta(days=SPRINT_WORKING_DAYS)
        end = dt.datetime.combine(last_day, dt.time(17), tzinfo=zone).astimezone(UTC)
        active = number == count
        completed_at = None if active else end + dt.timedelta(minutes=rng.randint(0, 90))
        plans.append(
            SprintPlan(
                number=number,
                name=f"{project.key} Sprint {number}",
                goal=f"{rng.choice(GOALS)} {rng.choice(project.nouns)}",
                start=start,
                end=end,
                completed_at=completed_at,
                state=(Sprint.State.ACTIVE if active else Sprint.State.CLOSED).value,
            )
        )
    return plans


@dataclass(slots=True)
class _Work:
    """Simulation state of one item: the workflow steps it has still to take."""

    item: ItemPlan
    path: list[str]
    urgent: bool = False
    joined_at: dt.datetime | None = None
    next_at: dt.datetime | None = None
    steps_taken: int = 0
    reworking: bool = False


class _Removal(NamedTuple):
    work: _Work
    at: dt.datetime


class _ProjectHistory:
    """Simulates one project's sprints in order and returns its items with their events.

    Each sprint: planning (carry-overs, items sent back to the backlog, new commitments,
    re-estimates of carried work), an optional removal of an untouched item mid-sprint,
    urgent items added mid-sprint, then every item in the sprint walks its workflow until the
    sprint closes (or until "now" for the active sprint). Whatever is unfinished at close is
    carried over at the next planning."""

    def __init__(
        self,
        *,
        index: int,
        project: ProjectPlan,
        sprints: list[SprintPlan],
        size: int,
        scale: Scale,
        cutoff: dt.datetime,
        rng: random.Random,
    ) -> None:
        self.index = index
        self.project = project
        self.sprints = sprints
        self.cutoff = cutoff
        self.rng = rng
        self.history_start = sprints[0].start - HISTORY_LEAD
        self.pace = rng.uniform(0.85, 1.35)  # some teams are slower: lower say/do ratios
        self.backlog_size = round(size * scale.backlog_share)
        self.added_size = round(size * scale.added_share)
        self.committed_size = size - self.backlog_size - self.added_size
        self.works: list[_Work] = []
        self.returned: list[_Work] = []  # removed or sent back: may be planned again

    def simulate(self) -> list[ItemPlan]:
        rng = self.rng
        committed = _split(self.committed_size, len(self.sprints), rng, spread=0.25)
        added = _split(self.added_size, len(self.sprints), rng, spread=0.8)
        carried: list[_Work] = []
        sent_back: list[_Work] = []
        for index, sprint in enumerate(self.sprints):
            members = self._plan(index, sprint, carried, sent_back, committed[index])
            removal = self._pick_removal(sprint, members)
            members.extend(self._add_scope(index, sprint, added[index]))
            limit = min(sprint.close, self.cutoff)
            for work in members:
                if removal and work is removal.work and self._taken_out(work, sprint, removal.at):
                    continue
                self._advance(work, sprint, limit)
            if sprint.completed_at is not None:
                carried, sent_back = self._close(index, members)
        for _ in range(self.backlog_size):
            self._new_backlog_item()
        return self._numbered()

    # Planning ---------------------------------------------------------------------------

    def _plan(
        self,
        index: int,
        sprint: SprintPlan,
        carried: list[_Work],
        sent_back: list[_Work],
        new_count: int,
    ) -> list[_Work]:
        rng = self.rng
        planning = sprint.start - PLANNING_LEAD
        for work in sent_back:
            work.item.change_sprint(planning, None)
        members = []
        for work in carried:
            work.item.change_sprint(planning, index)
            if work.item.story_points is not None and rng.random() < 0.2:
                work.item.change_points(
                    planning + 10 * ONE_MINUTE, _re_estimate(rng, work.item.story_points)
                )
            members.append(work)
        replanned = [work for work in self.returned if rng.random() < 0.5]
        for work in replanned:
            self.returned.remove(work)
            work.item.change_sprint(planning, index)
            members.append(work)
        self.returned.extend(sent_back)
        for _ in range(new_count):
            work = self._new_committed_item(planning)
            work.item.change_sprint(planning, index)
            if work.item.status == "Backlog":
                work.item.change_status(planning + 5 * ONE_MINUTE, "To Do")
            members.append(work)
        for work in members:
            work.joined_at = planning
        return members

    def _new_committed_item(self, planning: dt.datetime) -> _Work:
        rng = self.rng
        earliest = max(self.history_start, planning - dt.timedelta(days=35))
        created_at = _between(rng, earliest, planning - dt.timedelta(days=1))
        item_type = _pick(rng, ("Story", "Task", "Bug"), (70, 15, 15))
        item = self._create(item_type, created_at, "Backlog" if rng.random() < 0.5 else "To Do")
        if rng.random() < 0.93:
            refined_by = min(created_at + dt.timedelta(days=3), planning - PLANNING_LEAD)
            item.change_points(_between(rng, created_at + ONE_MINUTE, refined_by), _points(rng))
        return self._track(item)

    def _new_backlog_item(self) -> None:
        rng = self.rng
        created_at = _between(rng, self.history_start, self.cutoff - dt.timedelta(hours=2))
        item_type = _pick(rng, ("Story", "Task", "Bug"), (70, 15, 15))
        item = self._create(item_type, created_at, "Backlog" if rng.random() < 0.6 else "To Do")
        if rng.random() < 0.5:
            refined_by = min(created_at + dt.timedelta(days=5), self.cutoff - ONE_MINUTE)
            item.change_points(_between(rng, created_at + ONE_MINUTE, refined_by), _points(rng))
        self._track(item)

    def _create(self, item_type: str, created_at: dt.datetime, status: str) -> ItemPlan:
        rng = self.rng
        noun = rng.choice(self.project.nouns)
        if item_type == "Bug":
            title = f"{noun[0].upper()}{noun[1:]} {rng.choice(SYMPTOMS)}"
        else:
            title = f"{rng.choice(VERBS)} {noun}"
        return ItemPlan.create(
            project=self.index, type=item_type, title=title, created_at=created_at, status=status
        )

    def _track(self, item: ItemPlan, *, urgent: bool = False) -> _Work:
        work = _Work(item=item, path=_workflow(self.rng, item.type), urgent=urgent)
        self.works.append(work)
        return work

    # During the sprint ------------------------------------------------------------------

    def _pick_removal(self, sprint: SprintPlan, members: list[_Work]) -> _Removal | None:
        """Now and then a committed item is chosen to leave the sprint mid-window."""
        rng = self.rng
        low = sprint.start + dt.timedelta(days=1)
        high = min(sprint.close, self.cutoff) - dt.timedelta(days=1)
        if not members or high <= low or rng.random() > 0.4:
            return None
        return _Removal(work=rng.choice(members), at=_between(rng, low, high))

    def _taken_out(self, work: _Work, sprint: SprintPlan, at: dt.datetime) -> bool:
        """Remove the item at `at` if nobody has touched it by then (back to the backlog)."""
        self._advance(work, sprint, at)
        if work.steps_taken:
            return False
        work.item.change_sprint(at, None)
        self.returned.append(work)
        return True

    def _add_scope(self, index: int, sprint: SprintPlan, count: int) -> list[_Work]:
        """Urgent items created and pulled into the sprint inside its window."""
        rng = self.rng
        low = sprint.start + dt.timedelta(days=1)
        high = min(sprint.close, self.cutoff) - dt.timedelta(hours=12)
        if high <= low:
            return []
        added = []
        for _ in range(count):
            joined_at = _between(rng, low, high)
            created_at = joined_at - dt.timedelta(minutes=rng.randint(30, 240))
            item_type = "Bug" if rng.random() < 0.8 else "Task"
            item = self._create(item_type, created_at, "To Do")
            if rng.random() < 0.6:
                item.change_points(created_at + 10 * ONE_MINUTE, _points(rng, small=True))
            item.change_sprint(joined_at, index)
            work = self._track(item, urgent=True)
            work.joined_at = joined_at
            added.append(work)
        return added

    def _advance(self, work: _Work, sprint: SprintPlan, limit: dt.datetime) -> None:
        """Take the item's next workflow steps while they fall before `limit`."""
        floor = max(sprint.start, work.joined_at or sprint.start)
        item = work.item
        while work.path:
            if work.next_at is None or work.next_at < floor:
                work.next_at = self._next_step_time(work, sprint, floor)
            at = max(work.next_at, item.last_at + ONE_MINUTE)
            if at >= limit:
                return
            step = work.path.pop(0)
            work.next_at = None
            work.steps_taken += 1
            if step == RE_ESTIMATE:
                item.change_points(at, _re_estimate(self.rng, item.story_points))
            else:
                item.change_status(at, step)
                work.reworking = work.reworking or step == "Reopened"

    def _next_step_time(self, work: _Work, sprint: SprintPlan, floor: dt.datetime) -> dt.datetime:
        rng = self.rng
        if work.steps_taken == 0 or work.item.last_at < floor:
            # Picked up some time after joining (urgent items quickly), or resumed after a
            # carry-over soon after the new sprint starts.
            window_days = (sprint.end - sprint.start).total_seconds() / SECONDS_PER_DAY
            if work.steps_taken:
                days = rng.uniform(0.01, 1.0)
            elif work.urgent:
                days = rng.uniform(0.02, 1.5)
            else:
                days = rng.uniform(0, 0.55) * window_days
            return _skip_weekend(floor + dt.timedelta(days=days))
        days = self._step_days(work) * self.pace
        return _skip_weekend(work.item.last_at + dt.timedelta(days=days))

    def _step_days(self, work: _Work) -> float:
        """How long the item stays in its current status before the next step."""
        rng = self.rng
        status, following = work.item.status, work.path[0]
        if following == RE_ESTIMATE:
            return rng.uniform(0.05, 0.6)
        if status == "In Progress" and following != "Blocked":
            if work.reworking:
                return rng.uniform(0.2, 1.5)
            points = float(work.item.story_points or 3)
            return (0.3 + 0.4 * points) * rng.uniform(0.5, 1.8)
        ranges = {"In Progress": (0.3, 2.0), "Blocked": (0.5, 3.0), "Done": (0.3, 3.0)}
        low, high = ranges.get(status, (0.05, 1.5))
        return rng.uniform(low, high)

    # Close ----------------------------------------------------------------------------------

    def _close(self, index: int, members: list[_Work]) -> tuple[list[_Work], list[_Work]]:
        """Unfinished work goes to the next sprint; some untouched work back to the backlog."""
        carried, sent_back = [], []
        for work in members:
            item = work.item
            if item.sprint != index or item.category == DONE:
                continue
            if item.category == TO_DO and work.steps_taken == 0 and self.rng.random() < 0.15:
                sent_back.append(work)
            else:
                carried.append(work)
        return carried, sent_back

    def _numbered(self) -> list[ItemPlan]:
        """Keys follow creation order, as in Jira; the backlog rank is the same order."""
        works = sorted(self.works, key=lambda work: work.item.created_at)
        items = []
        for number, work in enumerate(works, start=1):
            work.item.number = number
            work.item.key = f"{self.project.key}-{number}"
            items.append(work.item)
        return items


def _pick(rng: random.Random, values: Sequence[str], weights: Sequence[int]) -> str:
    return rng.choices(values, weights)[0]


def _points(rng: random.Random, *, small: bool = False) -> Decimal:
    if small:
        return rng.choice(POINT_SCALE[:3])
    return rng.choices(POINT_SCALE, POINT_WEIGHTS)[0]


def _re_estimate(rng: random.Random, points: Decimal | None) -> Decimal:
    """One Fibonacci step up (more often) or down; a first estimate if there was none."""
    if points is None:
        return rng.choice(POINT_SCALE[1:4])
    position = POINT_SCALE.index(points)
    step = 1 if rng.random() < 0.7 else -1
    if not 0 <= position + step < len(POINT_SCALE):
        step = -step
    return POINT_SCALE[position + step]


def _workflow(rng: random.Random, item_type: str) -> list[str]:
    """The statuses an item will go through once work starts, possibly with a re-estimate,
    a blocked spell, a review and a reopening. A few are closed straight from To Do; those
    are never reopened, so their start time (= done time) is unambiguous."""
    if rng.random() < 0.03:
        return ["Done"]
    path = ["In Progress"]
    if rng.random() < 0.12:
        path.append(RE_ESTIMATE)
    if rng.random() < 0.06:
        path += ["Blocked", "In Progress"]
    if item_type == "Story" or rng.random() < 0.4:
        path.append("In Review")
    path.append("Done")
    if rng.random() < 0.07:
        path += ["Reopened", "In Progress", "Done"]
    return path


def _skip_weekend(at: dt.datetime) -> dt.datetime:
    """Move a Saturday or Sunday instant to the following Monday (UTC days; close enough)."""
    weekday = at.weekday()
    if weekday >= 5:
        return at + dt.timedelta(days=7 - weekday)
    return at


def _target_date(
    project: ProjectPlan, sprints: list[SprintPlan], items: list[ItemPlan], anchor: dt.date
) -> dt.date:
    """A target date placed against a rough projection (open items / recent weekly throughput):
    well before it for late projects, just before it for projects at risk, well after it for
    the rest. The product's real forecast is a Monte Carlo simulation, so the projection only
    needs to be in the right neighbourhood."""
    closed = [sprint for sprint in sprints if sprint.completed_at is not None][-6:]
    if not closed:
        return anchor + dt.timedelta(weeks=26)
    since, until = closed[0].start, closed[-1].close
    done = sum(1 for item in items if item.done_at is not None and since <= item.done_at < until)
    per_week = max(done / ((until - since).days / 7), 0.5)
    open_items = sum(1 for item in items if item.category != DONE)
    weeks = open_items / per_week * SCHEDULE_FACTORS[project.schedule]
    return anchor + dt.timedelta(days=max(7, round(weeks * 7)))


def _epic_plans(
    scale: Scale, projects: list[ProjectPlan], origin: dt.datetime, rng: random.Random
) -> list[EpicPlan]:
    """Epics per portfolio with WSJF inputs; mostly owned by one project, some portfolio-wide.
    Ranks start as WSJF order (ties: smaller job first, then older)."""
    epics: list[EpicPlan] = []
    for portfolio, theme in enumerate(THEMES):
        own_projects = [index for index, plan in enumerate(projects) if plan.portfolio == portfolio]
        if not own_projects:
            continue
        portfolio_epics = []
        for number in range(1, scale.epics_per_portfolio + 1):
            title = theme.epics[(number - 1) % len(theme.epics)]
            phase = (number - 1) // len(theme.epics)
            portfolio_epics.append(
                EpicPlan(
                    portfolio=portfolio,
                    project=rng.choice(own_projects) if rng.random() < 0.75 else None,
                    key=f"{theme.epic_prefix}-E{number}",
                    title=f"{title} (phase {phase + 1})" if phase else title,
                    business_value=rng.choice(WSJF_SCALE),
                    time_criticality=rng.choice(WSJF_SCALE),
                    risk_reduction=rng.choice(WSJF_SCALE),
                    job_size=rng.choice(WSJF_SCALE),
                    created_at=origin - dt.timedelta(days=90) + dt.timedelta(hours=6 * number),
                )
            )
        ordered = sorted(
            portfolio_epics, key=lambda epic: (-epic.wsjf, epic.job_size, epic.created_at)
        )
        for rank, epic in enumerate(ordered, start=1):
            epic.rank = rank
        epics.extend(portfolio_epics)
    return epics


def _link_items_to_epics(
    items: list[ItemPlan], epics: list[EpicPlan], projects: list[ProjectPlan], rng: random.Random
) -> None:
    """About 40% of the stories and tasks belong to an epic of their project or a
    portfolio-wide one; an epic's status then follows from its items."""
    candidates: dict[int, list[int]] = {}
    for project_index, project in enumerate(projects):
        candidates[project_index] = [
            index
            for index, epic in enumerate(epics)
            if epic.portfolio == project.portfolio and epic.project in (None, project_index)
        ]
    for item in items:
        choices = candidates[item.project]
        if choices and item.type != "Bug" and rng.random() < 0.4:
            item.epic = rng.choice(choices)
    linked: dict[int, list[ItemPlan]] = {}
    for item in items:
        if item.epic is not None:
            linked.setdefault(item.epic, []).append(item)
    early = (Epic.Status.FUNNEL, Epic.Status.ANALYZING, Epic.Status.READY)
    for index, epic in enumerate(epics):
        members = linked.get(index, [])
        if not members:
            epic.status = rng.choice(early).value
        elif all(item.category == DONE for item in members):
            epic.status = Epic.Status.DONE.value
        else:
            epic.status = Epic.Status.IMPLEMENTING.value


def _people(
    scale: Scale, projects: list[ProjectPlan], rng: random.Random
) -> tuple[list[UserPlan], list[GrantPlan], list[MembershipPlan]]:
    """The fixed demo logins with their roles, plus team members who have no role (they only
    appear in team lists, so they cannot log in)."""
    names = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    users = [
        UserPlan("admin", "Ada", "Admin", is_superuser=True),
        UserPlan("pmo", "Priya", "Moreau"),
        UserPlan("exec", "Elliot", "Grant"),
        UserPlan("viewer", "Vera", "Lind"),
    ]
    grants = [GrantPlan("pmo", Role.PMO_LEADER.value, portfolio=p) for p in range(len(THEMES))]
    grants += [GrantPlan("exec", Role.EXECUTIVE.value, portfolio=p) for p in range(len(THEMES))]
    grants.append(GrantPlan("viewer", Role.VIEWER.value, portfolio=0))
    memberships = []
    for index, project in enumerate(projects):
        first, last = names.pop()
        username = f"lead-{project.key.lower()}"
        users.append(UserPlan(username, first, last))
        grants.append(GrantPlan(username, Role.TEAM_LEAD.value, project=index))
        memberships.append(MembershipPlan(index, username, TeamMembership.Role.LEAD.value))
    pool_size = max(scale.members_per_project, len(projects) * scale.members_per_project // 2)
    pool = [names.pop() for _ in range(min(pool_size, len(names)))]
    for first, last in pool:
        users.append(UserPlan(f"{first}.{last}".lower(), first, last, can_log_in=False))
    for index in range(len(projects)):
        for first, last in rng.sample(pool, min(scale.members_per_project, len(pool))):
            username = f"{first}.{last}".lower()
            memberships.append(MembershipPlan(index, username, TeamMembership.Role.MEMBER.value))
    return users, grants, memberships


# --- Writing ---------------------------------------------------------------------------------

Progress = Callable[[str], None]

_SEED_LOCK = 0x5EED_DE30  # pg_advisory_xact_lock key: two seeders never interleave


class DemoDataExistsError(Exception):
    """seed_demo only fills an empty database; it never adds a second copy."""


def demo_seed(
    *,
    scale: Scale = DEMO_SCALE,
    seed: int = DEFAULT_SEED,
    anchor: dt.date = DEMO_ANCHOR,
    if_empty: bool = False,
    progress: Progress | None = None,
) -> DemoSummary | None:
    """Build and write the demo data in one transaction, or nothing at all.

    Returns None when `if_empty` and portfolios already exist (`pmo up` calls it on every
    start). Otherwise existing portfolios, or users holding a demo login's name, raise
    DemoDataExistsError: the demo goes into a fresh database only."""
    report = progress or (lambda message: None)
    started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEED_LOCK])
        portfolios = Portfolio.objects.count()
        if portfolios:
            if if_empty:
                return None
            raise DemoDataExistsError(
                f"The database already holds {portfolios} portfolio(s); seed_demo only fills "
                "an empty database. Use a fresh database (e.g. `manage.py flush`) to reseed."
            )
        report(f"Building the {scale.name} plan (seed {seed}, anchor {anchor})...")
        plan = demo_plan_build(scale=scale, seed=seed, anchor=anchor)
        report(
            f"Planned {len(plan.items):,} work items and {plan.event_count:,} events "
            f"in {time.monotonic() - started:.1f} s."
        )
        _check_users_are_free(plan)
        summary = demo_plan_write(plan, progress=report, started=started)
        report(
            "Committing: PostgreSQL checks the deferred foreign keys now "
            f"({time.monotonic() - started:.1f} s)..."
        )
    return summary


def _check_users_are_free(plan: DemoPlan) -> None:
    user_model = get_user_model()
    usernames = {user.username for user in plan.users}
    taken = set(
        user_model.objects.filter(username__in=usernames).values_list("username", flat=True)
    )
    admin = user_model.objects.filter(username="admin", is_superuser=True).first()
    if admin is not None:
        taken.discard("admin")  # an existing superuser named admin is reused as the actor
    if taken:
        raise DemoDataExistsError(
            f"Users {', '.join(sorted(taken)[:5])} already exist; seed_demo only fills an "
            "empty database. Use a fresh database (e.g. `manage.py flush`)."
        )


def demo_plan_write(
    plan: DemoPlan, *, progress: Progress | None = None, started: float | None = None
) -> DemoSummary:
    """Write a plan into an empty database. Call it inside a transaction."""
    report = progress or (lambda message: None)
    started = time.monotonic() if started is None else started
    users, admin_reused = _write_users(plan)
    admin = users["admin"]
    portfolios, projects = _write_portfolios_and_projects(plan)
    sprint_ids = _write_sprints(plan, projects)
    epics = _write_epics(plan, portfolios, projects)
    _write_people(plan, users, admin, portfolios, projects)
    report(
        f"Users, roles, projects, sprints and epics written ({time.monotonic() - started:.1f} s)."
    )
    _copy_work_items(
        plan,
        project_ids=[project.pk for project in projects],
        sprint_ids=sprint_ids,
        epic_ids=[epic.pk for epic in epics],
        report=report,
        started=started,
    )
    _record_imports(plan, admin, portfolios)
    _write_dependencies(projects)
    _analyze(WorkItem, WorkItemEvent)
    sprint_figures_freeze(project_ids=[project.pk for project in projects])
    kpis = kpi_demo_seed(plan=plan, portfolios=portfolios, projects=projects, users=users)
    report(
        f"{kpis.kpis} KPIs with {kpis.measurements:,} values ({time.monotonic() - started:.1f} s)."
    )
    return DemoSummary(
        scale=plan.scale.name,
        seed=plan.seed,
        anchor=plan.anchor,
        portfolios=len(portfolios),
        projects=len(projects),
        sprints=sum(len(ids) for ids in sprint_ids),
        work_items=len(plan.items),
        events=plan.event_count,
        users=len(plan.users),
        logins=_logins(plan, admin_reused=admin_reused),
    )


def _write_dependencies(projects: Sequence[Project]) -> None:
    """Every third project of a portfolio needs something from the next one, so the portfolio
    review has dependencies to weigh (and a late provider to flag)."""
    by_portfolio: dict[int, list[Project]] = {}
    for project in projects:
        by_portfolio.setdefault(project.portfolio_id, []).append(project)
    ProjectDependency.objects.bulk_create(
        ProjectDependency(
            project=members[index],
            depends_on=members[index + 1],
            description=f"Needs the {members[index + 1].name} release",
        )
        for members in by_portfolio.values()
        for index in range(0, len(members) - 1, 3)
    )


def _write_portfolios_and_projects(plan: DemoPlan) -> tuple[list[Portfolio], list[Project]]:
    portfolios = Portfolio.objects.bulk_create(
        Portfolio(
            slug=portfolio.slug,
            name=portfolio.name,
            description=portfolio.description,
            created_at=portfolio.created_at,
        )
        for portfolio in plan.portfolios
    )
    projects = Project.objects.bulk_create(
        Project(
            portfolio=portfolios[project.portfolio],
            key=project.key,
            name=project.name,
            description=project.description,
            target_date=project.target_date,
            time_zone=project.time_zone,
            created_at=project.created_at,
        )
        for project in plan.projects
    )
    return portfolios, projects


def _write_epics(
    plan: DemoPlan, portfolios: list[Portfolio], projects: list[Project]
) -> list[Epic]:
    return Epic.objects.bulk_create(
        Epic(
            portfolio=portfolios[epic.portfolio],
            project=None if epic.project is None else projects[epic.project],
            key=epic.key,
            title=epic.title,
            status=epic.status,
            business_value=epic.business_value,
            time_criticality=epic.time_criticality,
            risk_reduction=epic.risk_reduction,
            job_size=epic.job_size,
            rank=epic.rank,
            created_at=epic.created_at,
        )
        for epic in plan.epics
    )


def _record_imports(plan: DemoPlan, admin: AbstractBaseUser, portfolios: list[Portfolio]) -> None:
    """One decision-log entry per portfolio: the history did not come from real work."""
    for index, portfolio in enumerate(portfolios):
        own = [item for item in plan.items if plan.projects[item.project].portfolio == index]
        decision_record(
            kind=DecisionKind.HISTORY_IMPORT,
            actor=admin,
            portfolio=portfolio,
            subject=f"portfolio:{portfolio.slug}",
            summary=(
                f"Seeded demo history: {len(own):,} work items, "
                f"{sum(len(item.events) for item in own):,} events"
            ),
            inputs={"scale": plan.scale.name, "seed": plan.seed, "anchor": plan.anchor.isoformat()},
        )


def _analyze(*tables: type[models.Model]) -> None:
    """Fresh planner statistics, so the first queries after a bulk load pick good plans."""
    names = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {names}")


def _write_users(plan: DemoPlan) -> tuple[dict[str, AbstractBaseUser], bool]:
    """One password hash for every demo login (hashing is deliberately slow). An existing
    superuser named admin is kept as it is; the second value says whether that happened."""
    user_model = get_user_model()
    existing_admin = user_model.objects.filter(username="admin", is_superuser=True).first()
    password = make_password(settings.PMO_DEMO_PASSWORD)
    unusable = make_password(None)
    joined = min(portfolio.created_at for portfolio in plan.portfolios)
    new_users = [
        user_model(
            username=user.username,
            email=f"{user.username}@example.org",
            first_name=user.first_name,
            last_name=user.last_name,
            password=password if user.can_log_in else unusable,
            is_superuser=user.is_superuser,
            is_staff=user.is_superuser,
            date_joined=joined,
        )
        for user in plan.users
        if not (user.username == "admin" and existing_admin is not None)
    ]
    created = {user.username: user for user in user_model.objects.bulk_create(new_users)}
    if existing_admin is not None:
        created["admin"] = existing_admin
    return created, existing_admin is not None


def _write_sprints(plan: DemoPlan, projects: list[Project]) -> list[list[int]]:
    rows = [
        Sprint(
            project=project,
            name=sprint.name,
            goal=sprint.goal,
            start=sprint.start,
            end=sprint.end,
            completed_at=sprint.completed_at,
            state=sprint.state,
        )
        for project, sprints in zip(projects, plan.sprints, strict=True)
        for sprint in sprints
    ]
    created = iter(Sprint.objects.bulk_create(rows, batch_size=2_000))
    return [[next(created).pk for _ in sprints] for sprints in plan.sprints]


def _write_people(
    plan: DemoPlan,
    users: dict[str, AbstractBaseUser],
    admin: AbstractBaseUser,
    portfolios: list[Portfolio],
    projects: list[Project],
) -> None:
    """Roles through role_grant (guardian permissions + decision log), then team lists."""
    for grant in plan.grants:
        role_grant(
            actor=admin,
            user=users[grant.username],
            role=grant.role,
            portfolio=None if grant.portfolio is None else portfolios[grant.portfolio],
            project=None if grant.project is None else projects[grant.project],
        )
    TeamMembership.objects.bulk_create(
        TeamMembership(
            project=projects[membership.project],
            user=users[membership.username],
            role=membership.role,
            joined_at=plan.projects[membership.project].created_at,
        )
        for membership in plan.memberships
    )


def _columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in names]


ITEM_FIELDS = (
    "id", "project", "key", "type", "title", "story_points", "status", "category",
    "created_at", "started_at", "done_at", "sprint", "epic", "rank", "version",
)  # fmt: skip
EVENT_FIELDS = (
    "work_item", "project", "kind", "at", "from_status", "to_status", "from_category",
    "to_category", "from_sprint", "to_sprint", "from_points", "to_points",
)  # fmt: skip


def _copy_work_items(
    plan: DemoPlan,
    *,
    project_ids: list[int],
    sprint_ids: list[list[int]],
    epic_ids: list[int],
    report: Progress,
    started: float,
) -> None:
    """COPY the items (ids drawn from their sequence up front, so events can point at them),
    then their events (ids from the column default)."""
    item_ids = _allocate_ids(WorkItem, len(plan.items))

    def sprint_id(project: int, sprint: int | None) -> int | None:
        return None if sprint is None else sprint_ids[project][sprint]

    def item_rows() -> Iterator[tuple]:
        for item_id, item in zip(item_ids, plan.items, strict=True):
            yield (
                item_id,
                project_ids[item.project],
                item.key,
                item.type,
                item.title,
                item.story_points,
                item.status,
                item.category,
                item.created_at,
                item.started_at,
                item.done_at,
                sprint_id(item.project, item.sprint),
                None if item.epic is None else epic_ids[item.epic],
                item.number,
                1,
            )

    def event_rows() -> Iterator[tuple]:
        for item_id, item in zip(item_ids, plan.items, strict=True):
            project_id, sprints = project_ids[item.project], sprint_ids[item.project]
            for event in item.events:
                yield (
                    item_id,
                    project_id,
                    event.kind,
                    event.at,
                    event.from_status,
                    event.to_status,
                    event.from_category,
                    event.to_category,
                    None if event.from_sprint is None else sprints[event.from_sprint],
                    None if event.to_sprint is None else sprints[event.to_sprint],
                    event.from_points,
                    event.to_points,
                )

    copied = _copy(WorkItem, ITEM_FIELDS, item_rows(), "work items", report, started)
    report(f"Copied {copied:,} work items ({time.monotonic() - started:.1f} s).")
    copied = _copy(WorkItemEvent, EVENT_FIELDS, event_rows(), "events", report, started)
    report(f"Copied {copied:,} events ({time.monotonic() - started:.1f} s).")


def _allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Take `count` ids from the table's own sequence, as inserts would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _copy(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterator[tuple],
    label: str,
    report: Progress,
    started: float,
) -> int:
    """Stream rows with COPY on Django's own connection, so it joins the open transaction."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in _columns(model, fields))
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    connection.ensure_connection()
    count = 0
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for count, row in enumerate(rows, start=1):
            copy.write_row(row)
            if count % 100_000 == 0:
                report(f"  {count:,} {label} ({time.monotonic() - started:.1f} s)")
    return count


def _logins(plan: DemoPlan, *, admin_reused: bool) -> list[tuple[str, str]]:
    """The fixed logins and what each may see, team leads grouped by portfolio."""
    admin = "existing superuser, password unchanged" if admin_reused else "superuser"
    logins = [
        ("admin", f"{admin} (also the Django admin)"),
        ("pmo", "PMO leader of every demo portfolio"),
        ("exec", "Executive of every demo portfolio"),
        ("viewer", f"Viewer of {plan.portfolios[0].name}"),
    ]
    by_portfolio = sorted(plan.projects, key=lambda project: project.portfolio)
    logins += [
        (f"lead-{project.key.lower()}", f"Team lead of {project.key} ({project.name})")
        for project in by_portfolio
    ]
    return logins
