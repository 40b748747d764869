"""Permission answers: read in one query per user object and cached on it, like Django's own
`_perm_cache`."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm

from governance.models import RoleAssignment
from governance.roles import Role
from governance.services import role_grant, role_revoke
from portfolio.permissions import (
    PortfolioPermission,
    ProjectPermission,
    has_portfolio_permission,
    has_project_permission,
    portfolio_ids_with,
    project_ids_with,
    visible_portfolio_ids,
)
from tests.factories import PortfolioFactory, ProjectFactory, UserFactory

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


def test_every_permission_question_of_a_request_costs_one_query(world, django_assert_num_queries):
    user = world.team_lead
    with django_assert_num_queries(1):
        assert has_project_permission(user, ProjectPermission.VIEW, world.own_project)
        assert has_project_permission(user, ProjectPermission.UPDATE_KPIS, world.own_project)
        assert not has_project_permission(user, ProjectPermission.VIEW, world.sibling_project)
        assert visible_portfolio_ids(user) == {world.own.pk}
        assert portfolio_ids_with(user, PortfolioPermission.CHANGE) == frozenset()


def test_a_portfolio_grant_covers_each_of_its_projects_and_no_other(world):
    ids = project_ids_with(world.pmo_leader, ProjectPermission.CHANGE)

    assert ids == {world.own_project.pk, world.sibling_project.pk}
    assert visible_portfolio_ids(world.pmo_leader) == {world.own.pk}


def test_a_project_grant_makes_its_portfolio_visible_but_grants_nothing_on_it(world):
    assert visible_portfolio_ids(world.team_lead) == {world.own.pk}
    assert portfolio_ids_with(world.team_lead, PortfolioPermission.VIEW) == frozenset()


def test_a_grant_through_a_group_counts_like_a_direct_one(world):
    group = Group.objects.create(name="observers")
    assign_perm(PortfolioPermission.VIEW.value, group, world.foreign)
    user = UserFactory()
    user.groups.add(group)

    assert visible_portfolio_ids(user) == {world.foreign.pk}
    assert project_ids_with(user, ProjectPermission.VIEW) == {world.foreign_project.pk}


def test_grants_on_deleted_or_malformed_objects_are_ignored(world):
    user = UserFactory()
    gone = ProjectFactory(portfolio=world.foreign)
    assign_perm(ProjectPermission.VIEW.value, user, gone)
    gone.delete()
    permission = Permission.objects.get(codename=PortfolioPermission.VIEW.value)
    UserObjectPermission.objects.bulk_create(  # as a raw row: save() would refuse it
        [
            UserObjectPermission(
                user=user,
                permission=permission,
                content_type=permission.content_type,
                object_pk="not-a-number",
            )
        ]
    )

    assert project_ids_with(user, ProjectPermission.VIEW) == frozenset()
    assert visible_portfolio_ids(user) == frozenset()


def test_an_anonymous_user_holds_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert project_ids_with(AnonymousUser(), ProjectPermission.VIEW) == frozenset()
        assert visible_portfolio_ids(AnonymousUser()) == frozenset()
