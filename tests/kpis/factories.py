"""factory_boy factories of KPIs (kept here, not in the shared tests/factories.py).

They write rows directly, bypassing the services, to set up a scenario; the behaviour under
test always goes through metrics.kpis.services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from metrics.models import KPI, KPIMeasurement, KPIMeasurementRevision
from tests.factories import ProjectFactory


class KPIFactory(factory.django.DjangoModelFactory):
    """A manual, higher-is-better, monthly KPI: target 4.5, amber below 4, red below 3.5,
    allowed range 1 to 5 (a customer satisfaction score)."""

    class Meta:
        model = KPI

    project = factory.SubFactory(ProjectFactory)
    portfolio = factory.LazyAttribute(lambda kpi: kpi.project.portfolio)
    name = factory.Sequence(lambda n: f"KPI {n}")
    unit = "score"
    direction = KPI.Direction.HIGHER_IS_BETTER
    target = Decimal("4.5")
    amber_threshold = Decimal("4")
    red_threshold = Decimal("3.5")
    min_value = Decimal(1)
    max_value = Decimal(5)
    cadence = KPI.Cadence.MONTHLY


class CycleTimeKPIFactory(KPIFactory):
    """Lower is better, weekly, days: target 5, amber above 7, red above 10, at least 0."""

    name = factory.Sequence(lambda n: f"Cycle time {n}")
    unit = "days"
    direction = KPI.Direction.LOWER_IS_BETTER
    target = Decimal(5)
    amber_threshold = Decimal(7)
    red_threshold = Decimal(10)
    min_value = Decimal(0)
    max_value = None
    cadence = KPI.Cadence.WEEKLY


class MeasurementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KPIMeasurement
        skip_postgeneration_save = True

    kpi = factory.SubFactory(KPIFactory)
    period_start = dt.date(2026, 1, 1)
    value = Decimal("4.2")
    source = KPIMeasurement.Source.MANUAL

    @factory.post_generation
    def revision(measurement, create, extracted, **kwargs):  # noqa: N805
        """Every measurement has the revision that created it, as the services write it."""
        if create:
            KPIMeasurementRevision.objects.create(
                measurement=measurement,
                kpi=measurement.kpi,
                period_start=measurement.period_start,
                version=measurement.version,
                change=KPIMeasurementRevision.Change.RECORDED,
                new_value=measurement.value,
                note=measurement.note,
                source=measurement.source,
                changed_by=measurement.entered_by,
                changed_at=measurement.entered_at,
            )
