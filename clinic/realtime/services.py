"""Realtime helpers: group names, versioned streams, broadcast, and the socket guard.

Group names carry ids only (never names or other PHI). Every message on a stream carries
the stream's version; a client that sees a gap asks for a snapshot, because channel layers
deliver at most once.

The streams the portal socket serves are registered in ``clinic.realtime.registry``.
The protocol is described in docs/realtime-protocol.md.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction

from clinic.models import RealtimeStream

_GROUP_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def group_check(name: str) -> str:
    """Refuse anything that could not have come from ``group_name`` (channels allows < 100)."""
    if not name or len(name) > 90 or not set(name) <= _GROUP_CHARS:
        raise ValueError("group names hold ids only")
    return name


def group_name(kind: str, ident: object) -> str:
    """The one place group names are made: ``<kind>.<id>`` with ids only."""
    return group_check(f"{kind}.{ident}")


def user_group(user_id: int) -> str:
    """Every socket of one user (all tabs, all devices) listens here."""
    return group_name("user", user_id)


def stream_bump(key: str) -> int:
    """Advance a stream's version inside the caller's transaction and return the new value.

    The upsert locks the stream's row until commit, so writers of one stream are serialized
    and versions reach clients in the order the changes committed.
    """
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
    row = RealtimeStream.objects.filter(key=key).values_list("version", flat=True).first()
    return int(row or 0)


def broadcast(group: str, message: dict[str, Any]) -> None:
    """Send to a group now (used by the outbox dispatcher, after commit)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        group_check(group), {"type": "realtime.message", "message": message}
    )


SESSION_CHECK = "session.check"


def user_sessions_check(user_id: int) -> None:
    """Ask every open socket of a user to re-check its session (after commit).

    Call after a password change, a deactivation or a logout: each socket re-loads its session
    and closes (4401) if the session is gone, the user inactive or the password changed.
    """

    def send() -> None:
        # Every layer: some sockets (the guided console) listen on a layer of their own.
        for alias in settings.CHANNEL_LAYERS:
            layer = get_channel_layer(alias)
            if layer is not None:
                async_to_sync(layer.group_send)(
                    user_group(user_id),
                    {"type": "realtime.message", "message": {"type": SESSION_CHECK}},
                )

    # robust: a channel layer that is down must not turn a sign-out into an error page.
    transaction.on_commit(send, robust=True)
