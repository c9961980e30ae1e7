"""The guard in front of every WebSocket: origin, session, OTP, session lifetime.

A socket that fails any check is refused before a consumer sees it, and the refusal is
audited. Consumers then find ``scope["user"]`` to be a verified, active staff user.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.http.request import validate_host
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from clinic import context
from clinic.audit.services import audit_record
from clinic.auth.sessions import SESSION_AUTH_AT, SESSION_LAST_SEEN
from clinic.client_ip import client_ip_of_scope

REFUSED_CLOSE_CODE = 4403


def _origin_allowed(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin1")
    if not origin:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    # Same origin: the page that opens the socket was served by this host (as Django's CSRF
    # check reasons), and the host itself must be one we serve.
    host = headers.get(b"host", b"").decode("latin1")
    if (
        host
        and parts.netloc == host
        and validate_host(parts.hostname or "", settings.ALLOWED_HOSTS)
    ):
        return True
    allowed = getattr(settings, "REALTIME_ALLOWED_ORIGINS", [])
    normalized = f"{parts.scheme}://{parts.netloc}"
    return normalized in allowed or f"{parts.scheme}://{parts.hostname}" in allowed


# Public for guards of sockets that have no staff session (the guided patient tablet).
origin_allowed = _origin_allowed


def _session_fresh(session: Any) -> bool:
    now = int(time.time())
    auth_at = session.get(SESSION_AUTH_AT)
    last_seen = session.get(SESSION_LAST_SEEN)
    if auth_at is None or last_seen is None:
        return False
    if now - int(auth_at) > settings.SESSION_ABSOLUTE_SECONDS:
        return False
    return now - int(last_seen) <= settings.IDLE_TIMEOUT_SECONDS


def _otp_verified(session: Any, user: Any) -> bool:
    device_id = session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(device_id) if device_id else None
    return device is not None and device.user_id == user.pk and bool(device.confirmed)


def verified_user(scope: dict[str, Any]) -> Any:
    """The scope's user if the session is signed in, OTP-verified and fresh; else None."""
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not user.is_authenticated or not user.is_active or session is None:
        return None
    if not _session_fresh(session):
        return None
    if not _otp_verified(session, user):
        return None
    return user


def session_still_valid(session_key: str | None, user_id: int) -> bool:
    """Re-read a socket's session from the store: does it still belong to an active user
    whose password has not changed since sign-in, with its second factor and within its
    lifetime? (Sync; consumers call it through ``database_sync_to_async``.)"""
    from django.contrib.auth import get_user_model

    if not session_key:
        return False
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(session_key)
    data = session.load()  # an unknown or expired key loads as empty
    if not data or str(data.get(SESSION_KEY)) != str(user_id):
        return False
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    stored_hash = data.get(HASH_SESSION_KEY) or ""
    if not constant_time_compare(stored_hash, user.get_session_auth_hash()):
        return False
    return _session_fresh(data) and _otp_verified(data, user)


@contextmanager
def socket_request_context(scope: dict[str, Any]) -> Iterator[None]:
    """The client's IP and user agent for audit rows written while a socket is checked."""
    headers = dict(scope.get("headers") or [])
    token = context.activate(
        context.RequestContext(
            request_id="",
            ip=client_ip_of_scope(scope),
            user_agent=headers.get(b"user-agent", b"").decode("latin1")[:256],
        )
    )
    try:
        yield
    finally:
        context.reset(token)


@database_sync_to_async
def _check_and_audit(scope: dict[str, Any]) -> Any:
    with socket_request_context(scope):
        if not _origin_allowed(scope):
            audit_record(actor=None, action="realtime.refused", details={"reason": "origin"})
            return None
        user = verified_user(scope)
        if user is None:
            raw_user = scope.get("user")
            actor = raw_user if raw_user is not None and raw_user.is_authenticated else None
            audit_record(actor=actor, action="realtime.refused", details={"reason": "session"})
        return user


class _Guard:
    def __init__(self, inner: Any):
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        user = await _check_and_audit(scope)
        if user is None:
            # Refuse the handshake: the browser sees a failed connection (HTTP 403).
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": REFUSED_CLOSE_CODE})
            return None
        scope = dict(scope, user=user)
        return await self.inner(scope, receive, send)


def SocketGuard(inner: Any) -> Any:
    return AuthMiddlewareStack(_Guard(inner))


def realtime_stack(inner: Any) -> Any:
    """The ASGI stack every staff socket sits behind (config/asgi.py)."""
    return SocketGuard(inner)
