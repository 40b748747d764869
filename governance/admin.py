"""Read-only admin: governance rows are written only by the services, so that every change
has its decision-log entry (and the decision log itself is append-only in the database)."""

from django.contrib import admin

from governance.models import Approval, DecisionLog, Policy, Recommendation, RoleAssignment


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ReadOnlyAdmin):
    """Roles are granted through the Members page so that rights and the decision log stay
    in step."""

    list_display = ["user", "role", "portfolio", "project", "granted_by", "granted_at"]
    list_filter = ["role"]


@admin.register(DecisionLog)
class DecisionLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "portfolio", "sequence", "kind", "actor_label", "summary"]
    list_filter = ["kind", "portfolio"]
    search_fields = ["summary", "subject", "actor_label"]


@admin.register(Policy)
class PolicyAdmin(ReadOnlyAdmin):
    """Policies are edited on the portfolio's Policies page, which logs each change."""

    list_display = ["portfolio", "kind", "parameters", "active", "version", "updated_at"]
    list_filter = ["kind", "active"]


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    can_delete = False
    fields = ["approver", "decision", "comment", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyAdmin):
    list_display = ["pk", "portfolio", "state", "proposed_by", "agent_label", "created_at"]
    list_filter = ["state", "portfolio"]
    inlines = [ApprovalInline]
