from django.urls import path

from pmo import views

app_name = "pmo"
urlpatterns = [
    path("system/", views.system_status_view, name="system-status"),
]
