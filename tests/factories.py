"""factory_boy factories shared by every app's tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from portfolio.models import Category, Epic, Portfolio, Project, Sprint, WorkItem

UTC = dt.UTC


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.django.Password("correct-horse-battery")


class PortfolioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Portfolio

    name = factory.Sequence(lambda n: f"Portfolio {n}")
    slug = factory.Sequence(lambda n: f"portfolio-{n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    portfolio = factory.SubFactory(PortfolioFactory)
    key = factory.Sequence(lambda n: f"P{n:03d}")
    name = factory.Sequence(lambda n: f"Project {n}")
    target_date = dt.date(2026, 12, 31)


class SprintFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sprint

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Sprint {n}")
    start = dt.datetime(2026, 1, 5, 9, tzinfo=UTC)
    end = factory.LazyAttribute(lambda sprint: sprint.start + dt.timedelta(days=14))
    state = Sprint.State.CLOSED


class EpicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Epic

    portfolio = factory.SubFactory(PortfolioFactory)
    key = factory.Sequence(lambda n: f"EPIC-{n}")
    title = factory.Sequence(lambda n: f"Epic {n}")
    business_value = 8
    time_criticality = 5
    risk_reduction = 3
    job_size = 5
    rank = factory.Sequence(lambda n: n + 1)


class WorkItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkItem

    project = factory.SubFactory(ProjectFactory)
    key = factory.Sequence(lambda n: f"ITEM-{n}")
    title = factory.Sequence(lambda n: f"Work item {n}")
    story_points = Decimal(3)
    status = "To Do"
    category = Category.TO_DO
    created_at = dt.datetime(2026, 1, 1, 9, tzinfo=UTC)
