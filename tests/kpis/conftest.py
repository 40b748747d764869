"""Fixtures of the KPI tests: the `world` of tests/conftest.py with KPIs on its projects, and
a recorder of the `kpi_measurement_recorded` events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from metrics.events import kpi_measurement_recorded
from portfolio.permissions import forget_cached_permissions
from tests.conftest import ROLES
from tests.kpis.factories import CycleTimeKPIFactory, KPIFactory

JANUARY = dt.date(2026, 1, 1)
FEBRUARY = dt.date(2026, 2, 1)
MARCH = dt.date(2026, 3, 1)
MONDAY = dt.date(2026, 1, 5)


@pytest.fixture
def satisfaction(world):
    """PAY's customer satisfaction: monthly score, higher is better, range 1 to 5, target
    4.5, amber below 4, red below 3.5."""
    return KPIFactory(project=world.own_project, name="Customer satisfaction")


@pytest.fixture
def cycle_time(world):
    """PAY's cycle time: weekly days, lower is better, target 5, amber above 7, red above 10."""
    return CycleTimeKPIFactory(project=world.own_project, name="Cycle time")


@pytest.fixture
def sibling_kpi(world):
    return KPIFactory(project=world.sibling_project, name="Customer satisfaction")


@pytest.fixture
def foreign_kpi(world):
    return KPIFactory(project=world.foreign_project, name="Customer satisfaction")


@pytest.fixture
def recorded_events() -> Iterator[list[dict]]:
    """The keyword arguments of every kpi_measurement_recorded sent during the test."""
    events: list[dict] = []

    def receiver(sender, **kwargs):
        kwargs.pop("signal", None)
        events.append({"sender": sender, **kwargs})

    kpi_measurement_recorded.connect(receiver, weak=False, dispatch_uid="tests.kpis")
    yield events
    kpi_measurement_recorded.disconnect(dispatch_uid="tests.kpis")


@pytest.fixture
def fresh(world):
    """Drop the permission answers cached on the world's users (as a new request would)."""

    def forget() -> None:
        for role in ROLES[1:]:
            forget_cached_permissions(world.user(role))
        forget_cached_permissions(world.admin)

    return forget
