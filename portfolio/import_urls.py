"""Pages of the history import (upload form, progress, report)."""

from django.urls import path

from portfolio import import_views

app_name = "imports"
urlpatterns = [
    path("imports/", import_views.job_list, name="job-list"),
    path("imports/new/", import_views.job_create, name="job-create"),
    path("imports/<int:job_id>/", import_views.job_detail, name="job-detail"),
]
