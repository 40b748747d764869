"""A real worker process on the real broker runs what the web enqueues after commit."""

from __future__ import annotations

import pytest
from django.db import transaction

from pmo.models import Heartbeat
from pmo.tasks import system_heartbeat_task
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_task_enqueued_on_commit_runs_in_the_worker_and_writes_to_the_database(
    celery_worker_process,
):
    with transaction.atomic():
        system_heartbeat_task.delay_on_commit()
        assert not Heartbeat.objects.exists()  # nothing is sent before the commit

    heartbeat = wait_for(lambda: Heartbeat.objects.filter(name="beat").first())

    assert heartbeat.worker.startswith("test-")
