"""Platform-level tables (the domain lives in the other apps)."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """The last run of a scheduled task.

    Written by the beat-scheduled `system_heartbeat_task`, so a recent row proves that beat,
    the broker, a worker and the database all worked a moment ago; kept in PostgreSQL rather
    than the cache so it survives a Redis restart and can be read when Redis is down.
    """

    name = models.CharField(max_length=60, primary_key=True)
    worker = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
