"""WebSocket routes of comms (config/routing.py collects every app's list)."""

websocket_urlpatterns: list = []
