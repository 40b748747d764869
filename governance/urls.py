from django.urls import path

from governance import views

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
]
