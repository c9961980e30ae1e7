"""Realtime helpers: group names, versioned streams, broadcast, and the socket guard.

Group names carry ids only (never names or other PHI). Every message on a stream carries
the stream's version; a client that sees a gap asks for a snapshot, because channel layers
deliver at most once.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection


def group_name(kind: str, ident: object) -> str:
    """The one place group names are made: ``<kind>.<id>`` with ids only."""
    text = f"{kind}.{ident}"
    if not all(c.isalnum() or c in "._-" for c in text) or len(text) > 90:
        raise ValueError("group names hold ids only")
    return text


def user_group(user_id: int) -> str:
    return group_name("user", user_id)


def stream_bump(key: str) -> int:
    """Advance a stream's version inside the caller's transaction and return the new value."""
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO clinic_realtimestream (key, version) VALUES (%s, 1)
            ON CONFLICT (key) DO UPDATE SET version = clinic_realtimestream.version + 1
            RETURNING version
            """,
            [key],
        )
        return int(cur.fetchone()[0])


def stream_version(key: str) -> int:
    from clinic.models import RealtimeStream

    row = RealtimeStream.objects.filter(key=key).values_list("version", flat=True).first()
    return int(row or 0)


def broadcast(group: str, message: dict[str, Any]) -> None:
    """Send to a group now (used by the outbox dispatcher, after commit)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group, {"type": "realtime.message", "message": message})


def realtime_stack(inner: Any) -> Any:
    from clinic.socket_auth import SocketGuard

    return SocketGuard(inner)
