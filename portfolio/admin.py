from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from portfolio.models import (
    Epic,
    Portfolio,
    Project,
    Sprint,
    TeamMembership,
    WorkItem,
    WorkItemEvent,
)


@admin.register(Portfolio)
class PortfolioAdmin(GuardedModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    list_display = ["key", "name", "portfolio", "status", "target_date", "time_zone"]
    list_filter = ["portfolio", "status"]
    search_fields = ["key", "name"]
    inlines = [TeamMembershipInline]


@admin.register(Sprint)
class SprintAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "state", "start", "end", "completed_at"]
    list_filter = ["state", "project__portfolio"]
    search_fields = ["name", "project__key"]
    list_select_related = ["project"]


@admin.register(Epic)
class EpicAdmin(admin.ModelAdmin):
    list_display = ["key", "title", "portfolio", "rank", "status", "job_size"]
    list_filter = ["portfolio", "status"]
    search_fields = ["key", "title"]


class WorkItemEventInline(admin.TabularInline):
    model = WorkItemEvent
    extra = 0
    fields = ["kind", "at", "to_status", "to_category", "from_sprint", "to_sprint", "to_points"]
    readonly_fields = fields
    can_delete = False


@admin.register(WorkItem)
class WorkItemAdmin(admin.ModelAdmin):
    list_display = ["key", "title", "project", "status", "category", "story_points", "sprint"]
    list_filter = ["category", "project__portfolio"]
    search_fields = ["key", "title"]
    list_select_related = ["project", "sprint"]
    raw_id_fields = ["sprint", "epic"]
    inlines = [WorkItemEventInline]


@admin.register(TeamMembership)
class TeamMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "joined_at"]
    list_filter = ["role"]
    autocomplete_fields = ["user", "project"]
