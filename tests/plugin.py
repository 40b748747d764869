"""Starts the real embedded servers before pytest-django configures Django.

Loaded with `-p tests.plugin` (pyproject addopts). A hook wrapper runs before every plugin's
`pytest_load_initial_conftests`, pytest-django's included, which is where Django settings are
read; so DATABASE_URL and REDIS_URL are in the environment by then. With DATABASE_URL /
REDIS_URL already set (a CI service, a developer's own servers), nothing is started.

The test suite uses Redis database 1, so a running `pmo up` (database 0) never sees test
tasks, and the test PostgreSQL database is `test_pmo` beside the demo's `pmo`.
"""

from __future__ import annotations

import os
import warnings

import pytest

from pmo import embedded
from pmo.config import pmo_home

_started: list[str] = []

TEST_REDIS_DB = 1


@pytest.hookimpl(hookwrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    home = pmo_home()
    os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("PMO_HTTPS", "0")
    # Hashed static names need `collectstatic`; tests serve the source files instead.
    os.environ.setdefault("PMO_STATIC_MANIFEST", "0")
    # WhiteNoise warns on every request when STATIC_ROOT does not exist yet.
    (home / "static").mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DATABASE_URL"):
        already_running = embedded.postgres_state(home).running
        os.environ["DATABASE_URL"] = embedded.start_postgres(home)
        if not already_running:
            _started.append("postgres")
    if not os.environ.get("REDIS_URL"):
        already_running = embedded.redis_state(home).running
        embedded.start_redis(home, daemonize=True)
        os.environ["REDIS_URL"] = embedded.redis_url(home, db=TEST_REDIS_DB)
        if not already_running:
            _started.append("redis")
    yield


def pytest_unconfigure(config):
    """Stop the servers this run started; leave alone the ones that were already up."""
    if hasattr(config, "workerinput"):
        return
    home = pmo_home()
    if "redis" in _started:
        embedded.stop_redis(home)
    if "postgres" in _started:
        embedded.stop_postgres(home)
