"""URL map. Each app owns its own urls module; the API router lives in pmo/api_urls.py."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="portfolio:portfolio-list"), name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("portfolio.urls")),
    path("", include("portfolio.import_urls")),
    path("", include("metrics.urls")),
    path("", include("governance.urls")),
    path("", include("pmo.page_urls")),
    path("", include("agents.urls")),
    path("api/", include("pmo.api_urls")),
    path("admin/", admin.site.urls),
]
