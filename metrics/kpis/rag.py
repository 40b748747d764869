"""The RAG status of one KPI value against its thresholds: a pure function, shared by the
health rules, the KPI table, the API and the event the services publish.

Decisions (the issue is silent on them):

1. "Beyond a threshold" means strictly worse than it. For a higher-is-better KPI, worse is
   lower: red when value < red threshold, else amber when value < amber threshold, else
   green. For a lower-is-better KPI, worse is higher: red when value > red threshold, else
   amber when value > amber threshold, else green. A value exactly on a threshold is not
   beyond it (as a forecast on the target date is on time, metrics.health decision 2).
2. The thresholds are ordered from the target towards worse values (the database checks
   it): higher is better: red <= amber <= target; lower is better: red >= amber >= target.
   Amber equal to red is allowed and means "no amber band".
3. No value is grey ("no data"), never green.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

Status = Literal["green", "amber", "red", "grey"]

GREEN: Status = "green"
AMBER: Status = "amber"
RED: Status = "red"
GREY: Status = "grey"

HIGHER_IS_BETTER = "higher_is_better"
LOWER_IS_BETTER = "lower_is_better"


def kpi_status(
    *,
    direction: str,
    value: Decimal | None,
    amber_threshold: Decimal,
    red_threshold: Decimal,
) -> Status:
    """The status of `value` (decisions 1 and 3)."""
    if value is None:
        return GREY
    if direction == HIGHER_IS_BETTER:
        if value < red_threshold:
            return RED
        return AMBER if value < amber_threshold else GREEN
    if value > red_threshold:
        return RED
    return AMBER if value > amber_threshold else GREEN


def worse_word(direction: str) -> str:
    """How a value beyond a threshold relates to it, for sentences: "below" or "above"."""
    return "below" if direction == HIGHER_IS_BETTER else "above"


def thresholds_error(
    *, direction: str, target: Decimal, amber_threshold: Decimal, red_threshold: Decimal
) -> dict[str, str]:
    """Field messages when the thresholds are not ordered as decision 2 requires."""
    errors: dict[str, str] = {}
    if direction == HIGHER_IS_BETTER:
        if amber_threshold > target:
            errors["amber_threshold"] = (
                "Higher is better: the amber threshold must be at or below the target."
            )
        if red_threshold > amber_threshold:
            errors["red_threshold"] = (
                "Higher is better: the red threshold must be at or below the amber threshold."
            )
    elif direction == LOWER_IS_BETTER:
        if amber_threshold < target:
            errors["amber_threshold"] = (
                "Lower is better: the amber threshold must be at or above the target."
            )
        if red_threshold < amber_threshold:
            errors["red_threshold"] = (
                "Lower is better: the red threshold must be at or above the amber threshold."
            )
    return errors
