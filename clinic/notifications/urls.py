"""The notification centre."""

from django.urls import path

from clinic.notifications import views as notifications

urlpatterns = [
    path("notifications", notifications.notification_list, name="notifications"),
    path(
        "notifications/snapshot",
        notifications.notification_snapshot,
        name="notifications-snapshot",
    ),
    path(
        "notifications/read-all", notifications.notification_read_all, name="notifications-read-all"
    ),
    path("notifications/test", notifications.notification_test, name="notifications-test"),
    path(
        "notifications/<uuid:public_id>/read",
        notifications.notification_read,
        name="notification-read",
    ),
]
