"""URLs of comms, all in the "comms" namespace: each sub-domain lists its own."""

from django.urls import include, path

app_name = "comms"
urlpatterns = [
    path("", include("comms.messaging.urls")),  # inbox, a patient's tab, templates, settings
    path("", include("comms.sms.urls")),  # Twilio webhooks
    path("", include("comms.gmail.urls")),  # Gmail: mailboxes, email pages, search
]
