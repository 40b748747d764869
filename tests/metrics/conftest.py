"""Fixtures of the metrics tests."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from portfolio.permissions import forget_cached_permissions
from tests.conftest import ROLES


@pytest.fixture
def django_assert_num_queries(django_assert_num_queries, world):
    """Count each measured block as a request would: a request starts with a fresh user
    object, so the permission answers cached on the `world` users are dropped first."""

    @contextmanager
    def measured(num, *args, **kwargs):
        for role in ROLES[1:]:
            forget_cached_permissions(world.user(role))
        with django_assert_num_queries(num, *args, **kwargs) as context:
            yield context

    return measured
