"""Stored figures of closed sprints (flow.py decision 17).

A closed sprint's figures are a replay of its items' histories, the most expensive query of
the engine, and they change only when its history is rewritten. The writers of history (the
importer and the demo seeder) call `sprint_figures_freeze` for the projects they wrote, inside
their transaction, and reads use the stored figures. They are computed by the very query that
computes them live (`SPRINT_FIGURES_SQL` with use_frozen off), so a stored figure is always a
figure the engine would give.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

from django.db import connection

from metrics.flow import SprintFigures, sprint_figures_unsafe

FROZEN_FIELDS = (
    "committed_items",
    "committed_points",
    "completed_items",
    "completed_points",
    "added_items",
    "added_points",
    "removed_items",
    "removed_points",
)

STORE_SQL = """
UPDATE portfolio_sprint s
SET frozen_figures = f.figures
FROM unnest(%(ids)s::bigint[], %(figures)s::jsonb[]) AS f(id, figures)
WHERE s.id = f.id AND s.state = 'closed'
"""

CLEAR_SQL = """
UPDATE portfolio_sprint
SET frozen_figures = NULL
WHERE project_id = ANY(%(project_ids)s::bigint[]) AND state <> 'closed'
  AND frozen_figures IS NOT NULL
"""


def _frozen(figures: SprintFigures) -> str:
    """Points as strings, so the numeric round trip through JSON is exact."""
    values = {}
    for name in FROZEN_FIELDS:
        value = getattr(figures, name)
        values[name] = str(value) if isinstance(value, Decimal) else value
    return json.dumps(values)


def sprint_figures_freeze(*, project_ids: Sequence[int]) -> int:
    """Replay and store the figures of every closed sprint of the projects; forget stored
    figures of sprints that are no longer closed. Returns the number of sprints stored.
    Call it inside the transaction that wrote the history."""
    project_ids = list(project_ids)
    if not project_ids:
        return 0
    figures = sprint_figures_unsafe(project_ids=project_ids, states=["closed"], use_frozen=False)
    with connection.cursor() as cursor:
        cursor.execute(
            STORE_SQL,
            {
                "ids": [row.sprint_id for row in figures],
                "figures": [_frozen(row) for row in figures],
            },
        )
        stored = cursor.rowcount
        cursor.execute(CLEAR_SQL, {"project_ids": project_ids})
    return stored
