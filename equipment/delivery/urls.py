"""Portal URLs of delivery tickets (included into the ``equipment`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("deliveries/today", views.my_deliveries, name="my_deliveries"),
    path("deliveries/<uuid:public_id>/start", views.ticket_start, name="ticket_start"),
    path("deliveries/<uuid:public_id>/complete", views.ticket_complete, name="ticket_complete"),
    path("deliveries/<uuid:public_id>/fail", views.ticket_fail_view, name="ticket_fail"),
]
