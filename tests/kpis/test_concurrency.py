"""Two people saving the same value at the same moment, on two real database connections:
exactly one save wins, the other is refused with the winner's value, nothing is lost."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from metrics.kpis.services import MeasurementConflict, kpi_measurement_correct
from metrics.models import KPIMeasurement
from tests.kpis.factories import MeasurementFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_simultaneous_corrections_of_one_version_give_one_winner_and_one_conflict(
    world, satisfaction
):
    # given: a value both people read at version 1
    measurement = MeasurementFactory(kpi=satisfaction, value=Decimal("4.2"))
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def save(actor, value: str) -> None:
        try:
            row = KPIMeasurement.objects.select_related("kpi__project", "kpi__portfolio").get(
                pk=measurement.pk
            )
            barrier.wait(timeout=10)
            kpi_measurement_correct(actor=actor, measurement=row, value=value, version=1)
            outcomes[actor.username] = "saved"
        except MeasurementConflict as conflict:
            outcomes[actor.username] = conflict
        finally:
            connection.close()

    # when: both save at once, each on its own connection
    threads = [
        threading.Thread(target=save, args=(world.team_lead, "3.1")),
        threading.Thread(target=save, args=(world.pmo_leader, "4.9")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then: one saved, the other was told what the winner saved
    assert sorted(str(type(o).__name__) for o in outcomes.values()) == [
        "MeasurementConflict",
        "str",
    ]
    winner = next(name for name, outcome in outcomes.items() if outcome == "saved")
    loser = next(o for o in outcomes.values() if isinstance(o, MeasurementConflict))
    measurement.refresh_from_db()
    assert measurement.version == 2
    assert measurement.entered_by.username == winner
    assert loser.current.value == measurement.value
    assert loser.changed_by == winner
    assert measurement.revisions.count() == 2  # the recording and the one correction
