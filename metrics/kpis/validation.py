"""The checks every KPI value goes through, wherever it comes from (form, API, CSV): a
number with at most 4 decimal places and 10 integer digits (the column's precision), inside
the KPI's allowed range (inclusive bounds, each optional), and a note of bounded length."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from metrics.kpis.text import value_text
from metrics.models import KPI, VALUE_DIGITS, VALUE_PLACES

NOTE_MAX_LENGTH = 2_000
MAX_INTEGER_DIGITS = VALUE_DIGITS - VALUE_PLACES
PLACES = Decimal(1).scaleb(-VALUE_PLACES)


def parse_value(raw: object) -> Decimal:
    """A KPI value from what a person or a file typed; ValueError with the reason."""
    if isinstance(raw, bool):
        raise ValueError("is not a number")
    if isinstance(raw, Decimal | int):
        number = Decimal(raw)
    elif isinstance(raw, float):
        number = Decimal(str(raw))
    else:
        text = str(raw).strip().replace("\u2212", "-")
        if not text:
            raise ValueError("is empty")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"'{text[:40]}' is not a number") from None
    if not number.is_finite():
        raise ValueError("is not a finite number")
    if abs(number) >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise ValueError(f"is too large (at most {MAX_INTEGER_DIGITS} digits before the point)")
    rounded = number.quantize(PLACES)
    if rounded != number:
        raise ValueError(f"has more than {VALUE_PLACES} decimal places")
    return rounded


def range_error(kpi: KPI, value: Decimal) -> str | None:
    """Why `value` is outside the KPI's allowed range (inclusive bounds), or None."""
    low, high = kpi.min_value, kpi.max_value
    unit = kpi.unit
    if low is not None and high is not None and not low <= value <= high:
        return (
            f"{value_text(value, unit)} is outside the allowed range "
            f"{value_text(low, unit)} to {value_text(high, unit)}."
        )
    if low is not None and value < low:
        return (
            f"{value_text(value, unit)} is below the lowest allowed value {value_text(low, unit)}."
        )
    if high is not None and value > high:
        return (
            f"{value_text(value, unit)} is above the highest allowed value "
            f"{value_text(high, unit)}."
        )
    return None
