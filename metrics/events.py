"""Events the metrics app publishes for other apps (the agents' risk-scan trigger).

One explicit signal per event, sent only after the transaction that recorded the change has
committed, so a receiver never sees (or enqueues work about) a change that was rolled back.
"""

from __future__ import annotations

from django.dispatch import Signal

kpi_measurement_recorded = Signal()
"""Sent after commit when a KPI measurement is added or corrected.

Keyword arguments: measurement_id, kpi_id, project_id (None for a portfolio KPI),
portfolio_id, status (the measurement's RAG: "green" / "amber" / "red" / "grey").
"""
