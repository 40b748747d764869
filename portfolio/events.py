"""Events the portfolio app publishes for other apps (the agents' risk-scan trigger).

Sent only after the transaction that made the change has committed.
"""

from __future__ import annotations

from django.dispatch import Signal

sprint_closed = Signal()
"""Sent after commit when a sprint becomes closed (by a history import or an edit).

Keyword arguments: sprint_id, project_id, portfolio_id.
"""
