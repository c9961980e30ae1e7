from django.urls import path

from clinic.notifications import api as notifications_api
from clinic.organization import api as organization_api

urlpatterns = [
    path("me", organization_api.MeView.as_view(), name="api-me"),
    path("locations", organization_api.LocationListView.as_view(), name="api-locations"),
    path(
        "notifications",
        notifications_api.NotificationListView.as_view(),
        name="api-notifications",
    ),
    path(
        "notifications/<uuid:public_id>/read",
        notifications_api.NotificationReadView.as_view(),
        name="api-notification-read",
    ),
]
