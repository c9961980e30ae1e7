"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Sockets pass an origin check and the session + OTP check in clinic.realtime before any
consumer sees them.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from clinic.realtime import realtime_stack  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": realtime_stack(URLRouter(websocket_urlpatterns)),
    }
)
