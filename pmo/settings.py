"""Settings, all from the environment. `.env.example` lists every variable with its meaning.

Two modes:
- embedded (no DATABASE_URL / REDIS_URL): the servers started by `pmo up` or the test suite,
  found through the URLs they recorded under PMO_HOME;
- production: DATABASE_URL and REDIS_URL point at real servers; with DEBUG off, SECRET_KEY
  and ALLOWED_HOSTS are required and the HTTPS hardening is on unless PMO_HTTPS=0.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import plotly
from django.core.exceptions import ImproperlyConfigured

from pmo import embedded
from pmo.config import (
    BASE_DIR,
    database_config,
    env_bool,
    env_int,
    env_list,
    env_str,
    pmo_home,
    redis_url_checked,
)

PMO_HOME = pmo_home()
DEBUG = env_bool("DEBUG", False)

_secret = os.environ.get("SECRET_KEY", "")
if not _secret:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Set it to a long random string, e.g. "
            'python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    _secret = "insecure-development-key-only-used-with-DEBUG-on"  # noqa: S105
SECRET_KEY = _secret

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is required when DEBUG is off (comma-separated host names)."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "guardian",
    "pmo",
    "portfolio",
    "metrics",
    "governance",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "pmo.urls"
WSGI_APPLICATION = "pmo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# --- Database: PostgreSQL only (pgvector, percentile_cont, triggers) ---------------------

_database_url = os.environ.get("DATABASE_URL") or embedded.recorded_url(PMO_HOME, "database")
if not _database_url:
    # Nothing started yet: point at where the embedded server will listen, so that commands
    # that never connect (check, makemigrations --check) still work.
    _database_url = embedded.postgres_url(PMO_HOME / "pg")
DATABASES = {"default": database_config(_database_url)}
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("PMO_TEST_DATABASE", "test_pmo")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery broker --------------------------------------------------------

REDIS_URL = redis_url_checked(
    os.environ.get("REDIS_URL")
    or embedded.recorded_url(PMO_HOME, "redis")
    or embedded.redis_url(PMO_HOME)
)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("PMO_CACHE_PREFIX", "pmo"),
    }
}


def _broker_url(url: str) -> str:
    """kombu spells unix-socket Redis as redis+socket://, with the db as virtual_host."""
    if not url.startswith("unix://"):
        return url
    path, _, query = url.removeprefix("unix://").partition("?")
    db = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("db", "0")
    return f"redis+socket://{path}?virtual_host={db}"


CELERY_BROKER_URL = _broker_url(REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = False

# --- Auth and object permissions -----------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: anonymous users get no object permissions
GUARDIAN_RAISE_403 = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portfolio:portfolio-list"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalization ------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files: served by whitenoise, never from a CDN ----------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # plotly.js straight from the plotly wheel, so the page and the Python figures always
    # agree on the version: {% static "vendor/plotly/plotly.min.js" %}
    ("vendor/plotly", Path(plotly.__file__).parent / "package_data"),
]
STATIC_ROOT = env_str("STATIC_ROOT", str(PMO_HOME / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("PMO_STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- HTTPS hardening: on by default in production, off for the loopback demo ---------------

_https = env_bool("PMO_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = _https
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("PMO_BEHIND_PROXY", False) else None
)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- REST API ------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with WWW-Authenticate, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "pmo.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PMO Portfolio Governance API",
    "DESCRIPTION": (
        "Portfolios, projects, sprints, flow metrics, KPIs, decisions and agent runs. "
        "Every endpoint answers only with what the caller may see; anything else is 404."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and ReDoc assets come from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ProjectStatusEnum": "portfolio.models.Project.Status"},
}

# --- Logging -------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}

# --- Product settings ----------------------------------------------------------------------

PMO_DEMO_PASSWORD = "demo"  # only used by seed_demo; documented in the README

# --- Agents (agents/providers.py, agents/budget.py) --------------------------------------------
# The language-model chain, e.g. "openai:gpt-4o-mini,ollama:llama3.1,builtin". It always ends
# with `builtin` (templates over the computed facts, no model): the default is builtin only, so
# no data leaves the machine unless a provider is configured here.

_AGENT_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_AGENT_DEFAULT_BASE_URLS = {"ollama": "http://127.0.0.1:11434/v1"}
_AGENT_NATIVE = {"openai", "anthropic"}  # reached without a base URL
_AGENT_STRUCTURED = ("json_schema", "function_calling", "json_mode")


def _agent_providers(raw: str) -> list[tuple[str, str]]:
    links: list[tuple[str, str]] = []
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        name, _, model = (text.strip() for text in part.partition(":"))
        name = name.lower()
        if not _AGENT_PROVIDER_NAME.match(name):
            raise ImproperlyConfigured(
                f"PMO_AGENT_PROVIDERS: {name!r} is not a provider name (lower-case letters, "
                "digits, _), e.g. openai:gpt-4o-mini,ollama:llama3.1,builtin."
            )
        if name == "builtin":
            links.append(("builtin", ""))
            continue
        if not model:
            raise ImproperlyConfigured(
                f"PMO_AGENT_PROVIDERS: {name!r} needs a model, e.g. {name}:gpt-4o-mini."
            )
        if links and links[-1][0] == "builtin":
            raise ImproperlyConfigured(
                "PMO_AGENT_PROVIDERS: builtin must be the last link (nothing after it is tried)."
            )
        links.append((name, model))
    if not links or links[-1][0] != "builtin":
        links.append(("builtin", ""))
    return links


def _agent_decimal(name: str, default: str) -> Decimal:
    raw = os.environ.get(name, "").strip() or default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a number of at least 0.")
    return value


def _agent_prices(raw: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Prices as `model=input:output,...`, in US dollars per million tokens."""
    prices = {}
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        model, _, pair = part.partition("=")
        given, _, taken = pair.partition(":")
        try:
            prices[model.strip()] = (Decimal(given), Decimal(taken))
        except InvalidOperation:
            raise ImproperlyConfigured(
                f"PMO_AGENT_PRICES: {part!r} is not model=input:output (dollars per million "
                "tokens), e.g. gpt-4o-mini=0.15:0.60."
            ) from None
    return prices


AGENT_PROVIDERS = _agent_providers(env_str("PMO_AGENT_PROVIDERS", "builtin"))
AGENT_ENDPOINTS: dict[str, dict[str, str | None]] = {}
for _name in {name for name, _ in AGENT_PROVIDERS if name != "builtin"}:
    _base_url = os.environ.get(f"PMO_AGENT_{_name.upper()}_BASE_URL", "").strip() or (
        _AGENT_DEFAULT_BASE_URLS.get(_name)
    )
    if _base_url is None and _name not in _AGENT_NATIVE:
        raise ImproperlyConfigured(
            f"PMO_AGENT_PROVIDERS names {_name!r}: set PMO_AGENT_{_name.upper()}_BASE_URL to its "
            "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8001/v1."
        )
    if _base_url is not None and not _base_url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"PMO_AGENT_{_name.upper()}_BASE_URL={_base_url!r} is not an http(s) URL."
        )
    AGENT_ENDPOINTS[_name] = {
        "base_url": _base_url,
        "api_key": os.environ.get(f"PMO_AGENT_{_name.upper()}_API_KEY")
        or os.environ.get(f"{_name.upper()}_API_KEY")
        or None,
    }
AGENT_TIMEOUT_SECONDS = env_int("PMO_AGENT_TIMEOUT_SECONDS", 60)
AGENT_MAX_OUTPUT_TOKENS = env_int("PMO_AGENT_MAX_OUTPUT_TOKENS", 2000)
AGENT_MAX_ATTEMPTS = env_int("PMO_AGENT_MAX_ATTEMPTS", 3)
AGENT_RECALL_LIMIT = env_int("PMO_AGENT_RECALL_LIMIT", 5)
AGENT_STRUCTURED_OUTPUT = env_str("PMO_AGENT_STRUCTURED_OUTPUT", "json_schema")
AGENT_MONTHLY_TOKENS = env_int("PMO_AGENT_MONTHLY_TOKENS", 2_000_000)
AGENT_MONTHLY_COST = _agent_decimal("PMO_AGENT_MONTHLY_COST", "20")
AGENT_PRICES = _agent_prices(
    env_str(
        "PMO_AGENT_PRICES",
        "gpt-4o-mini=0.15:0.60,gpt-4o=2.50:10.00,gpt-4.1-mini=0.40:1.60,gpt-4.1=2.00:8.00",
    )
)
for _name, _value in (
    ("PMO_AGENT_TIMEOUT_SECONDS", AGENT_TIMEOUT_SECONDS),
    ("PMO_AGENT_MAX_OUTPUT_TOKENS", AGENT_MAX_OUTPUT_TOKENS),
    ("PMO_AGENT_MAX_ATTEMPTS", AGENT_MAX_ATTEMPTS),
):
    if _value < 1:
        raise ImproperlyConfigured(f"{_name}={_value} must be at least 1.")
if AGENT_MONTHLY_TOKENS < 0:
    raise ImproperlyConfigured("PMO_AGENT_MONTHLY_TOKENS must be at least 0.")
if AGENT_STRUCTURED_OUTPUT not in _AGENT_STRUCTURED:
    raise ImproperlyConfigured(
        f"PMO_AGENT_STRUCTURED_OUTPUT={AGENT_STRUCTURED_OUTPUT!r}: use one of "
        f"{', '.join(_AGENT_STRUCTURED)}."
    )

# --- Agent memory: embeddings (agents/embeddings.py) ---------------------------------------

# local:all-MiniLM-L6-v2 (packaged model, CPU, offline), local:<model dir> or openai:<model>
PMO_EMBEDDINGS = env_str("PMO_EMBEDDINGS", "local:all-MiniLM-L6-v2")
PMO_EMBEDDINGS_BASE_URL = env_str("PMO_EMBEDDINGS_BASE_URL", "")  # openai: compatible server
PMO_EMBEDDINGS_API_KEY = env_str("PMO_EMBEDDINGS_API_KEY", "")  # openai: else OPENAI_API_KEY
PMO_EMBEDDINGS_DIMENSIONS = env_int("PMO_EMBEDDINGS_DIMENSIONS", 384)  # must be 384
PMO_EMBEDDINGS_THREADS = env_int("PMO_EMBEDDINGS_THREADS", 1)  # torch threads per process
