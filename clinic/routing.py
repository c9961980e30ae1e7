"""WebSocket routes of the clinic core."""

websocket_urlpatterns: list = []
