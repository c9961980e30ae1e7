from django.urls import path

from clinic import api

urlpatterns = [
    path("me", api.MeView.as_view(), name="api-me"),
    path("locations", api.LocationListView.as_view(), name="api-locations"),
    path("notifications", api.NotificationListView.as_view(), name="api-notifications"),
    path(
        "notifications/<uuid:public_id>/read",
        api.NotificationReadView.as_view(),
        name="api-notification-read",
    ),
]
