"""WebSocket routes of patients.guided (config/routing.py collects every app's list).

Only the staff socket is listed here (behind the staff guard). The patient tablet's socket,
``/guided/device/ws/<session public id>/``, has its own guard and is mounted in config/asgi.py
(``patients.guided.socket_auth.device_socket_app``).
"""

from django.urls import path

from .consumers import staff_socket_app

websocket_urlpatterns = [
    path("ws/guided/<uuid:public_id>/", staff_socket_app(), name="guided-staff-socket"),
]
