"""WebSocket routes of patients.guided (config/routing.py collects every app's list)."""

websocket_urlpatterns: list = []
