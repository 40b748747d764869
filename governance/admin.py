from django.contrib import admin

from governance.models import DecisionLog, RoleAssignment


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(admin.ModelAdmin):
    """Read-only: roles are granted through the Members page so that rights and the decision
    log stay in step."""

    list_display = ["user", "role", "portfolio", "project", "granted_by", "granted_at"]
    list_filter = ["role"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DecisionLog)
class DecisionLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "actor_label", "subject", "summary"]
    list_filter = ["kind", "portfolio"]
    search_fields = ["summary", "subject", "actor_label"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
