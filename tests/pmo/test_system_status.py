"""The system status page against the real servers of the test run (no worker runs here)."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from pmo import system
from pmo.celery import app
from pmo.tasks import system_heartbeat_task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/system/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def logged_in(client, db):
    client.force_login(UserFactory(username="someone"))
    return client


def server_versions() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'vector')"
        )
        postgres, pgvector = cursor.fetchone()
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        redis_version = client.info("server")["redis_version"]
    finally:
        client.close()
    return {"postgres": postgres, "pgvector": pgvector, "redis": redis_version}


def test_system_status_url_is_named():
    assert reverse("pmo:system-status") == URL


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={URL}"


def test_any_logged_in_user_sees_real_server_versions(logged_in):
    versions = server_versions()

    response = logged_in.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert versions["postgres"].startswith("16")
    assert f"PostgreSQL {versions['postgres']}" in html
    assert f"pgvector {versions['pgvector']}" in html
    assert f"Redis {versions['redis']}" in html
    status = response.context["status"]
    for name in ("PostgreSQL", "pgvector", "Redis", "Broker queues"):
        assert status.component(name).ok, status.component(name).reason


def test_without_a_worker_the_page_says_no_live_worker_instead_of_failing(logged_in):
    response = logged_in.get(URL)

    assert response.status_code == 200
    workers = response.context["status"].component("Celery workers")
    assert not workers.ok
    assert "No live worker" in workers.reason
    assert "No live worker answered a ping" in response.content.decode()


def test_page_shows_pending_tasks_of_each_queue(logged_in):
    response = logged_in.get(URL)

    queues = response.context["status"].queues
    assert set(queues) == {"default", "agents"}
    assert all(isinstance(pending, int) for pending in queues.values())


def test_queue_status_counts_tasks_waiting_in_the_broker():
    queue = "system-status-test"
    with app.connection_for_write() as broker:
        broker.default_channel.client.delete(queue)
    try:
        for _ in range(3):
            app.send_task("pmo.tasks.system_heartbeat_task", queue=queue)

        component, pending = system.queue_status([queue])
    finally:
        with app.connection_for_write() as broker:
            broker.default_channel.client.delete(queue)

    assert component.ok
    assert pending == {queue: 3}


def test_beat_without_any_heartbeat_is_down_with_the_reason(logged_in):
    response = logged_in.get(URL)

    beat = response.context["status"].component("Celery beat")
    assert not beat.ok
    assert "No heartbeat recorded yet" in beat.reason


def test_heartbeat_task_makes_beat_show_alive(logged_in):
    system_heartbeat_task.apply()

    response = logged_in.get(URL)

    beat = response.context["status"].component("Celery beat")
    assert beat.ok
    assert "last heartbeat" in beat.summary
    assert "Last heartbeat" in response.content.decode()


def test_stale_heartbeat_shows_beat_down():
    system.beat_heartbeat_record(now=timezone.now() - dt.timedelta(minutes=10))

    beat = system.beat_status()

    assert not beat.ok
    assert "600 s old (expected every 60 s)" in beat.reason


def test_redis_down_is_shown_with_the_reason_not_a_server_error(logged_in, settings, tmp_path):
    settings.REDIS_URL = f"unix://{tmp_path / 'no-redis.sock'}?db=0"

    response = logged_in.get(URL)

    assert response.status_code == 200
    component = response.context["status"].component("Redis")
    assert not component.ok
    assert "no-redis.sock" in component.reason
    assert "Down" in response.content.decode()


def test_unreachable_broker_marks_queues_and_workers_down_without_waiting(
    logged_in, monkeypatch, tmp_path
):
    monkeypatch.setenv("CELERY_BROKER_READ_URL", f"redis+socket://{tmp_path / 'no-broker.sock'}")

    response = logged_in.get(URL)

    assert response.status_code == 200
    status = response.context["status"]
    assert not status.component("Broker queues").ok
    assert "broker is unreachable" in status.component("Celery workers").reason
    assert status.queues == {"default": None, "agents": None}
    assert "unknown" in response.content.decode()


def test_htmx_refresh_renders_only_the_status_region(logged_in):
    response = logged_in.get(URL, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="system-status"')
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_full_page_polls_the_status_region_and_keeps_a_plain_link(logged_in):
    html = logged_in.get(URL).content.decode()

    assert 'hx-trigger="click, every 5s"' in html
    assert f'href="{URL}"' in html
    assert 'hx-target="#system-status"' in html


def test_status_page_runs_a_fixed_number_of_queries(logged_in, django_assert_num_queries):
    # session, user, the user's grants (base.html's import and approvals links), one query
    # for the PostgreSQL and pgvector versions, one for the heartbeat
    with django_assert_num_queries(5):
        response = logged_in.get(URL)

    assert response.status_code == 200


def test_malformed_redis_url_is_reported_as_down():
    component = system.redis_status("http://not-a-redis-url")

    assert not component.ok
    assert component.reason
