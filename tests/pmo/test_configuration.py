"""Settings come from the environment; bad values give one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from pmo.config import database_config, env_bool, redis_url_checked

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "SECRET_KEY": "k" * 60 + "-production-like-secret-value-for-the-deploy-check",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "pmo.example.org",
    "DATABASE_URL": "postgresql://pmo:secret@db.example.org:5432/pmo",
    "REDIS_URL": "redis://redis.example.org:6379/0",
}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # A production-like environment: none of the test run's own switches leak into it.
    leaked = {*PRODUCTION, "PMO_HTTPS", "PMO_STATIC_MANIFEST", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {key: value for key, value in os.environ.items() if key not in leaked}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_has_no_warning_with_production_values():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_missing_secret_key_in_production_is_a_clear_error():
    env = {**PRODUCTION, "SECRET_KEY": ""}

    result = run_manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_database_url_is_a_clear_error():
    result = run_manage("check", **{**PRODUCTION, "DATABASE_URL": "mysql://x@y/z"})

    assert result.returncode != 0
    assert "DATABASE_URL must be a PostgreSQL URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_a_clear_error():
    url = "postgresql://nobody@127.0.0.1:1/nowhere"

    result = run_manage("migrate", "--check", **{**PRODUCTION, "DATABASE_URL": url})

    assert result.returncode != 0
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///db.sqlite3", "must be a PostgreSQL URL"),
        ("postgresql://user@host:port/db", "DATABASE_URL is malformed"),
        ("postgresql://user@host:5432", "names no database"),
    ],
)
def test_database_url_validation(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        database_config(url)


def test_database_url_with_socket_directory_is_understood():
    config = database_config("postgresql://postgres@%2Ftmp%2Fpg/pmo")

    assert config["HOST"] == "/tmp/pg"
    assert config["NAME"] == "pmo"


def test_redis_url_must_be_redis():
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL must start with"):
        redis_url_checked("http://localhost:6379")


def test_boolean_variables_reject_nonsense():
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})
