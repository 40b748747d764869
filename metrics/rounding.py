"""How figures are rounded for people: half up, on the shortest decimal that reads back as
the same float (so 10.125 days shows as 10.13 and 2.675 as 2.68, as a person rounding the
printed number would, not as binary floating point or banker's rounding would)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def round_half_up(value: Decimal | float | int, places: int = 2) -> float:
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
