"""Dashboard pages, chart regions and CSV downloads of the flow metrics."""

from django.urls import path  # noqa: F401

app_name = "metrics"
urlpatterns: list = []
