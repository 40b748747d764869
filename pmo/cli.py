"""The `pmo` command line: `pmo up`, `pmo status`, `pmo down`.

`pmo up` is the whole product on one machine: it starts the embedded PostgreSQL and Redis
(unless DATABASE_URL / REDIS_URL point elsewhere), migrates, seeds the demo once, then runs a
Celery worker (with beat) and the web server as child processes, and on Ctrl-C stops all of
them, children first, databases last, so nothing is left running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pmo import embedded
from pmo.config import BASE_DIR, pmo_home

DEMO_LOGINS = (
    ("pmo", "PMO leader of every demo portfolio"),
    ("exec", "Executive of every demo portfolio"),
    ("viewer", "Viewer of the first portfolio"),
    ("lead-<project key>", "Team lead of that project, e.g. lead-pay"),
)


class CommandError(Exception):
    """A failure with a message meant for the person at the terminal, not a traceback."""


def run_django_command(argv: list[str]) -> None:
    """manage.py, with configuration and connection problems reported in one clear line."""
    from django.core.exceptions import ImproperlyConfigured

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        import django

        django.setup()
    except ImproperlyConfigured as error:
        sys.exit(f"pmo: configuration error: {error}")
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(argv)
    except OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        sys.exit(
            f"pmo: cannot reach the database ({first_line}).\n"
            "Start the embedded servers with `pmo up` (or `make demo`), "
            "or set DATABASE_URL to a running PostgreSQL."
        )


# --- runtime state -------------------------------------------------------------------------


@dataclass
class Runtime:
    """What `pmo up` started, so that `pmo status` and `pmo down` can find it."""

    home: Path
    port: int
    children: dict[str, subprocess.Popen] = field(default_factory=dict)
    started_postgres: bool = False

    @property
    def state_file(self) -> Path:
        return self.home / "runtime" / "pmo-up.json"

    def save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "port": self.port,
            "children": {name: child.pid for name, child in self.children.items()},
        }
        self.state_file.write_text(json.dumps(state, indent=2))

    def forget(self) -> None:
        self.state_file.unlink(missing_ok=True)


def _read_state(home: Path) -> dict:
    path = home / "runtime" / "pmo-up.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _secret_key(home: Path) -> str:
    """A per-installation key for the embedded demo, created once and kept under PMO_HOME."""
    path = home / "secret_key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_from_environment() -> int:
    raw = os.environ.get("PORT", "8000")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise CommandError(f"PORT={raw!r} is not a TCP port number (1-65535).")
    return int(raw)


def _environment(home: Path, *, dev: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "pmo.settings")
    env.setdefault("PMO_HOME", str(home))
    env.setdefault("SECRET_KEY", _secret_key(home))
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    # The embedded server speaks plain HTTP on loopback; production sets PMO_HTTPS=1.
    env.setdefault("PMO_HTTPS", "0")
    if dev:
        env["DEBUG"] = "1"
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    command = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    result = subprocess.run(command, env=env, cwd=BASE_DIR, check=False)
    if result.returncode != 0:
        raise CommandError(f"`manage.py {' '.join(args)}` failed (exit {result.returncode}).")


def _start(name: str, command: list[str], env: dict[str, str], runtime: Runtime) -> None:
    # A new session: Ctrl-C reaches `pmo up` only, which then stops children in order.
    runtime.children[name] = subprocess.Popen(
        command, env=env, cwd=BASE_DIR, start_new_session=True
    )


def _wait_for_http(url: str, child: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise CommandError(f"The web server exited with code {child.returncode}.")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.3)
    raise CommandError(f"The web server did not answer on {url} within {timeout:.0f} s.")


def _stop_children(runtime: Runtime) -> None:
    """Web first (no new work), then the worker (finishes or requeues its task), then Redis."""
    for name in ("web", "worker", "redis"):
        child = runtime.children.get(name)
        if child is None or child.poll() is not None:
            continue
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print(f"pmo: {name} did not stop in 20 s; killing it", file=sys.stderr)
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _print_banner(url: str, *, seeded: bool) -> None:
    print()
    print(f"  PMO governance is running at {url}")
    if seeded:
        print("  Demo logins (password `demo`; they exist only in the seeded demo data):")
        for username, meaning in DEMO_LOGINS:
            print(f"    {username:<20} {meaning}")
    print(f"  System status: {url}system/    API docs: {url}api/docs/")
    print("  Press Ctrl-C to stop everything.")
    print()


def command_up(args: argparse.Namespace) -> int:
    home = pmo_home()
    port = args.port or _port_from_environment()
    if not _port_is_free(port):
        raise CommandError(
            f"Port {port} on 127.0.0.1 is already in use (another `pmo up` or another server?).\n"
            f"Pick another one: `PORT={port + 1} make demo` or `pmo up --port {port + 1}`."
        )
    env = _environment(home, dev=args.dev)
    runtime = Runtime(home=home, port=port)
    interrupted = False

    def on_signal(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    # Installed explicitly: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if not os.environ.get("DATABASE_URL"):
            print("pmo: starting the embedded PostgreSQL 16 (pgvector) ...", flush=True)
            runtime.started_postgres = not embedded.postgres_state(home).running
            env["DATABASE_URL"] = embedded.start_postgres(home)
        if not os.environ.get("REDIS_URL"):
            print("pmo: starting the embedded Redis ...", flush=True)
            process = embedded.start_redis(home, daemonize=False)
            if process is not None:
                runtime.children["redis"] = process
            env["REDIS_URL"] = embedded.redis_url(home)
        print("pmo: applying migrations ...", flush=True)
        _manage(env, "migrate", "--no-input", "--verbosity", "0")
        if not args.dev:
            _manage(env, "collectstatic", "--no-input", "--verbosity", "0")
        if not args.no_seed:
            _manage(env, "seed_demo", "--if-empty")
        worker = [
            sys.executable, "-m", "celery", "-A", "pmo", "worker", "--beat",
            "--queues", "default,agents", "--concurrency", "2", "--loglevel", "INFO",
            "--hostname", f"pmo-{port}@%h",
            "--schedule", str(home / "runtime" / "celerybeat-schedule"),
        ]  # fmt: skip
        _start("worker", worker, env, runtime)
        if args.dev:
            web = [sys.executable, str(BASE_DIR / "manage.py"), "runserver", f"127.0.0.1:{port}"]
        else:
            web = [
                sys.executable, "-m", "gunicorn", "pmo.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                "--access-logfile", "-", "--graceful-timeout", "10",
            ]  # fmt: skip
        _start("web", web, env, runtime)
        runtime.save()
        url = f"http://127.0.0.1:{port}/"
        _wait_for_http(url + "accounts/login/", runtime.children["web"], timeout=60)
        _print_banner(url, seeded=not args.no_seed)
        while True:
            for name, child in runtime.children.items():
                if child.poll() is not None:
                    raise CommandError(f"The {name} process exited with code {child.returncode}.")
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # A second Ctrl-C (people press it twice) must not abort the shutdown half-way and
        # leave a worker or web server running: from here on the signals are ignored, and
        # every child still gets its bounded SIGTERM, then SIGKILL.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\npmo: stopping ...", flush=True)
        _stop_children(runtime)
        if runtime.started_postgres:
            embedded.stop_postgres(home)
        runtime.forget()
        print("pmo: stopped.", flush=True)
    return 0 if interrupted else 1


def command_status(args: argparse.Namespace) -> int:
    home = pmo_home()
    state = _read_state(home)
    rows: list[tuple[str, bool, str]] = []
    if os.environ.get("DATABASE_URL"):
        rows.append(("PostgreSQL", True, "external (DATABASE_URL)"))
    else:
        pg = embedded.postgres_state(home)
        rows.append((pg.name, pg.running, pg.detail))
    if os.environ.get("REDIS_URL"):
        rows.append(("Redis", True, "external (REDIS_URL)"))
    else:
        redis_state = embedded.redis_state(home)
        rows.append((redis_state.name, redis_state.running, redis_state.detail))
    children = state.get("children", {})
    for name in ("worker", "web"):
        pid = children.get(name)
        alive = pid is not None and embedded._pid_alive(pid)
        rows.append((name.capitalize(), alive, f"pid {pid}" if alive else "not running"))
    if state.get("port"):
        url = f"http://127.0.0.1:{state['port']}/accounts/login/"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                rows.append(("HTTP", True, f"{url} answered {response.status}"))
        except (OSError, urllib.error.URLError) as error:
            rows.append(("HTTP", False, f"{url}: {error}"))
    for name, running, detail in rows:
        print(f"{name:<11} {'up' if running else 'down':<5} {detail}")
    return 0 if all(running for _, running, _ in rows) else 1


def command_down(args: argparse.Namespace) -> int:
    """Stop whatever a crashed or killed `pmo up` (or an interrupted test run) left behind."""
    home = pmo_home()
    state = _read_state(home)
    for name, pid in state.get("children", {}).items():
        if embedded._pid_alive(pid):
            print(f"pmo: stopping {name} (pid {pid})")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
    stopped_redis = embedded.stop_redis(home)
    stopped_pg = embedded.stop_postgres(home)
    (home / "runtime" / "pmo-up.json").unlink(missing_ok=True)
    print(
        f"pmo: Redis {'stopped' if stopped_redis else 'was not running'}; "
        f"PostgreSQL {'stopped' if stopped_pg else 'was not running'}."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start everything and serve the web application")
    up.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    up.add_argument("--dev", action="store_true", help="DEBUG on, runserver with auto-reload")
    up.add_argument("--no-seed", action="store_true", help="do not seed the demo data")
    up.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    up.set_defaults(handler=command_up)
    status = commands.add_parser("status", help="report each component")
    status.set_defaults(handler=command_status)
    down = commands.add_parser("down", help="stop servers left running by an earlier run")
    down.set_defaults(handler=command_down)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"pmo: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
