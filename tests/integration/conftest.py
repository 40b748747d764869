"""A real Celery worker process on the real Redis broker, reading the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from pmo.celery import app

pytestmark = pytest.mark.integration


def database_url_of_test_run() -> str:
    """DATABASE_URL of this run, pointed at the test database Django created."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[subprocess.Popen]:
    """Start `celery worker` as a separate process and wait until it answers a ping."""
    with app.connection_for_write() as broker:
        for queue in ("default", "agents"):
            broker.default_channel.client.delete(queue)
    env = dict(os.environ, DATABASE_URL=database_url_of_test_run())
    hostname = f"test-{os.getpid()}@localhost"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "pmo",
            "worker",
            "--queues",
            "default,agents",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--hostname",
            hostname,
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],  # fmt: skip
        env=env,
        cwd=settings.BASE_DIR,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[hostname], timeout=0.5):
        if worker.poll() is not None:
            pytest.fail(f"the Celery worker exited with code {worker.returncode}")
        if time.monotonic() > deadline:
            worker.kill()
            pytest.fail("the Celery worker did not answer a ping within 60 s")
    yield worker
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1):
    """Poll until `predicate()` is truthy; the worker runs in another process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
