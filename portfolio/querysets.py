"""Chainable, side-effect-free filters. Permission filtering lives in the selectors."""

from __future__ import annotations

from django.db import models


class ProjectQuerySet(models.QuerySet):
    def in_portfolio(self, portfolio) -> ProjectQuerySet:
        return self.filter(portfolio=portfolio)

    def active(self) -> ProjectQuerySet:
        return self.filter(status="active")


class SprintQuerySet(models.QuerySet):
    def closed(self) -> SprintQuerySet:
        return self.filter(state="closed")

    def active(self) -> SprintQuerySet:
        return self.filter(state="active")


class WorkItemQuerySet(models.QuerySet):
    def open(self) -> WorkItemQuerySet:
        return self.exclude(category="done")

    def done(self) -> WorkItemQuerySet:
        return self.filter(category="done")

    def in_progress(self) -> WorkItemQuerySet:
        return self.filter(category="in_progress")
