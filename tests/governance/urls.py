"""The project's URLconf plus the governance API under /api/, for tests that need the API
before (or after) pmo/api_urls.py includes governance.api_urls: with both, the first match
wins and the routes are the same."""

from django.urls import include, path

from pmo.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("api/", include("governance.api_urls")), *project_urlpatterns]
