"""How KPI figures read in sentences, tables, the decision log and CSV: as typed, with no
trailing zeros and no exponent (4.5, 30, 0.85), the unit after a space."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


def number_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def value_text(value: Decimal | None, unit: str = "") -> str:
    if value is None:
        return "no value"
    return f"{number_text(value)} {unit}".rstrip()


def instant_text(value: dt.datetime | None) -> str:
    """An instant in UTC, as the decision log and history pages print it."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
