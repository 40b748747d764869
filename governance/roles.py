"""Roles are bundles of object permissions, granted on one portfolio or one project.

Each role is also a Django group of the same name, so "who are the executives" is one query;
the groups themselves carry no model-wide permissions: rights come only from the object
permissions granted with a role.
"""

from __future__ import annotations

from django.db import models

from portfolio.permissions import PortfolioPermission, ProjectPermission


class Role(models.TextChoices):
    PMO_LEADER = "pmo_leader", "PMO leader"
    EXECUTIVE = "executive", "Executive"
    TEAM_LEAD = "team_lead", "Team lead"
    VIEWER = "viewer", "Viewer"


GROUP_NAMES: dict[str, str] = {role.value: role.label for role in Role}

PORTFOLIO_ROLE_PERMISSIONS: dict[str, tuple[PortfolioPermission, ...]] = {
    Role.PMO_LEADER: (
        PortfolioPermission.VIEW,
        PortfolioPermission.CHANGE,
        PortfolioPermission.MANAGE_MEMBERS,
        PortfolioPermission.UPDATE_KPIS,
    ),
    Role.EXECUTIVE: (PortfolioPermission.VIEW, PortfolioPermission.APPROVE_PRIORITIZATION),
    Role.VIEWER: (PortfolioPermission.VIEW,),
}

PROJECT_ROLE_PERMISSIONS: dict[str, tuple[ProjectPermission, ...]] = {
    Role.TEAM_LEAD: (
        ProjectPermission.VIEW,
        ProjectPermission.CHANGE,
        ProjectPermission.UPDATE_KPIS,
    ),
    Role.VIEWER: (ProjectPermission.VIEW,),
}
