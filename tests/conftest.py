"""Fixtures every test folder shares: two portfolios and a user for every role."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AbstractBaseUser

from governance.roles import Role
from governance.services import role_grant
from portfolio.models import Portfolio, Project
from tests.factories import PortfolioFactory, ProjectFactory, UserFactory


@dataclass
class World:
    """Portfolio `own` with projects `own_project` and `sibling_project`; portfolio `foreign`
    with `foreign_project`. Each role user holds its role in `own` (team lead: on own_project)."""

    own: Portfolio
    own_project: Project
    sibling_project: Project
    foreign: Portfolio
    foreign_project: Project
    admin: AbstractBaseUser
    pmo_leader: AbstractBaseUser
    executive: AbstractBaseUser
    team_lead: AbstractBaseUser
    viewer: AbstractBaseUser
    outsider: AbstractBaseUser

    def user(self, role: str) -> AbstractBaseUser | None:
        return None if role == "anonymous" else getattr(self, role)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 is deliberately slow; tests hash dozens of passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


ROLES = ["anonymous", "viewer", "team_lead", "pmo_leader", "executive", "outsider"]


@pytest.fixture
def world(db) -> World:
    admin = UserFactory(username="admin", is_superuser=True, is_staff=True)
    own = PortfolioFactory(name="Payments", slug="payments")
    foreign = PortfolioFactory(name="Logistics", slug="logistics")
    own_project = ProjectFactory(portfolio=own, key="PAY", name="Payments core")
    sibling_project = ProjectFactory(portfolio=own, key="CARD", name="Cards")
    foreign_project = ProjectFactory(portfolio=foreign, key="SHIP", name="Shipping")
    users = {name: UserFactory(username=name) for name in ROLES[1:]}
    role_grant(actor=admin, user=users["pmo_leader"], role=Role.PMO_LEADER, portfolio=own)
    role_grant(actor=admin, user=users["executive"], role=Role.EXECUTIVE, portfolio=own)
    role_grant(actor=admin, user=users["viewer"], role=Role.VIEWER, portfolio=own)
    role_grant(actor=admin, user=users["team_lead"], role=Role.TEAM_LEAD, project=own_project)
    role_grant(actor=admin, user=users["outsider"], role=Role.PMO_LEADER, portfolio=foreign)
    return World(
        own=own,
        own_project=own_project,
        sibling_project=sibling_project,
        foreign=foreign,
        foreign_project=foreign_project,
        admin=admin,
        **users,
    )
