"""WebSocket routes of the clinic core (config/routing.py collects every app's list)."""

from django.urls import path

from clinic.realtime.consumers import PortalConsumer

websocket_urlpatterns = [
    path("ws/portal/", PortalConsumer.as_asgi(), name="portal-socket"),
]
