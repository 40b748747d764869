"""`pmo up` as a person runs it: a real process, real servers, stopped with Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import database_url_of_test_run

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pmo(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pmo.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_leftovers(home: Path, process: subprocess.Popen) -> None:
    """If `pmo up` did not stop in time, end it and the children it recorded."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    state = home / "runtime" / "pmo-up.json"
    if state.exists():
        for pid in json.loads(state.read_text()).get("children", {}).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_with_database_and_redis_urls_no_embedded_server_starts(tmp_path, django_db_setup):
    """The run's own servers stand in for production ones; PMO_HOME must stay empty of them;
    Ctrl-C pressed twice still stops every process `pmo up` started."""
    port = _free_port()
    # Its own Redis database: its worker must not take tasks queued by other tests.
    redis_url = os.environ["REDIS_URL"].rsplit("?db=", 1)[0] + "?db=3"
    env = {
        **os.environ,
        "PMO_HOME": str(tmp_path),
        "DATABASE_URL": database_url_of_test_run(),
        "REDIS_URL": redis_url,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = _pmo("up", "--no-seed", "--port", str(port), "--workers", "1", env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/") as page:
                    assert page.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "pmo up did not serve in time"
                time.sleep(0.5)
        children = json.loads((tmp_path / "runtime" / "pmo-up.json").read_text())["children"]
    finally:
        # Ctrl-C twice, as people do: the second must not abort the shutdown half-way.
        os.kill(process.pid, signal.SIGINT)
        time.sleep(0.3)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            _kill_leftovers(tmp_path, process)
            raise

    assert set(children) == {"worker", "web"}
    running = [name for name, pid in children.items() if _alive(pid)]
    assert running == [], f"left running after Ctrl-C: {running}"
    assert "starting the embedded" not in output
    assert not (tmp_path / "pg").exists()
    assert not (tmp_path / "redis").exists()
    assert "pmo: stopped." in output
    assert process.returncode == 0


def test_a_busy_port_gives_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            [sys.executable, "-m", "pmo.cli", "up", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "PMO_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_port_number_gives_a_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pmo.cli", "up"],
        cwd=ROOT,
        env={**os.environ, "PMO_HOME": str(tmp_path), "PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "PORT='eighty' is not a TCP port number" in result.stderr
