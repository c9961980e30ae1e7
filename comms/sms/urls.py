"""URLs of Twilio's webhooks (included from comms/urls.py, in the "comms" namespace)."""

from django.urls import path

from comms.sms import views

urlpatterns = [
    path("twilio/<uuid:org_public_id>/status/", views.twilio_status, name="twilio_status"),
    path("twilio/<uuid:org_public_id>/sms/", views.twilio_inbound, name="twilio_inbound"),
]
