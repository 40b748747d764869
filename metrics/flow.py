"""The flow-metrics engine: every figure of METRICS.md as one SQL query, computed in PostgreSQL.

Each query is a named module constant, documented with the METRICS.md definition it
implements; the `*_unsafe` functions below run one query each and turn its rows into frozen
dataclasses. They are "unsafe" because they take project or sprint ids and check nothing:
`metrics.selectors` is their only caller and resolves what the user may see first.

Two sources, on purpose:

- Figures about *past instants* (sprint figures, burndown, cumulative flow) replay the
  WorkItemEvent history. Sprint figures and burndown pair each (instant, item) they need with
  the item's events and fold them with filtered aggregates (see `_last`); cumulative flow
  turns status events into per-day category deltas and a running sum (a window function).
- Figures about *the present* (cycle and lead time, throughput, WIP and aging, forecast
  samples) read WorkItem's denormalized `category`, `started_at` and `done_at`, which the
  writers keep equal to the history (see portfolio.models) and which are indexed by project.
  A done item's start is `COALESCE(started_at, done_at)`, so an item that went from todo
  straight to done has start = done time whichever way the writer stored it.

Decisions where METRICS.md is silent (each is tested in tests/metrics):

1. Instants. The state "at instant t" applies every event with `at <= t`: events at exactly t
   have already happened. Events at the same instant apply in id order.
2. Sprint membership at t: the `to_sprint` of the item's last sprint event at or before t.
   Before its first sprint event an item is in no sprint. "In the sprint at its start" uses
   t = sprint.start; "at close" uses t = close (completed_at, else end).
3. Points at t: `to_points` of the last points event at or before t; with none, the
   `from_points` of the first points event after t; with no points events at all, the item's
   current `story_points`. Empty (NULL) points count as 0 in every sum.
4. Category at t: the `to_category` of the last status event at or before t. Items are
   created with a first status event at `created_at`; before it the item *did not exist yet*:
   it is in no cumulative-flow column. (An item that is in a sprint before its first status
   event, which only a broken import can produce, counts as not done in the burndown.)
5. Done time at t: the last time the item entered a done *status* at or before t, if its
   category at t is done. METRICS.md says "status", and the importer and the demo writer
   maintain WorkItem.done_at that way, so the replay here and the denormalized column agree:
   a move between two done statuses (Done -> Closed) is an entry into Closed and moves the
   done time. A status event whose from_status equals its to_status is a repeat, not an
   entry. Start time (cycle time and age only) is WorkItem.started_at as the writers keep it:
   the first time the item entered in_progress, or done for an item that went from todo
   straight to done (start = done time); `COALESCE(started_at, done_at)` guards a done row
   written without one. (The writers' rule means an item that once went todo -> done, was
   reopened and then worked keeps its first done time as start.)
6. Completed points: items in the sprint at close, done at close, with done time in
   [start, close). Close is exclusive: an item done at exactly close is not completed. A
   reopened and redone item counts once, with its last done time.
7. Added scope: sprint events with `to_sprint` = the sprint and `at` in (start, close);
   joining at exactly start is committed, not added. Removed scope: sprint events with
   `from_sprint` = the sprint and `at` in (start, close); the carry-over written when a sprint
   is completed (at exactly close) is therefore not "removed". The points are those left by
   the item's events up to and including the change itself in (at, id) order, so a join and a
   re-estimate at the same instant count the change once (as added or as re-estimated).
8. Velocity: completed points. Say/do = completed / committed, None when committed is 0.
   Rolling velocity (N = 3): for each closed sprint, the mean completed points of that sprint
   and the closed sprints before it, at most N of them (fewer at the start of a project's
   history); None for sprints that are not closed. Sprint lists leave out future sprints.
9. Burndown days: the calendar days in the project's time zone from the local day of start to
   the local day of the last instant of the window (close - 1 microsecond) inclusive. The
   point of day d is the state just before min(next local midnight, close): all events
   strictly before that boundary. So an event at exactly local midnight belongs to the new
   day (as in throughput and cumulative flow), and the close-day point is the last state
   inside the window [start, close): carry-over events written at exactly close do not empty
   it, and remaining at close is exactly the work not completed. Ideal(d) = committed x
   (close - boundary) / (close - start), evaluated at the same boundaries, so it is 0 on the
   close day. A day's added / removed / re-estimated are the join events, leave events and
   net points changes (to - from, empty as 0) of items in the sprint once the points event
   had happened, with `at` inside that local day and inside (start, close).
10. Periods. Selectors take local calendar dates; a period [start, end) covers the instants
    from local midnight of start to local midnight of end in the project's time zone. Done
    items belong to the period that holds their done time. Weeks are ISO weeks labelled by
    their Monday: `date_trunc('week', done_at AT TIME ZONE tz)`; the first and last week of a
    period may be partial and then count only the period's days.
11. Percentiles: `percentile_cont` (linear interpolation), None when no item qualifies.
12. Cumulative flow: day d counts each item by its category after every status event strictly
    before the next local midnight, computed from per-day category deltas and a running sum
    (no per-day scan of the items).
13. WIP and aging use WorkItem.category = in_progress, i.e. the present state; `now` (a
    parameter, for reproducible figures) dates the ages, age = now - started_at in days, and
    the reference window: the cycle-time percentiles of the items done in the `history_days`
    (default 90) days before now.
14. Portfolio summary: velocity and say/do of each project's last N closed sprints (by start),
    cycle time p85 of items done in [now - 90 days, now), throughput of the last 8 complete
    local ISO weeks (the current, partial week left out), and WIP now. Each project is
    measured at its own `now` (Project.metrics_now: the snapshot instant of an imported
    snapshot), so the batched queries take one instant per project.
15. Batches. The queries behind the portfolio dashboard take many projects (or sprints) at
    once, so a page costs the same number of queries for 2 projects as for 200; the
    single-project runners call the same batched query with one id, so a project's figures
    are the same on its own page, in the API and on the portfolio dashboard.
16. Sprints without membership (Sprint.membership_known false: trackers that export sprint
    windows but not which items were in them, like the TAWOS projects of the shared data).
    Velocity is the points of the items whose done time lies in [start, close), with their
    current points (such data has no re-estimates); an item done inside two overlapping
    windows counts in both. Committed, added and removed scope and say/do are None: not
    defined, rather than a misleading 0. Such a sprint has no burndown.
17. Frozen figures. A closed sprint's figures depend only on its items' histories, which
    change only when a writer rewrites them, so the writers of history (importer, demo
    seeder) store them on the sprint inside the transaction that wrote the history
    (metrics.freezing), computed by this same query, and later reads use them instead of
    replaying the history again. A sprint without stored figures (or not closed) is replayed
    live: a writer that forgets to freeze costs time, never correctness.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection

# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SprintFigures:
    """One sprint's row of the sprint report (METRICS.md "Sprint figures")."""

    sprint_id: int
    project_id: int
    name: str
    state: str
    start: dt.datetime
    end: dt.datetime
    close: dt.datetime
    committed_items: int | None
    committed_points: Decimal | None
    completed_items: int
    completed_points: Decimal
    added_items: int | None
    added_points: Decimal | None
    removed_items: int | None
    removed_points: Decimal | None
    say_do: float | None
    rolling_velocity: Decimal | None
    membership_known: bool = True
    point: BurndownPoint | None = None
    """For an active sprint, when asked (`point_nows`): its burndown's latest ended day."""

    @property
    def velocity(self) -> Decimal:
        """The sprint's velocity is its completed points."""
        return self.completed_points


@dataclass(frozen=True, slots=True)
class BurndownPoint:
    """One day's point of a burndown: what remained at the end of `day` (measured just
    before its boundary) against the ideal line; what the risk signals read."""

    day: dt.date
    measured_before: dt.datetime
    remaining: Decimal
    ideal: float


@dataclass(frozen=True, slots=True)
class BurndownDay:
    day: dt.date
    measured_before: dt.datetime
    remaining: Decimal
    ideal: float
    added: Decimal
    removed: Decimal
    reestimated: Decimal


@dataclass(frozen=True, slots=True)
class Burndown:
    sprint_id: int
    project_id: int
    name: str
    state: str
    start: dt.datetime
    end: dt.datetime
    close: dt.datetime
    time_zone: str
    committed: Decimal
    days: tuple[BurndownDay, ...]


@dataclass(frozen=True, slots=True)
class CycleTimeItem:
    key: str
    started_at: dt.datetime
    done_at: dt.datetime
    cycle_days: float
    lead_days: float


@dataclass(frozen=True, slots=True)
class CycleTimeReport:
    start: dt.date
    end: dt.date
    count: int
    p50: float | None
    p85: float | None
    p95: float | None
    lead_p50: float | None
    lead_p85: float | None
    lead_p95: float | None
    items: tuple[CycleTimeItem, ...]


@dataclass(frozen=True, slots=True)
class WeekThroughput:
    week_start: dt.date
    count: int


@dataclass(frozen=True, slots=True)
class WipItem:
    key: str
    title: str
    status: str
    started_at: dt.datetime
    age_days: float
    story_points: Decimal | None


@dataclass(frozen=True, slots=True)
class WipAging:
    now: dt.datetime
    count: int
    items: tuple[WipItem, ...]
    reference_start: dt.datetime
    reference_items: int
    cycle_p50: float | None
    cycle_p85: float | None
    cycle_p95: float | None


@dataclass(frozen=True, slots=True)
class FlowDay:
    day: dt.date
    todo: int
    in_progress: int
    done: int


@dataclass(frozen=True, slots=True)
class DailyThroughput:
    """Forecast samples: completions per local day over [history_start, history_end); and
    the open scope at the same instant (items not done, their points), which is what a
    forecast of "the rest of the project" is about."""

    today: dt.date
    history_start: dt.date
    history_end: dt.date
    counts: tuple[int, ...]
    open_items: int = 0
    open_points: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class EpicRank:
    position: int
    epic_id: int
    key: str
    title: str
    status: str
    project_key: str | None
    business_value: int
    time_criticality: int
    risk_reduction: int
    job_size: int
    cost_of_delay: int
    wsjf: Decimal
    backlog_rank: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AgedItem:
    """An item in progress for longer than the project's cycle-time p85."""

    key: str
    age_days: float


@dataclass(frozen=True, slots=True)
class ProjectFlow:
    """The present-time flow figures of one project, at its own `now` (decision 14)."""

    project_id: int
    now: dt.datetime
    cycle_time_p85: float | None
    cycle_time_items: int
    recent_cycle_time_p85: float | None
    recent_cycle_time_items: int
    previous_cycle_time_p85: float | None
    previous_cycle_time_items: int
    trend_days: int
    throughput_weeks: tuple[WeekThroughput, ...]
    wip: int
    aging: tuple[AgedItem, ...]
    last_done_at: dt.datetime | None
    first_created_at: dt.datetime | None


# ---------------------------------------------------------------------------------------------
# SQL
# ---------------------------------------------------------------------------------------------


def _last(column: str, kind: str, upto: str) -> str:
    """SQL aggregate: `column` of the item's last `kind` event among those that happened by
    then (`upto`, a condition on the event `e`), in (at, id) order (decision 1).

    This is how the history is replayed: for each (instant, item) pair it needs, a query
    folds the item's events (a LATERAL aggregate over an index scan by work_item_id) with
    such filtered aggregates, one pass per pair. LATERAL fixes the plan to "per pair, read
    this item's few events by index" whatever the row estimates; the first design (validity
    ranges joined with `@>` over CTEs) let bad estimates pick nested loops over materialized
    CTEs: 5 s for one project of 52 sprints, against 60 ms now."""
    return (
        f"(array_agg(e.{column} ORDER BY e.at DESC, e.id DESC) "
        f"FILTER (WHERE e.kind = '{kind}' AND {upto}))[1]"
    )


def _points(upto: str, item: str) -> str:
    """SQL aggregate: the points of work item `item` by then (decision 3)."""
    return f"""CASE
        WHEN COUNT(*) FILTER (WHERE e.kind = 'points' AND {upto}) > 0
            THEN {_last("to_points", "points", upto)}
        WHEN COUNT(*) FILTER (WHERE e.kind = 'points') > 0
            THEN (array_agg(e.from_points ORDER BY e.at, e.id)
                  FILTER (WHERE e.kind = 'points'))[1]
        ELSE (SELECT w.story_points FROM portfolio_workitem w WHERE w.id = {item})
    END"""


def _done_entry(upto: str) -> str:
    """SQL aggregate: the last entry into a done status by then (decision 5); the done time
    when the category by then is done."""
    return (
        "MAX(e.at) FILTER (WHERE e.kind = 'status' AND e.to_category = 'done' "
        f"AND e.from_status IS DISTINCT FROM e.to_status AND {upto})"
    )


SPRINT_FIGURES_SQL = f"""
WITH sprint AS (
    SELECT s.id, s.project_id, s.name, s.state, s.start, s."end", s.close,
           s.membership_known, s.frozen, p.time_zone AS tz,
           CASE  -- the boundary of the burndown's latest ended day (as BURNDOWN_SQL's)
               WHEN s.state <> 'active' OR NOT s.membership_known OR n.point_now IS NULL
                   THEN NULL
               WHEN n.point_now >= s.close THEN s.close
               WHEN (n.point_now AT TIME ZONE p.time_zone)::date
                    > (s.start AT TIME ZONE p.time_zone)::date
                   THEN date_trunc('day', n.point_now AT TIME ZONE p.time_zone)
                        AT TIME ZONE p.time_zone
           END AS point_at
    FROM unnest(%(project_ids)s::bigint[], %(point_nows)s::timestamptz[]) AS n(id, point_now)
    JOIN portfolio_project p ON p.id = n.id
    CROSS JOIN LATERAL (
        SELECT s.id, s.project_id, s.name, s.state, s.start, s."end",
               COALESCE(s.completed_at, s."end") AS close, s.membership_known,
               CASE WHEN %(use_frozen)s AND s.state = 'closed' THEN s.frozen_figures END
                   AS frozen
        FROM portfolio_sprint s
        WHERE s.project_id = p.id AND s.state = ANY(%(states)s)
        ORDER BY s.start DESC, s.id DESC
        LIMIT %(per_project)s::integer
    ) AS s
),
live AS (
    SELECT * FROM sprint WHERE frozen IS NULL
),
pair AS (
    SELECT sp.id AS sprint_id, sp.start, sp.close,
           sp.point_at - interval '1 microsecond' AS point_measured, j.work_item_id
    FROM live sp
    CROSS JOIN LATERAL (
        SELECT DISTINCT j.work_item_id
        FROM portfolio_workitemevent j
        WHERE j.kind = 'sprint' AND j.to_sprint_id = sp.id
    ) AS j
    WHERE sp.membership_known
),
pair_state AS (
    SELECT p.sprint_id,
           st.in_at_start,
           st.points_at_start,
           st.in_at_close AND st.category_at_close = 'done'
               AND st.done_at_close >= p.start AND st.done_at_close < p.close AS completed,
           st.points_at_close,
           st.in_at_point AND st.category_at_point IS DISTINCT FROM 'done' AS open_at_point,
           st.points_at_point
    FROM pair p
    CROSS JOIN LATERAL (
        SELECT {_last("to_sprint_id", "sprint", "e.at <= p.start")} = p.sprint_id
                   AS in_at_start,
               {_points("e.at <= p.start", "p.work_item_id")} AS points_at_start,
               {_last("to_sprint_id", "sprint", "e.at <= p.close")} = p.sprint_id
                   AS in_at_close,
               {_last("to_category", "status", "e.at <= p.close")} AS category_at_close,
               {_done_entry("e.at <= p.close")} AS done_at_close,
               {_points("e.at <= p.close", "p.work_item_id")} AS points_at_close,
               {_last("to_sprint_id", "sprint", "e.at <= p.point_measured")} = p.sprint_id
                   AS in_at_point,
               {_last("to_category", "status", "e.at <= p.point_measured")}
                   AS category_at_point,
               CASE WHEN p.point_measured IS NOT NULL  -- else spare the item lookup
                   THEN {_points("e.at <= p.point_measured", "p.work_item_id")}
               END AS points_at_point
        FROM portfolio_workitemevent e
        WHERE e.work_item_id = p.work_item_id
    ) AS st
),
membership AS (
    SELECT sprint_id,
           COUNT(*) FILTER (WHERE in_at_start) AS committed_items,
           SUM(COALESCE(points_at_start, 0)) FILTER (WHERE in_at_start) AS committed_points,
           COUNT(*) FILTER (WHERE completed) AS completed_items,
           SUM(COALESCE(points_at_close, 0)) FILTER (WHERE completed) AS completed_points,
           SUM(COALESCE(points_at_point, 0)) FILTER (WHERE open_at_point) AS remaining_at_point
    FROM pair_state
    GROUP BY sprint_id
),
scope_change AS (
    SELECT p.sprint_id, c.joined, pts.points
    FROM pair p
    CROSS JOIN LATERAL (
        SELECT c.id, c.at, c.to_sprint_id IS NOT DISTINCT FROM p.sprint_id AS joined
        FROM portfolio_workitemevent c
        WHERE c.work_item_id = p.work_item_id AND c.kind = 'sprint'
          AND (c.to_sprint_id = p.sprint_id OR c.from_sprint_id = p.sprint_id)
          AND c.at > p.start AND c.at < p.close
        OFFSET 0  -- a fence: stay a per-pair index scan, never a hash over all events
    ) AS c
    CROSS JOIN LATERAL (
        SELECT {_points("(e.at, e.id) <= (c.at, c.id)", "p.work_item_id")} AS points
        FROM portfolio_workitemevent e
        WHERE e.work_item_id = p.work_item_id
    ) AS pts
),
scope AS (
    SELECT sprint_id,
           COUNT(*) FILTER (WHERE joined) AS added_items,
           SUM(COALESCE(points, 0)) FILTER (WHERE joined) AS added_points,
           COUNT(*) FILTER (WHERE NOT joined) AS removed_items,
           SUM(COALESCE(points, 0)) FILTER (WHERE NOT joined) AS removed_points
    FROM scope_change
    GROUP BY sprint_id
),
window_done AS (
    SELECT sp.id AS sprint_id, COUNT(wi.id) AS completed_items,
           SUM(COALESCE(wi.story_points, 0)) AS completed_points
    FROM live sp
    JOIN portfolio_workitem wi
        ON wi.project_id = sp.project_id AND wi.category = 'done'
       AND wi.done_at >= sp.start AND wi.done_at < sp.close
    WHERE NOT sp.membership_known
    GROUP BY sp.id
),
computed AS (
    SELECT sp.id,
           CASE WHEN sp.membership_known THEN COALESCE(m.committed_items, 0) END
               AS committed_items,
           CASE WHEN sp.membership_known THEN COALESCE(m.committed_points, 0) END
               AS committed_points,
           CASE WHEN sp.membership_known THEN COALESCE(m.completed_items, 0)
                ELSE COALESCE(w.completed_items, 0) END AS completed_items,
           CASE WHEN sp.membership_known THEN COALESCE(m.completed_points, 0)
                ELSE COALESCE(w.completed_points, 0) END AS completed_points,
           CASE WHEN sp.membership_known THEN COALESCE(sc.added_items, 0) END AS added_items,
           CASE WHEN sp.membership_known THEN COALESCE(sc.added_points, 0) END AS added_points,
           CASE WHEN sp.membership_known THEN COALESCE(sc.removed_items, 0) END
               AS removed_items,
           CASE WHEN sp.membership_known THEN COALESCE(sc.removed_points, 0) END
               AS removed_points,
           COALESCE(m.remaining_at_point, 0) AS remaining_at_point
    FROM live sp
    LEFT JOIN membership m ON m.sprint_id = sp.id
    LEFT JOIN scope sc ON sc.sprint_id = sp.id
    LEFT JOIN window_done w ON w.sprint_id = sp.id
),
figures AS (
    SELECT sp.id, sp.project_id, sp.name, sp.state, sp.start, sp."end", sp.close,
           sp.membership_known, sp.frozen IS NOT NULL AS was_frozen, sp.tz, sp.point_at,
           c.remaining_at_point,
           COALESCE((sp.frozen->>'committed_items')::integer, c.committed_items)
               AS committed_items,
           COALESCE((sp.frozen->>'committed_points')::numeric, c.committed_points)
               AS committed_points,
           COALESCE((sp.frozen->>'completed_items')::integer, c.completed_items)
               AS completed_items,
           COALESCE((sp.frozen->>'completed_points')::numeric, c.completed_points)
               AS completed_points,
           COALESCE((sp.frozen->>'added_items')::integer, c.added_items) AS added_items,
           COALESCE((sp.frozen->>'added_points')::numeric, c.added_points) AS added_points,
           COALESCE((sp.frozen->>'removed_items')::integer, c.removed_items) AS removed_items,
           COALESCE((sp.frozen->>'removed_points')::numeric, c.removed_points)
               AS removed_points
    FROM sprint sp
    LEFT JOIN computed c ON c.id = sp.id
),
rolling AS (
    SELECT id,
           AVG(completed_points) OVER (
               PARTITION BY project_id ORDER BY start, id
               ROWS BETWEEN %(rolling_preceding)s PRECEDING AND CURRENT ROW
           ) AS rolling_velocity
    FROM figures
    WHERE state = 'closed'
)
SELECT f.id, f.project_id, f.name, f.state, f.start, f."end", f.close, f.membership_known,
       f.committed_items, f.committed_points, f.completed_items, f.completed_points,
       f.added_items, f.added_points, f.removed_items, f.removed_points,
       (f.completed_points / NULLIF(f.committed_points, 0))::float8 AS say_do,
       r.rolling_velocity,
       ((f.point_at - interval '1 microsecond') AT TIME ZONE f.tz)::date AS point_day,
       f.point_at - interval '1 microsecond' AS point_measured_before,
       f.remaining_at_point AS point_remaining,
       (f.committed_points * EXTRACT(EPOCH FROM f.close - f.point_at)
            / EXTRACT(EPOCH FROM f.close - f.start))::float8 AS point_ideal
FROM figures f
LEFT JOIN rolling r ON r.id = f.id
ORDER BY f.project_id, f.start, f.id
"""
"""METRICS.md "Sprint figures": committed, completed (velocity), added and removed scope,
say/do and rolling velocity of the chosen sprints of several projects at once (decisions 1-8,
16 and 17).
The items considered for a sprint are those that ever joined it. Points of a scope change are
those left by the events up to and including the change itself in (at, id) order, so a join
and a re-estimate at the same instant are never counted twice. Parameters: project_ids,
states, per_project (keep each project's latest N sprints; NULL for all), rolling_preceding
(N - 1), use_frozen (read a closed sprint's stored figures when it has them; false to replay
every sprint, which is how they are computed for storing), and point_nows (aligned with
project_ids, NULLs to skip): for each active sprint with known membership, the point of its
burndown's latest day ended by that instant, exactly as BURNDOWN_SQL computes that day's
remaining points and ideal line, from the same replay of its items (the one point the risk
signals need, without a second pass over the history)."""

BURNDOWN_SQL = f"""
WITH sprint AS (
    SELECT s.id, s.project_id, s.name, s.state, s.start, s."end",
           COALESCE(s.completed_at, s."end") AS close, p.time_zone AS tz
    FROM portfolio_sprint s
    JOIN portfolio_project p ON p.id = s.project_id
    WHERE s.id = %(sprint_id)s AND s.project_id = %(project_id)s
),
scope_item AS (
    SELECT DISTINCT sp.id AS sprint_id, j.work_item_id
    FROM sprint sp
    JOIN portfolio_workitemevent j ON j.kind = 'sprint' AND j.to_sprint_id = sp.id
),
calendar AS (
    SELECT sp.id AS sprint_id, local_day::date AS day,
           LEAST((local_day + interval '1 day') AT TIME ZONE sp.tz, sp.close) AS boundary
    FROM sprint sp
    CROSS JOIN LATERAL generate_series(
        (sp.start AT TIME ZONE sp.tz)::date::timestamp,
        ((sp.close - interval '1 microsecond') AT TIME ZONE sp.tz)::date::timestamp,
        interval '1 day'
    ) AS local_day
),
instant AS (
    SELECT sp.id AS sprint_id, NULL::date AS day, sp.start AS measured FROM sprint sp
    UNION ALL
    SELECT sprint_id, day, boundary - interval '1 microsecond' FROM calendar
),
item_state AS (
    SELECT i.sprint_id, i.day, st.*
    FROM instant i
    JOIN scope_item s ON s.sprint_id = i.sprint_id
    CROSS JOIN LATERAL (
        SELECT {_last("to_sprint_id", "sprint", "e.at <= i.measured")} = i.sprint_id
                   AS in_sprint,
               {_last("to_category", "status", "e.at <= i.measured")} AS category,
               {_points("e.at <= i.measured", "s.work_item_id")} AS points
        FROM portfolio_workitemevent e
        WHERE e.work_item_id = s.work_item_id
    ) AS st
),
committed AS (
    SELECT sp.id AS sprint_id,
           COALESCE(SUM(COALESCE(st.points, 0)) FILTER (WHERE st.in_sprint), 0) AS points
    FROM sprint sp
    LEFT JOIN item_state st ON st.sprint_id = sp.id AND st.day IS NULL
    GROUP BY sp.id
),
remaining AS (
    SELECT sprint_id, day, SUM(COALESCE(points, 0)) AS points
    FROM item_state
    WHERE day IS NOT NULL AND in_sprint AND category IS DISTINCT FROM 'done'
    GROUP BY sprint_id, day
),
change AS (
    SELECT sp.id AS sprint_id, (c.at AT TIME ZONE sp.tz)::date AS day, c.kind,
           c.kind = 'sprint' AND c.to_sprint_id IS NOT DISTINCT FROM sp.id AS joined,
           c.kind = 'sprint' AND c.from_sprint_id IS NOT DISTINCT FROM sp.id AS left_sprint,
           COALESCE(c.to_points, 0) - COALESCE(c.from_points, 0) AS delta,
           st.points, st.in_sprint
    FROM sprint sp
    JOIN scope_item s ON s.sprint_id = sp.id
    JOIN portfolio_workitemevent c
        ON c.work_item_id = s.work_item_id AND c.at > sp.start AND c.at < sp.close
       AND (c.kind = 'points' OR c.to_sprint_id = sp.id OR c.from_sprint_id = sp.id)
    CROSS JOIN LATERAL (
        SELECT {_points("(e.at, e.id) <= (c.at, c.id)", "s.work_item_id")} AS points,
               {_last("to_sprint_id", "sprint", "(e.at, e.id) <= (c.at, c.id)")} = sp.id
                   AS in_sprint
        FROM portfolio_workitemevent e
        WHERE e.work_item_id = s.work_item_id
    ) AS st
),
change_by_day AS (
    SELECT sprint_id, day,
           SUM(COALESCE(points, 0)) FILTER (WHERE joined) AS added,
           SUM(COALESCE(points, 0)) FILTER (WHERE left_sprint) AS removed,
           SUM(delta) FILTER (WHERE kind = 'points' AND in_sprint) AS reestimated
    FROM change
    GROUP BY sprint_id, day
)
SELECT sp.id, sp.project_id, sp.name, sp.state, sp.start, sp."end", sp.close, sp.tz,
       cm.points AS committed,
       c.day, c.boundary - interval '1 microsecond' AS measured_before,
       COALESCE(r.points, 0) AS remaining,
       (cm.points * EXTRACT(EPOCH FROM sp.close - c.boundary)
            / EXTRACT(EPOCH FROM sp.close - sp.start))::float8 AS ideal,
       COALESCE(ch.added, 0) AS added,
       COALESCE(ch.removed, 0) AS removed,
       COALESCE(ch.reestimated, 0) AS reestimated
FROM sprint sp
JOIN committed cm ON cm.sprint_id = sp.id
LEFT JOIN calendar c ON c.sprint_id = sp.id
LEFT JOIN remaining r ON r.sprint_id = sp.id AND r.day = c.day
LEFT JOIN change_by_day ch ON ch.sprint_id = sp.id AND ch.day = c.day
ORDER BY sp.id, c.day
"""
"""METRICS.md "Burndown" of a sprint: remaining points at the end of each local day, the
ideal line and the day's added, removed and re-estimated points (decisions 7 and 9), for the
items that ever joined the sprint. A re-estimate counts when the item was in the sprint once
the points event itself had happened. Parameters: sprint_id, project_id (no row unless the
sprint belongs to that project). The risk signals' one point of an active sprint comes from
SPRINT_FIGURES_SQL (`point_nows`), computed the same way."""

CYCLE_TIMES_SQL = """
WITH project AS (
    SELECT p.id,
           (%(start)s::date)::timestamp AT TIME ZONE p.time_zone AS start_at,
           (%(end)s::date)::timestamp AT TIME ZONE p.time_zone AS end_at
    FROM portfolio_project p
    WHERE p.id = %(project_id)s
),
item AS (
    SELECT wi.key, COALESCE(wi.started_at, wi.done_at) AS started_at, wi.done_at,
           EXTRACT(EPOCH FROM wi.done_at - COALESCE(wi.started_at, wi.done_at))::float8 / 86400
               AS cycle_days,
           EXTRACT(EPOCH FROM wi.done_at - wi.created_at)::float8 / 86400 AS lead_days
    FROM portfolio_workitem wi
    JOIN project pr ON pr.id = wi.project_id
    WHERE wi.category = 'done' AND wi.done_at >= pr.start_at AND wi.done_at < pr.end_at
),
stat AS (
    SELECT COUNT(*) AS items,
           percentile_cont(ARRAY[0.5, 0.85, 0.95]) WITHIN GROUP (ORDER BY cycle_days) AS cycle,
           percentile_cont(ARRAY[0.5, 0.85, 0.95]) WITHIN GROUP (ORDER BY lead_days) AS lead
    FROM item
)
SELECT stat.items, stat.cycle, stat.lead,
       item.key, item.started_at, item.done_at, item.cycle_days, item.lead_days
FROM stat
LEFT JOIN item ON true
ORDER BY item.done_at, item.key
"""
"""METRICS.md "Cycle time" and "Lead time" of the items whose done time lies in the local
period [start, end), with their p50/p85/p95 by `percentile_cont` (decisions 10-11). One row
per item; the statistics repeat on every row (one row with no item when the period is empty).
Parameters: project_id, start, end (dates)."""

THROUGHPUT_SQL = """
WITH project AS (
    SELECT p.id, p.time_zone AS tz,
           (%(start)s::date)::timestamp AT TIME ZONE p.time_zone AS start_at,
           (%(end)s::date)::timestamp AT TIME ZONE p.time_zone AS end_at
    FROM portfolio_project p
    WHERE p.id = %(project_id)s
),
week AS (
    SELECT week_start::date AS week_start
    FROM generate_series(
        date_trunc('week', (%(start)s::date)::timestamp),
        date_trunc('week', (%(end)s::date)::timestamp - interval '1 day'),
        interval '1 week'
    ) AS week_start
    WHERE %(start)s::date < %(end)s::date
),
done AS (
    SELECT date_trunc('week', wi.done_at AT TIME ZONE pr.tz)::date AS week_start,
           COUNT(*) AS items
    FROM portfolio_workitem wi
    JOIN project pr ON pr.id = wi.project_id
    WHERE wi.category = 'done' AND wi.done_at >= pr.start_at AND wi.done_at < pr.end_at
    GROUP BY 1
)
SELECT week.week_start, COALESCE(done.items, 0) AS items
FROM week
LEFT JOIN done ON done.week_start = week.week_start
ORDER BY week.week_start
"""
"""METRICS.md "Throughput": items done per ISO week (Monday) of the project's time zone over the
local period [start, end), weeks with none as 0 (decision 10). Parameters: project_id, start,
end (dates)."""

WIP_AGING_SQL = """
WITH reference AS (
    SELECT COUNT(*) AS items,
           percentile_cont(ARRAY[0.5, 0.85, 0.95]) WITHIN GROUP (
               ORDER BY EXTRACT(EPOCH FROM wi.done_at - COALESCE(wi.started_at, wi.done_at))
                   ::float8 / 86400
           ) AS cycle
    FROM portfolio_workitem wi
    WHERE wi.project_id = %(project_id)s AND wi.category = 'done'
      AND wi.done_at >= %(since)s AND wi.done_at < %(now)s
),
wip AS (
    SELECT wi.key, wi.title, wi.status, wi.story_points,
           COALESCE(wi.started_at, wi.created_at) AS started_at,
           EXTRACT(EPOCH FROM %(now)s - COALESCE(wi.started_at, wi.created_at))::float8 / 86400
               AS age_days
    FROM portfolio_workitem wi
    WHERE wi.project_id = %(project_id)s AND wi.category = 'in_progress'
)
SELECT reference.items, reference.cycle,
       wip.key, wip.title, wip.status, wip.story_points, wip.started_at, wip.age_days
FROM reference
LEFT JOIN wip ON true
ORDER BY wip.age_days DESC, wip.key
"""
"""METRICS.md "WIP" and "Age": the items in progress now, oldest first, with the cycle-time
p50/p85/p95 of the items done in [since, now) for reference (decision 13). An in-progress row
without started_at (only a broken writer makes one) ages from its creation. Parameters:
project_id, now, since."""

CUMULATIVE_FLOW_SQL = """
WITH project AS (
    SELECT p.id, p.time_zone AS tz,
           (%(end)s::date)::timestamp AT TIME ZONE p.time_zone AS end_at
    FROM portfolio_project p
    WHERE p.id = %(project_id)s
),
daily AS (
    SELECT GREATEST((e.at AT TIME ZONE pr.tz)::date, %(start)s::date) AS day,
           COUNT(*) FILTER (WHERE e.to_category = 'todo')
               - COUNT(*) FILTER (WHERE e.from_category = 'todo') AS todo,
           COUNT(*) FILTER (WHERE e.to_category = 'in_progress')
               - COUNT(*) FILTER (WHERE e.from_category = 'in_progress') AS in_progress,
           COUNT(*) FILTER (WHERE e.to_category = 'done')
               - COUNT(*) FILTER (WHERE e.from_category = 'done') AS done
    FROM portfolio_workitemevent e
    JOIN project pr ON pr.id = e.project_id
    WHERE e.kind = 'status' AND e.at < pr.end_at
    GROUP BY 1
),
calendar AS (
    SELECT local_day::date AS day
    FROM generate_series(
        (%(start)s::date)::timestamp,
        (%(end)s::date)::timestamp - interval '1 day',
        interval '1 day'
    ) AS local_day
)
SELECT c.day,
       SUM(COALESCE(d.todo, 0)) OVER w AS todo,
       SUM(COALESCE(d.in_progress, 0)) OVER w AS in_progress,
       SUM(COALESCE(d.done, 0)) OVER w AS done
FROM calendar c
LEFT JOIN daily d ON d.day = c.day
WINDOW w AS (ORDER BY c.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY c.day
"""
"""METRICS.md "Cumulative flow": items per category at the end of each local day of
[start, end) (decisions 4 and 12). Every status event adds 1 to its category and takes 1 from
the item's previous category (the `from_category` the writers record, the category of the
item's previous status event) on its local day; the days before start fold into the first
day, so one grouped pass and a running sum give the counts. Parameters: project_id, start,
end (dates)."""

DAILY_THROUGHPUT_SQL = """
WITH project AS (
    SELECT p.id, p.time_zone AS tz, (n.now AT TIME ZONE p.time_zone)::date AS today
    FROM unnest(%(project_ids)s::bigint[], %(nows)s::timestamptz[]) AS n(id, now)
    JOIN portfolio_project p ON p.id = n.id
),
bounds AS MATERIALIZED (
    SELECT pr.id, pr.tz, pr.today,
           LEAST(pr.today, GREATEST(
               pr.today - %(history_days)s::integer,
               COALESCE(
                   ((SELECT MIN(wi.created_at) FROM portfolio_workitem wi
                     WHERE wi.project_id = pr.id) AT TIME ZONE pr.tz)::date,
                   pr.today
               )
           )) AS first_day
    FROM project pr
),
done AS (
    SELECT b.id AS project_id, (d.done_at AT TIME ZONE b.tz)::date AS day, COUNT(*) AS items
    FROM bounds b
    CROSS JOIN LATERAL (
        SELECT wi.done_at  -- a done time implies the done category (a check constraint)
        FROM portfolio_workitem wi
        WHERE wi.project_id = b.id
          AND wi.done_at >= b.first_day::timestamp AT TIME ZONE b.tz
          AND wi.done_at < b.today::timestamp AT TIME ZONE b.tz
        OFFSET 0  -- a fence: one index-only range scan per project
    ) AS d
    GROUP BY 1, 2
),
daily AS (
    SELECT b.id, array_agg(COALESCE(done.items, 0) ORDER BY offset_days) AS counts
    FROM bounds b
    CROSS JOIN LATERAL generate_series(0, b.today - b.first_day - 1) AS offset_days
    LEFT JOIN done ON done.project_id = b.id AND done.day = b.first_day + offset_days
    GROUP BY b.id
),
open_scope AS (
    SELECT b.id AS project_id, o.items, o.points
    FROM bounds b
    CROSS JOIN LATERAL (
        SELECT COUNT(*) AS items, COALESCE(SUM(wi.story_points), 0) AS points
        FROM portfolio_workitem wi
        WHERE wi.project_id = b.id AND wi.category IN ('todo', 'in_progress')
    ) AS o
)
SELECT b.id, b.today, b.first_day,
       COALESCE(daily.counts, ARRAY[]::bigint[]) AS counts,
       open_scope.items AS open_items,
       open_scope.points AS open_points
FROM bounds b
LEFT JOIN daily ON daily.id = b.id
JOIN open_scope ON open_scope.project_id = b.id
ORDER BY b.id
"""
"""METRICS.md "Forecasting" samples of several projects, each at its own `now`: items done per
local day, zero days included, over the whole days before today: [max(today - history_days,
day of the project's first work item), today). Today is left out because it is partial and
would bias the sample low; days before the project had any work item are left out because
they are not history (a project without work items has none). Alongside, the open scope the
forecasts are usually about: the items not done now and their points (empty as 0).
Parameters: project_ids and nows (arrays of equal length), history_days."""

EPIC_RANKING_SQL = """
SELECT ROW_NUMBER() OVER (
           ORDER BY (e.business_value + e.time_criticality + e.risk_reduction)::numeric
                        / e.job_size DESC,
                    e.job_size ASC, e.created_at ASC, e.id ASC
       ) AS position,
       e.id, e.key, e.title, e.status, p.key AS project_key,
       e.business_value, e.time_criticality, e.risk_reduction, e.job_size,
       e.business_value + e.time_criticality + e.risk_reduction AS cost_of_delay,
       ROUND((e.business_value + e.time_criticality + e.risk_reduction)::numeric
             / e.job_size, 2) AS wsjf,
       e.rank, e.created_at
FROM portfolio_epic e
LEFT JOIN portfolio_project p ON p.id = e.project_id
WHERE e.portfolio_id = %(portfolio_id)s AND e.status <> 'done'
ORDER BY position
"""
"""METRICS.md "WSJF": cost of delay = business value + time criticality + risk reduction;
WSJF = cost of delay / job size, ranked on the exact quotient (the 2-decimal value is for
display), ties by lower job size, then older created_at, then id. Done epics are not ranked.
Parameter: portfolio_id."""

PORTFOLIO_FLOW_SQL = """
WITH project AS (
    SELECT p.id, p.time_zone AS tz, n.now,
           date_trunc('week', n.now AT TIME ZONE p.time_zone)::date AS this_week
    FROM unnest(%(project_ids)s::bigint[], %(nows)s::timestamptz[]) AS n(id, now)
    JOIN portfolio_project p ON p.id = n.id
),
recent_done AS (
    SELECT pr.id AS project_id,
           EXTRACT(EPOCH FROM wi.done_at - COALESCE(wi.started_at, wi.done_at))::float8 / 86400
               AS cycle_days,
           wi.done_at >= pr.now - %(cycle_days)s::integer * interval '24 hours'
               AS in_cycle_window,
           wi.done_at >= pr.now - %(trend_days)s::integer * interval '24 hours'
               AS in_recent_window,
           wi.done_at >= pr.now - 2 * %(trend_days)s::integer * interval '24 hours'
               AND wi.done_at < pr.now - %(trend_days)s::integer * interval '24 hours'
               AS in_previous_window
    FROM project pr
    CROSS JOIN LATERAL (
        SELECT wi.done_at, wi.started_at
        FROM portfolio_workitem wi
        WHERE wi.project_id = pr.id AND wi.done_at < pr.now
          AND wi.done_at >= pr.now - GREATEST(%(cycle_days)s::integer,
                                              2 * %(trend_days)s::integer) * interval '24 hours'
        OFFSET 0  -- a fence: one (project, done_at) index range scan per project
    ) AS wi
),
cycle AS (
    SELECT project_id,
           COUNT(*) FILTER (WHERE in_cycle_window) AS items,
           percentile_cont(0.85) WITHIN GROUP (ORDER BY cycle_days)
               FILTER (WHERE in_cycle_window) AS p85,
           COUNT(*) FILTER (WHERE in_recent_window) AS recent_items,
           percentile_cont(0.85) WITHIN GROUP (ORDER BY cycle_days)
               FILTER (WHERE in_recent_window) AS recent_p85,
           COUNT(*) FILTER (WHERE in_previous_window) AS previous_items,
           percentile_cont(0.85) WITHIN GROUP (ORDER BY cycle_days)
               FILTER (WHERE in_previous_window) AS previous_p85
    FROM recent_done
    GROUP BY project_id
),
week AS (
    SELECT pr.id AS project_id, week_start::date AS week_start
    FROM project pr,
         generate_series(
             (pr.this_week - 7 * %(weeks)s::integer)::timestamp,
             (pr.this_week - 7)::timestamp,
             interval '1 week'
         ) AS week_start
),
weekly AS (
    SELECT wi.project_id, date_trunc('week', wi.done_at AT TIME ZONE pr.tz)::date AS week_start,
           COUNT(*) AS items
    FROM portfolio_workitem wi
    JOIN project pr ON pr.id = wi.project_id
    WHERE wi.done_at >= (pr.this_week - 7 * %(weeks)s::integer)::timestamp AT TIME ZONE pr.tz
      AND wi.done_at < pr.this_week::timestamp AT TIME ZONE pr.tz
    GROUP BY 1, 2
),
throughput AS (
    SELECT w.project_id,
           array_agg(w.week_start ORDER BY w.week_start) AS weeks,
           array_agg(COALESCE(weekly.items, 0) ORDER BY w.week_start) AS counts
    FROM week w
    LEFT JOIN weekly ON weekly.project_id = w.project_id AND weekly.week_start = w.week_start
    GROUP BY w.project_id
),
wip_item AS (
    SELECT wi.project_id, wi.key,
           EXTRACT(EPOCH FROM pr.now - COALESCE(wi.started_at, wi.created_at))::float8 / 86400
               AS age_days
    FROM portfolio_workitem wi
    JOIN project pr ON pr.id = wi.project_id
    WHERE wi.category = 'in_progress'
),
wip AS (
    SELECT w.project_id, COUNT(*) AS items,
           array_agg(w.key ORDER BY w.age_days DESC, w.key)
               FILTER (WHERE w.age_days > cycle.p85) AS aging_keys,
           array_agg(w.age_days ORDER BY w.age_days DESC, w.key)
               FILTER (WHERE w.age_days > cycle.p85) AS aging_days
    FROM wip_item w
    LEFT JOIN cycle ON cycle.project_id = w.project_id
    GROUP BY w.project_id
),
activity AS MATERIALIZED (  -- once per project: inlined, it ran once per joined row
    SELECT pr.id AS project_id,
           (SELECT MAX(wi.done_at) FROM portfolio_workitem wi
            WHERE wi.project_id = pr.id AND wi.done_at < pr.now)
               AS last_done_at,
           (SELECT MIN(wi.created_at) FROM portfolio_workitem wi WHERE wi.project_id = pr.id)
               AS first_created_at
    FROM project pr
)
SELECT pr.id, pr.now, cycle.p85, COALESCE(cycle.items, 0) AS cycle_items,
       cycle.recent_p85, COALESCE(cycle.recent_items, 0) AS recent_items,
       cycle.previous_p85, COALESCE(cycle.previous_items, 0) AS previous_items,
       throughput.weeks, throughput.counts, COALESCE(wip.items, 0) AS wip,
       wip.aging_keys, wip.aging_days, activity.last_done_at, activity.first_created_at
FROM project pr
LEFT JOIN cycle ON cycle.project_id = pr.id
LEFT JOIN throughput ON throughput.project_id = pr.id
LEFT JOIN wip ON wip.project_id = pr.id
LEFT JOIN activity ON activity.project_id = pr.id
ORDER BY pr.id
"""
"""The present-time figures of many projects in one query, each project at its own `now`
(decision 14): cycle time p85 of items done in [now - cycle_days, now), and of the two
trend windows [now - trend_days, now) and [now - 2 x trend_days, now - trend_days); weekly
throughput of the last `weeks` complete local ISO weeks; WIP now, with the items in progress
whose age exceeds that p85 (oldest first), aged as in WIP_AGING_SQL; the last done time before
now and the first item's creation. Windows of days are 24-hour days back from now, as
`now - timedelta(days=...)` in Python. Parameters: project_ids and nows (arrays of equal
length), cycle_days, trend_days, weeks. Items are done exactly when they have a done time (a
check constraint), so the scans read (project, done_at, started_at) index-only."""


# ---------------------------------------------------------------------------------------------
# Runners: one query each, no permission checks (see the module docstring)
# ---------------------------------------------------------------------------------------------


def _fetch(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _percentile(values: Sequence[float] | None, index: int) -> float | None:
    return None if values is None else values[index]


def sprint_figures_unsafe(
    *,
    project_ids: Sequence[int],
    states: Iterable[str],
    per_project: int | None = None,
    rolling_window: int = 3,
    use_frozen: bool = True,
    point_nows: Mapping[int, dt.datetime] | None = None,
) -> list[SprintFigures]:
    """Sprint figures of several projects' sprints, by project then start. With
    `point_nows` (project id -> instant), each active sprint also carries its burndown's
    latest day ended by its project's instant (`point`)."""
    if rolling_window < 1:
        raise ValueError("The rolling velocity needs a window of at least one sprint.")
    ids = list(project_ids)
    rows = _fetch(
        SPRINT_FIGURES_SQL,
        {
            "project_ids": ids,
            "point_nows": [None if point_nows is None else point_nows.get(pk) for pk in ids],
            "states": list(states),
            "per_project": per_project,
            "rolling_preceding": rolling_window - 1,
            "use_frozen": use_frozen,
        },
    )
    return [
        SprintFigures(
            sprint_id=row["id"],
            project_id=row["project_id"],
            name=row["name"],
            state=row["state"],
            start=row["start"],
            end=row["end"],
            close=row["close"],
            committed_items=row["committed_items"],
            committed_points=row["committed_points"],
            completed_items=row["completed_items"],
            completed_points=row["completed_points"],
            added_items=row["added_items"],
            added_points=row["added_points"],
            removed_items=row["removed_items"],
            removed_points=row["removed_points"],
            say_do=row["say_do"],
            rolling_velocity=row["rolling_velocity"],
            membership_known=row["membership_known"],
            point=(
                BurndownPoint(
                    day=row["point_day"],
                    measured_before=row["point_measured_before"],
                    remaining=row["point_remaining"],
                    ideal=row["point_ideal"],
                )
                if row["point_day"] is not None
                else None
            ),
        )
        for row in rows
    ]


def burndown_unsafe(*, sprint_id: int, project_id: int) -> Burndown | None:
    """The sprint's burndown, or None if no such sprint belongs to the project."""
    rows = _fetch(BURNDOWN_SQL, {"sprint_id": sprint_id, "project_id": project_id})
    if not rows:
        return None
    first = rows[0]
    return Burndown(
        sprint_id=sprint_id,
        project_id=first["project_id"],
        name=first["name"],
        state=first["state"],
        start=first["start"],
        end=first["end"],
        close=first["close"],
        time_zone=first["tz"],
        committed=first["committed"],
        days=tuple(
            BurndownDay(
                day=row["day"],
                measured_before=row["measured_before"],
                remaining=row["remaining"],
                ideal=row["ideal"],
                added=row["added"],
                removed=row["removed"],
                reestimated=row["reestimated"],
            )
            for row in rows
            if row["day"] is not None
        ),
    )


def cycle_times_unsafe(*, project_id: int, start: dt.date, end: dt.date) -> CycleTimeReport:
    rows = _fetch(CYCLE_TIMES_SQL, {"project_id": project_id, "start": start, "end": end})
    first = rows[0]
    return CycleTimeReport(
        start=start,
        end=end,
        count=first["items"],
        p50=_percentile(first["cycle"], 0),
        p85=_percentile(first["cycle"], 1),
        p95=_percentile(first["cycle"], 2),
        lead_p50=_percentile(first["lead"], 0),
        lead_p85=_percentile(first["lead"], 1),
        lead_p95=_percentile(first["lead"], 2),
        items=tuple(
            CycleTimeItem(
                key=row["key"],
                started_at=row["started_at"],
                done_at=row["done_at"],
                cycle_days=row["cycle_days"],
                lead_days=row["lead_days"],
            )
            for row in rows
            if row["key"] is not None
        ),
    )


def throughput_unsafe(*, project_id: int, start: dt.date, end: dt.date) -> list[WeekThroughput]:
    rows = _fetch(THROUGHPUT_SQL, {"project_id": project_id, "start": start, "end": end})
    return [WeekThroughput(week_start=row["week_start"], count=row["items"]) for row in rows]


def wip_aging_unsafe(*, project_id: int, now: dt.datetime, history_days: int) -> WipAging:
    since = now - dt.timedelta(days=history_days)
    rows = _fetch(WIP_AGING_SQL, {"project_id": project_id, "now": now, "since": since})
    first = rows[0]
    items = tuple(
        WipItem(
            key=row["key"],
            title=row["title"],
            status=row["status"],
            started_at=row["started_at"],
            age_days=row["age_days"],
            story_points=row["story_points"],
        )
        for row in rows
        if row["key"] is not None
    )
    return WipAging(
        now=now,
        count=len(items),
        items=items,
        reference_start=since,
        reference_items=first["items"],
        cycle_p50=_percentile(first["cycle"], 0),
        cycle_p85=_percentile(first["cycle"], 1),
        cycle_p95=_percentile(first["cycle"], 2),
    )


def cumulative_flow_unsafe(*, project_id: int, start: dt.date, end: dt.date) -> list[FlowDay]:
    rows = _fetch(CUMULATIVE_FLOW_SQL, {"project_id": project_id, "start": start, "end": end})
    return [
        FlowDay(
            day=row["day"],
            todo=int(row["todo"]),
            in_progress=int(row["in_progress"]),
            done=int(row["done"]),
        )
        for row in rows
    ]


def daily_throughputs_unsafe(
    *, nows: Mapping[int, dt.datetime], history_days: int
) -> dict[int, DailyThroughput]:
    """Forecast samples and open scope of each project (id -> its `now`), by project id."""
    rows = _fetch(
        DAILY_THROUGHPUT_SQL,
        {"project_ids": list(nows), "nows": list(nows.values()), "history_days": history_days},
    )
    return {
        row["id"]: DailyThroughput(
            today=row["today"],
            history_start=row["first_day"],
            history_end=row["today"],
            counts=tuple(int(count) for count in row["counts"]),
            open_items=row["open_items"],
            open_points=row["open_points"],
        )
        for row in rows
    }


def daily_throughput_unsafe(
    *, project_id: int, now: dt.datetime, history_days: int
) -> DailyThroughput:
    return daily_throughputs_unsafe(nows={project_id: now}, history_days=history_days)[project_id]


def epic_ranking_unsafe(*, portfolio_id: int) -> list[EpicRank]:
    rows = _fetch(EPIC_RANKING_SQL, {"portfolio_id": portfolio_id})
    return [
        EpicRank(
            position=row["position"],
            epic_id=row["id"],
            key=row["key"],
            title=row["title"],
            status=row["status"],
            project_key=row["project_key"],
            business_value=row["business_value"],
            time_criticality=row["time_criticality"],
            risk_reduction=row["risk_reduction"],
            job_size=row["job_size"],
            cost_of_delay=row["cost_of_delay"],
            wsjf=row["wsjf"],
            backlog_rank=row["rank"],
            created_at=row["created_at"],
        )
        for row in rows
    ]


def portfolio_flow_unsafe(
    *,
    nows: Mapping[int, dt.datetime],
    cycle_days: int,
    weeks: int,
    trend_days: int = 30,
) -> dict[int, ProjectFlow]:
    """Present-time flow figures of each project (id -> its `now`), by project id."""
    rows = _fetch(
        PORTFOLIO_FLOW_SQL,
        {
            "project_ids": list(nows),
            "nows": list(nows.values()),
            "cycle_days": cycle_days,
            "trend_days": trend_days,
            "weeks": weeks,
        },
    )
    return {
        row["id"]: ProjectFlow(
            project_id=row["id"],
            now=row["now"],
            cycle_time_p85=row["p85"],
            cycle_time_items=row["cycle_items"],
            recent_cycle_time_p85=row["recent_p85"],
            recent_cycle_time_items=row["recent_items"],
            previous_cycle_time_p85=row["previous_p85"],
            previous_cycle_time_items=row["previous_items"],
            trend_days=trend_days,
            throughput_weeks=tuple(
                WeekThroughput(week_start=week, count=count)
                for week, count in zip(row["weeks"] or [], row["counts"] or [], strict=True)
            ),
            wip=row["wip"],
            aging=tuple(
                AgedItem(key=key, age_days=age)
                for key, age in zip(row["aging_keys"] or [], row["aging_days"] or [], strict=True)
            ),
            last_done_at=row["last_done_at"],
            first_created_at=row["first_created_at"],
        )
        for row in rows
    }
