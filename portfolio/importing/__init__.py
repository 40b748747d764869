"""History import: projects, sprints, work items and their history from CSV files.

The write path is `portfolio.services.history_import`: the `import_history` command calls it,
and so does the upload form (/imports/new/), through a HistoryImportJob that a Celery worker
runs (`history_import_job_create`, `history_import_job_run`). This package reads the files
(`csv_reader`), derives each item's history (`history`) and writes it (`store`). Metric
definitions: METRICS.md.

Files
=====

UTF-8 CSV (a byte-order mark is accepted), comma-separated, a header row naming the columns.
Column names are matched case-insensitively; unknown columns are ignored, and so are blank
lines. A missing optional column reads as empty cells. Timestamps are ISO 8601 with a time
zone (`2023-07-12T00:00:00Z` or `+02:00`; a timestamp without one is an error) and are
stored in UTC. Empty cell = unknown / not applicable.

Give a directory (its `projects.csv`, `sprints.csv`, `issues.csv` and `events.csv` are read,
other files ignored) or the files themselves (any other file name is an error).

projects.csv (required)
    `project` (required) key, 2-10 capital letters or digits, unique; `name` (required, at
    most 120 characters, unique in the portfolio); `timezone` (IANA name, empty = UTC);
    `data_as_of` (the snapshot instant; empty = historical, fully closed data, see "Snapshot
    instant" below). `portfolio` and `tracker` are ignored: every project goes into the
    portfolio the import names.
sprints.csv (optional: without it, no sprints)
    `sprint_id` (required) unique in its project, stored as Sprint.external_id; `project`
    (required) a key of projects.csv; `name` (required, unique in its project); `start`,
    `end` (required, end after start); `complete_date` (empty = not completed: the window
    closes at `end`; if given, after start); `state` `closed` | `active` | `future` (empty =
    from the dates as at data_as_of: closed when completed or ended, active when started,
    else future; no data_as_of = closed); `membership_known` `true` | `false` (empty =
    true): false for trackers that export sprint windows but not which items were in them;
    such a sprint's velocity is the points of the items resolved inside its window, and its
    committed points, say/do and burndown are not defined.
issues.csv (required)
    `key` (required, at most 32 characters, unique across projects); `project` (required);
    `status` (required) the current status name; `created` (column required, cell may be
    empty, see below); `resolved`; `type` (empty = Story); `summary` (cut at 300 characters,
    with a warning); `story_points` (decimal >= 0, at most one decimal place; empty = not
    estimated); `sprint_ids` (`;`-separated sprint_ids of the item's project).
events.csv (optional)
    `key` (an issues.csv key); `at` (required, not before the item's created time); `field`
    `status` | `sprint` | `points`; `from`, `to`: status names, sprint_ids or points. An empty
    `from` means "as the previous event left it"; `to` is required for status; a sprint
    event needs a `from` or a `to` (empty `to` = removed from the sprint).

Row errors (an unreadable timestamp or number, a negative or over-precise story_points
value, an end not after start, a duplicate key, a reference to a project, sprint or key the
files do not define, a key or name already used elsewhere in the database, a last event that
disagrees with issues.csv) are reported as `file:line: reason`, and then nothing is written.

Statuses
========

A status name is looked up in the project's mapping (case-insensitively); a name the mapping
lacks is added to it as `todo` and listed in the report (METRICS.md: "unknown names are
reported at import"). A new project starts from DEFAULT_STATUS_CATEGORIES.

History
=======

Every item's history starts with a status event at its created time, from "" to its initial
status. The WorkItem columns are then read off the events, as `portfolio/demo.py` does:
status and category of the last status event; started_at = the first time it entered
`in_progress` or `done`; done_at = the last time it entered `done`, if it is done now; sprint
= where the last sprint event left it; story_points = the last points event's `to`, else the
issues.csv value.

Without events.csv (or for the fields an item has no events for), the minimal history that
the row proves is derived:

- status: created in its current status if that is `todo`, else in the project's initial
  status ("To Do" if mapped to todo, else the first todo name alphabetically). An item in
  progress now moves to its status at the later of `created` and the start of its last
  listed sprint, but no later than data_as_of (no sprint: at `created`). A done item moves to
  its status at `resolved`; that is its done time and its start time (no cycle time is
  invented). `resolved` on an item that is not done is ignored, with a warning.
- sprints: the item joins each listed sprint, in start order, at the later of `created` and
  the sprint's start (a sprint starting after data_as_of: at data_as_of, since the item was
  in it then and no event may lie after the snapshot), leaving the previous one at that
  moment; the last one is its sprint.
- points: constant, no points events.

With events.csv, the events given for a field replace the derived ones for that item and
field. Status: the item is created in the first event's `from` status (empty: the initial
status), unless the first event is at `created` with an empty `from`, and the last event must
go to the issues.csv status. Sprints: if the first event has a `from`, the item is in that
sprint from its creation; `sprint_ids` is then not used. Points: the last `to` must equal the
issues.csv `story_points`. Events at one instant are ordered creation, sprint, status, points.

Gaps in the data, and what is done about them (each reported as a warning with its line):

- empty `created`: the earliest of `resolved`, the first listed sprint's start, the first
  event and data_as_of (nothing to use: an error).
- a done status with empty `resolved`: done (and started) at data_as_of, the only instant
  the item is known to be done (METRICS: a done item has a done time); without data_as_of,
  an error.

Snapshot instant
================

Project.data_as_of is the instant at which metrics that depend on "now" (WIP age, forecasts,
recent throughput) are evaluated. It is the `data_as_of` cell when given. An empty cell means
historical, fully closed data: the project's data_as_of is then the latest instant that the
files' rows of that project record (its items' created times, the times of the events the
import writes for them, a done item's resolved time among them, and its sprints' start, end
and complete_date), so that dashboards show a historical project as at the end of its
history, not as at today with every item long stale. A project the files give no item and no
sprint gets an empty data_as_of (metrics then use the real now). The rules above that read
data_as_of (sprint states, dates of items without `created` or `resolved`) still read an
empty cell as "no snapshot".

Idempotence
===========

Projects are matched by key, sprints by (project, sprint_id), items by key; a row is updated
only when a value differs (items and projects then get version + 1; a derived data_as_of
counts as a value), and an item's events are left alone when they equal the derived history,
else replaced as a whole (events written since by the application for that item included:
the files are the source of truth for the items they list). Rows the files do not mention
are never touched or deleted. A second import of the same files therefore reports "0
created, N unchanged" everywhere.
"""
