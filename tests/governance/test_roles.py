import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from governance.models import DecisionKind, DecisionLog, RoleAssignment
from governance.roles import Role
from governance.services import role_grant, role_revoke
from portfolio.permissions import ProjectPermission, has_project_permission, visible_projects
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_pmo_leader_grants_team_lead_and_the_grant_is_audited(world):
    newcomer = UserFactory(username="newcomer")

    role_grant(
        actor=world.pmo_leader, user=newcomer, role=Role.TEAM_LEAD, project=world.own_project
    )

    assert has_project_permission(newcomer, ProjectPermission.UPDATE_KPIS, world.own_project)
    assert list(visible_projects(newcomer)) == [world.own_project]
    entry = DecisionLog.objects.filter(kind=DecisionKind.ROLE_CHANGE, actor=world.pmo_leader).get()
    assert entry.portfolio == world.own
    assert "newcomer" in entry.summary


def test_pmo_leader_of_another_portfolio_cannot_grant_here(world):
    newcomer = UserFactory(username="newcomer")
    before = DecisionLog.objects.count()

    with pytest.raises(PermissionDenied):
        role_grant(actor=world.outsider, user=newcomer, role=Role.VIEWER, portfolio=world.own)

    assert not RoleAssignment.objects.filter(user=newcomer).exists()
    assert DecisionLog.objects.count() == before


@pytest.mark.parametrize("role", [Role.PMO_LEADER, Role.EXECUTIVE])
def test_portfolio_only_roles_are_refused_on_a_project(world, role):
    with pytest.raises(ValidationError, match="cannot be granted on a project"):
        role_grant(actor=world.pmo_leader, user=world.viewer, role=role, project=world.own_project)


def test_team_lead_role_is_refused_on_a_portfolio(world):
    with pytest.raises(ValidationError, match="cannot be granted on a portfolio"):
        role_grant(
            actor=world.pmo_leader, user=world.viewer, role=Role.TEAM_LEAD, portfolio=world.own
        )


def test_revoking_one_role_keeps_permissions_another_role_still_grants(world):
    role_grant(
        actor=world.pmo_leader, user=world.team_lead, role=Role.VIEWER, project=world.own_project
    )
    lead_role = RoleAssignment.objects.get(user=world.team_lead, role=Role.TEAM_LEAD)

    role_revoke(actor=world.pmo_leader, assignment=lead_role)

    assert has_project_permission(world.team_lead, ProjectPermission.VIEW, world.own_project)
    assert not has_project_permission(
        world.team_lead, ProjectPermission.UPDATE_KPIS, world.own_project
    )
    assert not world.team_lead.groups.filter(name="Team lead").exists()


def test_team_lead_sees_only_their_project(world):
    assert list(visible_projects(world.team_lead)) == [world.own_project]


def test_portfolio_role_covers_every_project_of_the_portfolio(world):
    assert set(visible_projects(world.viewer)) == {world.own_project, world.sibling_project}
