"""Reading settings from the environment, with errors that name the variable.

Kept apart from settings.py so the embedded runtime and the `pmo` command line can use the
same parsing (and the same error messages) without importing Django settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(
    name: str, default: str | None = None, *, environ: Mapping[str, str] = os.environ
) -> str:
    """A string variable; without a default, its absence is a configuration error."""
    value = environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} is required but not set.")
        return default
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] = os.environ) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no.")


def env_int(name: str, default: int, *, environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] = os.environ
) -> list[str]:
    raw = environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def pmo_home(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the embedded servers keep their data, sockets and logs."""
    return Path(environ.get("PMO_HOME") or BASE_DIR / ".pmo").resolve()


def database_config(url: str) -> dict:
    """Django DATABASES entry for a PostgreSQL URL, or a clear error for anything else."""
    import dj_database_url

    scheme = urlsplit(url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "postgis"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a PostgreSQL URL such as "
            f"postgresql://user:password@host:5432/pmo, got scheme {scheme!r}."
        )
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {error}") from None
    if not config.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL names no database (add /<name> to the URL).")
    if config.get("PORT") not in (None, ""):
        try:
            int(config["PORT"])
        except ValueError:
            raise ImproperlyConfigured(
                f"DATABASE_URL has an invalid port {config['PORT']!r}."
            ) from None
    return config


def redis_url_checked(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"REDIS_URL must start with redis://, rediss:// or unix://, got {url!r}."
        )
    return url
