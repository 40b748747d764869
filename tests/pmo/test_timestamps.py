"""Timestamps are parsed by psycopg's C loader and come out exactly as Django's own loader
gives them (pmo.timestamps)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg.pq import Format

from pmo.timestamps import loader_for

pytestmark = pytest.mark.django_db

VALUES = [
    "2026-03-20 12:00:00+00",
    "2026-03-29 01:30:00.123456+00",
    "1999-12-31 23:59:59.999999-05:30",
    "0001-01-01 00:00:00+00",
]


def _loaded(loader_class: type) -> list[dt.datetime]:
    context = connection.connection
    oid = context.adapters.types["timestamptz"].oid
    loader = loader_class(oid, context)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(v::timestamptz::text) FROM unnest(%s::text[]) AS v", [VALUES]
        )
        (texts,) = cursor.fetchone()
    return [loader.load(text.encode()) for text in texts]


def test_every_connection_parses_timestamps_with_the_fast_loader():
    connection.ensure_connection()
    oid = connection.connection.adapters.types["timestamptz"].oid
    loader = connection.connection.adapters.get_loader(oid, Format.TEXT)

    assert loader.__name__ == "FastTzLoader"
    assert loader.timezone == connection.timezone
    if psycopg.pq.__impl__ == "binary":  # psycopg-binary, as pyproject.toml installs it
        parse = loader(oid, connection.connection)._parse
        assert type(parse.__self__).__module__ == "psycopg_binary._psycopg"


def test_the_fast_loader_gives_what_djangos_loader_gives():
    class DjangoLoader(BaseTzLoader):
        timezone = connection.timezone

    connection.ensure_connection()
    fast = _loaded(loader_for(connection.timezone))
    django = _loaded(DjangoLoader)

    assert fast == django
    assert [value.tzinfo for value in fast] == [value.tzinfo for value in django]
    assert fast[2] == dt.datetime(2000, 1, 1, 5, 29, 59, 999999, tzinfo=dt.UTC)


def test_queries_return_aware_utc_datetimes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-03-20 12:00:00.5+01'::timestamptz")
        (value,) = cursor.fetchone()

    assert value == dt.datetime(2026, 3, 20, 11, 0, 0, 500000, tzinfo=dt.UTC)
    assert value.tzinfo is connection.timezone
