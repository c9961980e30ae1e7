"""Every WebSocket route of the project. Each app contributes its own list."""

from clinic.routing import websocket_urlpatterns as clinic_ws

websocket_urlpatterns = [*clinic_ws]
