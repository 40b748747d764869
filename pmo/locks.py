"""Session-level PostgreSQL advisory locks for jobs that Celery may deliver twice."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


@contextmanager
def job_lock(key: str) -> Iterator[bool]:
    """Try a session-level advisory lock named `key`; yields whether this worker holds it.

    Held for the whole job, so a duplicate delivery of a running job finds it taken and
    returns, while a redelivery after a lost worker finds it free (the lock ended with the
    dead worker's session) and runs the job again. Released only on the session that took
    it: if the connection was replaced meanwhile, the old session took its locks with it.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        locked = bool(cursor.fetchone()[0])
    session = connection.connection
    try:
        yield locked
    finally:
        if locked and session is not None and connection.connection is session:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
            except DatabaseError:  # the session is gone, and its locks with it
                logger.warning("advisory lock %s not released", key)
