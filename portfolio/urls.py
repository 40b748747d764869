from django.urls import path

from portfolio import views

app_name = "portfolio"
urlpatterns = [
    path("portfolios/", views.portfolio_list_view, name="portfolio-list"),
    path("portfolios/<slug:slug>/", views.portfolio_detail, name="portfolio-detail"),
    path("projects/<str:key>/", views.project_detail, name="project-detail"),
]
