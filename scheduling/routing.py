"""WebSocket routes of scheduling (config/routing.py collects every app's list)."""

websocket_urlpatterns: list = []
