from django.urls import path

from governance import approval_views, decision_views, policy_views, views

app_name = "governance"
urlpatterns = [
    path("portfolios/<slug:slug>/members/", views.portfolio_members, name="portfolio-members"),
    path(
        "portfolios/<slug:slug>/members/<int:assignment_id>/revoke/",
        views.portfolio_member_revoke,
        name="portfolio-member-revoke",
    ),
    path("projects/<str:key>/members/", views.project_members, name="project-members"),
    path(
        "projects/<str:key>/members/<int:assignment_id>/revoke/",
        views.project_member_revoke,
        name="project-member-revoke",
    ),
    # Recommendations and approvals
    path("approvals/", approval_views.inbox_view, name="inbox"),
    path(
        "approvals/<int:recommendation_id>/",
        approval_views.recommendation_detail,
        name="recommendation-detail",
    ),
    path(
        "approvals/<int:recommendation_id>/decide/",
        approval_views.recommendation_decide_view,
        name="recommendation-decide",
    ),
    path(
        "portfolios/<slug:slug>/recommendations/new/",
        approval_views.recommendation_create,
        name="recommendation-create",
    ),
    # Decision log
    path("decisions/", decision_views.decision_log_view, name="decision-log"),
    path(
        "decisions/export.jsonl",
        decision_views.decision_log_export_jsonl,
        name="decision-log-export-jsonl",
    ),
    path(
        "decisions/export.csv",
        decision_views.decision_log_export_csv,
        name="decision-log-export-csv",
    ),
    # Policies
    path("portfolios/<slug:slug>/policies/", policy_views.policy_list_view, name="policy-list"),
    path(
        "portfolios/<slug:slug>/policies/<int:policy_id>/",
        policy_views.policy_edit_view,
        name="policy-edit",
    ),
]
