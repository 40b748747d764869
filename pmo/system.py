"""What the system status page shows: each server the application depends on, read live.

Every check answers with a `ComponentStatus`, OK or down with the reason; a check never raises,
so one server being down never breaks the page that reports it. Checks that need the broker are
skipped (down, "broker unreachable") when the broker does not answer, so nothing hangs on
connection retries.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from pmo.models import Heartbeat

logger = logging.getLogger(__name__)

QUEUES = ("default", "agents")
WORKER_PING_TIMEOUT = 1.0
BROKER_CONNECT_TIMEOUT = 2.0
REDIS_TIMEOUT = 2.0
# A beat heartbeat older than this many schedule intervals means beat (or every worker) stopped.
BEAT_STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True)
class ComponentStatus:
    """One server or process: OK with what it reports, or down with the reason."""

    name: str
    ok: bool
    summary: str
    reason: str = ""
    details: tuple[tuple[str, str], ...] = ()

    @property
    def state(self) -> str:
        return "OK" if self.ok else "Down"


@dataclass(frozen=True)
class SystemStatus:
    checked_at: dt.datetime
    components: tuple[ComponentStatus, ...]
    queues: dict[str, int | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(component.ok for component in self.components)

    def component(self, name: str) -> ComponentStatus:
        return next(component for component in self.components if component.name == name)


def _down(name: str, error: BaseException | str) -> ComponentStatus:
    if isinstance(error, BaseException):
        logger.warning("System status: %s is down", name, exc_info=error)
        reason = f"{type(error).__name__}: {error}".strip()
    else:
        reason = error
    return ComponentStatus(name=name, ok=False, summary="down", reason=reason)


def database_status() -> tuple[ComponentStatus, ComponentStatus]:
    """PostgreSQL (server version) and its pgvector extension (installed version), one query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('server_version'), version(), current_database(), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'vector')"
            )
            server_version, full_version, database, pgvector_version = cursor.fetchone()
    except Exception as error:
        return _down("PostgreSQL", error), _down("pgvector", "PostgreSQL is unreachable.")
    postgres = ComponentStatus(
        name="PostgreSQL",
        ok=True,
        summary=f"PostgreSQL {server_version}",
        details=(("Database", database), ("Build", full_version)),
    )
    if pgvector_version is None:
        pgvector = _down(
            "pgvector", f"The vector extension is not installed in database {database}."
        )
    else:
        pgvector = ComponentStatus(name="pgvector", ok=True, summary=f"pgvector {pgvector_version}")
    return postgres, pgvector


def redis_status(url: str | None = None) -> ComponentStatus:
    """Redis, the cache and broker: PING, then its version from INFO server."""
    try:
        client = redis.Redis.from_url(
            url or settings.REDIS_URL,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
        )
        try:
            client.ping()
            info = client.info("server")
        finally:
            client.close()
    except Exception as error:
        return _down("Redis", error)
    return ComponentStatus(
        name="Redis",
        ok=True,
        summary=f"Redis {info.get('redis_version', '?')}",
        details=(
            ("Mode", str(info.get("redis_mode", "standalone"))),
            ("Uptime", f"{int(info.get('uptime_in_seconds', 0))} s"),
        ),
    )


def _celery_app():
    from pmo.celery import app

    return app


def queue_status(queues: Iterable[str] = QUEUES) -> tuple[ComponentStatus, dict[str, int | None]]:
    """Tasks waiting in each queue of the broker (LLEN of the queue's list)."""
    names = list(queues)
    try:
        with _celery_app().connection_for_read() as broker:
            broker.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0.2, timeout=BROKER_CONNECT_TIMEOUT
            )
            client = broker.default_channel.client
            pending = {name: int(client.llen(name)) for name in names}
    except Exception as error:
        return _down("Broker queues", error), dict.fromkeys(names)
    return (
        ComponentStatus(
            name="Broker queues",
            ok=True,
            summary=f"{sum(pending.values())} pending task(s)",
        ),
        pending,
    )


def worker_status(timeout: float = WORKER_PING_TIMEOUT) -> ComponentStatus:
    """Celery workers that answer a broadcast ping within `timeout` seconds."""
    try:
        replies = _celery_app().control.ping(timeout=timeout) or []
    except Exception as error:
        return _down("Celery workers", error)
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        return _down("Celery workers", f"No live worker answered a ping within {timeout:g} s.")
    return ComponentStatus(
        name="Celery workers",
        ok=True,
        summary=f"{len(workers)} live worker(s)",
        details=tuple(("Worker", name) for name in workers),
    )


def beat_interval() -> float:
    """Seconds between two heartbeats, from the beat schedule in pmo/celery.py."""
    schedule = _celery_app().conf.beat_schedule.get("system-heartbeat", {}).get("schedule", 60.0)
    if isinstance(schedule, dt.timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    return 60.0  # a crontab or other schedule object: assume the default interval


def beat_heartbeat_record(*, worker: str = "", now: dt.datetime | None = None) -> dt.datetime:
    """Store the time of the latest beat heartbeat (run by the beat-scheduled task)."""
    at = now or timezone.now()
    Heartbeat.objects.update_or_create(name="beat", defaults={"at": at, "worker": worker})
    return at


def beat_status(now: dt.datetime | None = None) -> ComponentStatus:
    """Celery beat is alive when its heartbeat task ran within a few schedule intervals."""
    try:
        heartbeat = Heartbeat.objects.filter(name="beat").first()
    except DatabaseError as error:
        return _down("Celery beat", error)
    if heartbeat is None:
        return _down("Celery beat", "No heartbeat recorded yet: beat or every worker is stopped.")
    at = heartbeat.at
    age = ((now or timezone.now()) - at).total_seconds()
    details = (("Last heartbeat", at.isoformat(timespec="seconds")),)
    if heartbeat.worker:
        details += (("Run by", heartbeat.worker),)
    interval = beat_interval()
    if age > BEAT_STALE_AFTER_INTERVALS * interval:
        return ComponentStatus(
            name="Celery beat",
            ok=False,
            summary="down",
            reason=f"The last heartbeat is {int(age)} s old (expected every {interval:g} s).",
            details=details,
        )
    return ComponentStatus(
        name="Celery beat",
        ok=True,
        summary=f"last heartbeat {max(int(age), 0)} s ago",
        details=details,
    )


def system_status(*, worker_ping_timeout: float = WORKER_PING_TIMEOUT) -> SystemStatus:
    """Every check, in the order the page shows them."""
    postgres, pgvector = database_status()
    queues, pending = queue_status()
    if queues.ok:
        workers = worker_status(worker_ping_timeout)
    else:
        workers = _down("Celery workers", "The broker is unreachable, so no worker can be asked.")
    return SystemStatus(
        checked_at=timezone.now(),
        components=(postgres, pgvector, redis_status(), queues, workers, beat_status()),
        queues=pending,
    )
