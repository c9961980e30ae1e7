"""Portal URLs of delivery tickets (included into the ``equipment`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("deliveries/", views.ticket_list, name="tickets"),
    path("deliveries/new", views.ticket_new, name="ticket_new"),
    path("deliveries/today", views.my_deliveries, name="my_deliveries"),
    path("deliveries/<uuid:public_id>/", views.ticket_detail, name="ticket"),
    path(
        "deliveries/<uuid:public_id>/schedule",
        views.ticket_action,
        {"action": "schedule"},
        name="ticket_schedule",
    ),
    path(
        "deliveries/<uuid:public_id>/cancel",
        views.ticket_action,
        {"action": "cancel"},
        name="ticket_cancel",
    ),
    path("deliveries/<uuid:public_id>/start", views.ticket_start, name="ticket_start"),
    path("deliveries/<uuid:public_id>/complete", views.ticket_complete, name="ticket_complete"),
    path("deliveries/<uuid:public_id>/fail", views.ticket_fail_view, name="ticket_fail"),
]
