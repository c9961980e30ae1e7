"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Sockets pass an origin check and the session + OTP check in clinic.realtime.socket_auth before any
consumer sees them; the one exception is the guided patient tablet's socket, which has no staff
session and passes the origin check and its device-token check instead
(patients/guided/socket_auth.py).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from clinic.realtime.socket_auth import realtime_stack  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from patients.guided.socket_auth import DEVICE_SOCKET_PREFIX, device_socket_app  # noqa: E402

staff_sockets = realtime_stack(URLRouter(websocket_urlpatterns))
guided_device_socket = device_socket_app()


async def websocket_app(scope, receive, send):
    # The guided patient tablet has no staff session: its own guard (origin + device token).
    if scope.get("path", "").startswith(DEVICE_SOCKET_PREFIX):
        return await guided_device_socket(scope, receive, send)
    return await staff_sockets(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_app,
    }
)
