"""The guard of the patient tablet's socket: same origin check as staff sockets, then the
``guided_device`` cookie must name a live device token of the active session the path names
(``/guided/device/ws/<session public id>/``). No staff session is looked at. Mounted for paths
under ``DEVICE_SOCKET_PREFIX``, in config/asgi.py.

The session id in the path is for the proxy: both tablets of a session name it (the staff
socket is ``/ws/guided/<session public id>/``), so a proxy can send them to the same web
process, where events go from one socket to the other without Redis (README, "Deploying")."""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.http.cookie import parse_cookie

from clinic.audit.services import audit_record
from clinic.realtime.socket_auth import REFUSED_CLOSE_CODE, origin_allowed, socket_request_context

from .consumers import PatientConsumer
from .services import device_from_token

DEVICE_COOKIE = "guided_device"
DEVICE_COOKIE_PATH = "/guided/device/"
DEVICE_SOCKET_PREFIX = "/guided/device/ws/"


def device_socket_path(session_public_id: Any) -> str:
    return f"{DEVICE_SOCKET_PREFIX}{session_public_id}/"


def path_session(path: str) -> uuid.UUID | None:
    """The session public id a tablet socket path names, or None when it names none."""
    rest = path.removeprefix(DEVICE_SOCKET_PREFIX)
    if rest == path or not rest.endswith("/"):
        return None
    try:
        return uuid.UUID(rest[:-1])
    except ValueError:
        return None


def device_cookie(scope: dict[str, Any]) -> str | None:
    headers = dict(scope.get("headers") or [])
    raw = headers.get(b"cookie", b"").decode("latin1")
    return parse_cookie(raw).get(DEVICE_COOKIE) if raw else None


@database_sync_to_async
def _check_and_audit(scope: dict[str, Any]) -> Any:

    with socket_request_context(scope):
        if not origin_allowed(scope):
            audit_record(actor=None, action="realtime.refused", details={"reason": "origin"})
            return None
        device = device_from_token(device_cookie(scope))
        if device is not None and device.session.public_id != path_session(scope["path"]):
            device = None  # a token opens its own session's socket only
        if device is None:
            audit_record(actor=None, action="realtime.refused", details={"reason": "device_token"})
        return device


class DeviceSocketGuard:
    def __init__(self, inner: Any):
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        device = await _check_and_audit(scope)
        if device is None:
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": REFUSED_CLOSE_CODE})
            return None
        return await self.inner(dict(scope, guided_device=device), receive, send)


def device_socket_app() -> Any:
    return DeviceSocketGuard(PatientConsumer.as_asgi())
