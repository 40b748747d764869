"""The metrics app's answer to other apps' events, through the real broker."""

from __future__ import annotations

import json

import pytest

from pmo.celery import app
from portfolio.events import sprint_closed

pytestmark = pytest.mark.django_db

REFRESH_TASK = "metrics.kpis.tasks.kpi_computed_refresh_task"


def queued(client) -> list[bytes]:
    """The raw messages on the default queue, newest first (kombu pushes on the left)."""
    return client.lrange("default", 0, -1)


def test_a_closed_sprint_queues_a_refresh_of_its_projects_computed_kpis(world):
    # given: the broker's queue as it is now
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        before = len(queued(client))

        # when
        sprint_closed.send(
            sender=None,
            sprint_id=1,
            project_id=world.own_project.pk,
            portfolio_id=world.own.pk,
        )

        # then: one refresh of that project, on the default queue
        raw = queued(client)
        added = raw[: len(raw) - before]
        try:
            tasks = [json.loads(message) for message in added]
            refreshes = [task for task in tasks if task["headers"]["task"] == REFRESH_TASK]
            assert len(refreshes) == 1
            assert f"'project_id': {world.own_project.pk}" in refreshes[0]["headers"]["kwargsrepr"]
        finally:
            for message in added:
                client.lrem("default", 1, message)


def test_the_computed_kpi_refresh_runs_every_hour():
    entry = app.conf.beat_schedule["kpi-computed-refresh"]

    assert entry["task"] == REFRESH_TASK
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 3600
