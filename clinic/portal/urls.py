"""The portal shell: the dashboard."""

from django.urls import path

from clinic.portal import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
