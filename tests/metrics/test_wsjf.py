"""WSJF ranking (METRICS.md "Prioritization")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.http import Http404

from metrics.selectors import epic_ranking
from portfolio.models import Epic
from tests.factories import EpicFactory
from tests.metrics.history import utc


def epic(world, key: str, values: tuple[int, int, int, int], day: int, **fields) -> Epic:
    business_value, time_criticality, risk_reduction, job_size = values
    return EpicFactory(
        portfolio=world.own,
        key=key,
        business_value=business_value,
        time_criticality=time_criticality,
        risk_reduction=risk_reduction,
        job_size=job_size,
        created_at=utc(2026, 1, day),
        **fields,
    )


def test_epics_rank_by_wsjf_with_ties_broken_by_lower_job_size_then_older_creation(world):
    # given: four epics with WSJF exactly 2 (16/8, 10/5, 6/3 twice), one with 60 and one
    # with 13/3
    epic(world, "E-16-8", (8, 5, 3, 8), day=1)
    epic(world, "E-10-5", (5, 3, 2, 5), day=2)
    epic(world, "E-6-3-new", (3, 2, 1, 3), day=3)
    epic(world, "E-6-3-old", (3, 2, 1, 3), day=1)
    epic(world, "E-60", (20, 20, 20, 1), day=9)
    epic(world, "E-13-3", (5, 5, 3, 3), day=9, project=world.own_project)

    # when
    ranking = epic_ranking(user=world.executive, portfolio=world.own)

    # then
    assert [(rank.position, rank.key) for rank in ranking] == [
        (1, "E-60"),
        (2, "E-13-3"),
        (3, "E-6-3-old"),
        (4, "E-6-3-new"),
        (5, "E-10-5"),
        (6, "E-16-8"),
    ]
    top, second = ranking[0], ranking[1]
    assert (top.cost_of_delay, top.wsjf) == (60, Decimal(60))
    assert (second.cost_of_delay, second.wsjf, second.project_key) == (13, Decimal("4.33"), "PAY")
    assert ranking[2].wsjf == ranking[5].wsjf == Decimal(2)


def test_wsjf_ranks_on_the_exact_quotient_not_on_its_rounded_display(world):
    # given: 17/20 = 0.85 and 11/13 = 0.846 both display as 0.85; on the rounded value the
    # tie would go to the lower job size (13)
    epic(world, "E-11-13", (5, 3, 3, 13), day=1)
    epic(world, "E-17-20", (8, 8, 1, 20), day=2)

    # when
    ranking = epic_ranking(user=world.viewer, portfolio=world.own)

    # then
    assert [(rank.key, rank.wsjf) for rank in ranking] == [
        ("E-17-20", Decimal("0.85")),
        ("E-11-13", Decimal("0.85")),
    ]


def test_done_epics_are_not_ranked(world):
    epic(world, "E-open", (1, 1, 1, 1), day=1)
    epic(world, "E-done", (20, 20, 20, 1), day=1, status=Epic.Status.DONE)

    ranking = epic_ranking(user=world.viewer, portfolio=world.own)

    assert [rank.key for rank in ranking] == ["E-open"]


def test_ranking_keeps_the_backlog_rank_for_comparison(world):
    epic(world, "E-low", (1, 1, 1, 20), day=1, rank=1)
    epic(world, "E-high", (20, 20, 20, 1), day=1, rank=2)

    ranking = epic_ranking(user=world.viewer, portfolio=world.own)

    assert [(rank.key, rank.position, rank.backlog_rank) for rank in ranking] == [
        ("E-high", 1, 2),
        ("E-low", 2, 1),
    ]


def test_ranking_of_a_portfolio_the_user_may_not_see_answers_not_found(world):
    with pytest.raises(Http404):
        epic_ranking(user=world.outsider, portfolio=world.own)
