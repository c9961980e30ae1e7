"""Every WebSocket route of the project. Each app contributes its own list."""

from clinic.realtime.routing import websocket_urlpatterns as clinic_ws
from comms.routing import websocket_urlpatterns as comms_ws
from patients.guided.routing import websocket_urlpatterns as guided_ws
from scheduling.routing import websocket_urlpatterns as scheduling_ws

websocket_urlpatterns = [*clinic_ws, *scheduling_ws, *comms_ws, *guided_ws]
