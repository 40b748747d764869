"""Permission answers are cached per user object, like Django's own `_perm_cache`."""

import pytest

from governance.models import RoleAssignment
from governance.roles import Role
from governance.services import role_grant, role_revoke
from portfolio.permissions import (
    PortfolioPermission,
    ProjectPermission,
    has_portfolio_permission,
    has_project_permission,
)
from tests.factories import PortfolioFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_superuser_may_act_on_objects_created_after_permissions_were_cached(world):
    assert has_portfolio_permission(world.admin, PortfolioPermission.CHANGE, world.own)
    newer = PortfolioFactory()

    assert has_portfolio_permission(world.admin, PortfolioPermission.MANAGE_MEMBERS, newer)
    assert has_project_permission(
        world.admin, ProjectPermission.CHANGE, ProjectFactory(portfolio=newer)
    )


def test_a_grant_refreshes_the_permissions_cached_on_the_granted_user_object(world):
    assert not has_project_permission(
        world.viewer, ProjectPermission.UPDATE_KPIS, world.own_project
    )

    role_grant(
        actor=world.pmo_leader, user=world.viewer, role=Role.TEAM_LEAD, project=world.own_project
    )

    assert has_project_permission(world.viewer, ProjectPermission.UPDATE_KPIS, world.own_project)


def test_a_revoke_refreshes_the_permissions_cached_on_the_user_object_it_was_given(world):
    assignment = RoleAssignment.objects.get(user=world.team_lead, role=Role.TEAM_LEAD)
    assert has_project_permission(world.team_lead, ProjectPermission.VIEW, world.own_project)

    role_revoke(actor=world.pmo_leader, assignment=assignment)

    # role_revoke loads the assignment's own user object; a fresh object sees the change
    fresh = type(world.team_lead).objects.get(pk=world.team_lead.pk)
    assert not has_project_permission(fresh, ProjectPermission.VIEW, world.own_project)


def test_a_portfolio_role_covers_projects_created_later_for_a_fresh_user_object(world):
    later = ProjectFactory(portfolio=world.own)

    assert has_project_permission(world.pmo_leader, ProjectPermission.CHANGE, later)
