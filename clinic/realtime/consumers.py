"""The portal socket (``/ws/portal/``): one per open page, carrying every realtime stream.

The guard in clinic.realtime.socket_auth has already checked origin, session, OTP and lifetime, so
``scope["user"]`` is a verified staff user. Protocol (docs/realtime-protocol.md): a snapshot
of every stream first, then versioned changes; ``snapshot.request`` re-sends one stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from clinic.errors import ApplicationError
from clinic.realtime.registry import stream_resolve, streams
from clinic.realtime.services import SESSION_CHECK, user_group
from clinic.realtime.socket_auth import REFUSED_CLOSE_CODE, session_still_valid

SESSION_ENDED_CLOSE_CODE = 4401
SESSION_RECHECK_DELAY = 1.0  # seconds
MAX_CLIENT_MESSAGE = 4096
CLIENT_TYPES = frozenset({"snapshot.request", "ping"})
# A client needs a snapshot after a gap or a reconnect, not in a loop: each one is queries.
SNAPSHOT_BURST = 10
SNAPSHOT_WINDOW_SECONDS = 10.0


def _snapshots(user: Any, names: list[str]) -> dict[str, Any]:
    data = {}
    for name in names:
        stream, key = stream_resolve(name) or (None, None)
        if stream is not None:
            data[name] = stream.snapshot(user) if key is None else stream.snapshot(user, key)
    return data


def _default_streams() -> list[str]:
    return [name for name, stream in streams().items() if not stream.keyed]


def _follow_groups(user: Any, name: str) -> list[str] | None:
    """The groups a keyed stream needs, or None when the user may not follow it."""
    stream, key = stream_resolve(name) or (None, None)
    if stream is None:
        return None
    if key is None or stream.groups is None:
        return []
    try:
        return stream.groups(user, key)
    except ApplicationError:  # NotFound: "not yours" looks like "no such stream"
        return None


def _groups(user: Any) -> list[str]:
    groups = [user_group(user.pk)]
    for stream in streams().values():
        if stream.groups is not None and not stream.keyed:
            groups.extend(g for g in stream.groups(user) if g not in groups)
    return groups


class PortalConsumer(AsyncJsonWebsocketConsumer):
    """Forwards the user's group messages; answers snapshot requests; ends with the session."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # The guard never lets this through; refuse anyway if someone mounts us elsewhere.
            await self.close(code=REFUSED_CLOSE_CODE)
            return
        self.user = user
        self.snapshot_times: list[float] = []
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.joined = await database_sync_to_async(_groups)(user)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        # Joined before the snapshot is read: a change committed meanwhile arrives as a
        # message the client can place (or discard) by its version.
        await self.send_snapshot(_default_streams())

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    # ------------------------------------------------------------ from the client

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_CLIENT_MESSAGE:
            await self.send_error("bad_message", "Messages are JSON text under 4 KB.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("bad_message", "That message is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind not in CLIENT_TYPES:
            await self.send_error("bad_message", "Unknown message type.")
            return
        if kind == "ping":
            await self.send_json({"type": "pong"})
            return
        stream = content.get("stream")
        if not isinstance(stream, str) or stream_resolve(stream) is None:
            await self.send_error("unknown_stream", "There is no such stream.")
            return
        now = time.monotonic()
        self.snapshot_times = [t for t in self.snapshot_times if now - t < SNAPSHOT_WINDOW_SECONDS]
        if len(self.snapshot_times) >= SNAPSHOT_BURST:
            await self.send_error("rate_limited", "Too many snapshot requests; wait a moment.")
            return
        self.snapshot_times.append(now)
        # A snapshot is data: make sure the session still stands before handing it out.
        if not await self.session_valid():
            await self.close(code=SESSION_ENDED_CLOSE_CODE)
            return
        # A keyed stream joins its groups first, so no change between snapshot and join is lost.
        groups = await database_sync_to_async(_follow_groups)(self.user, stream)
        if groups is None:
            await self.send_error("unknown_stream", "There is no such stream.")
            return
        for group in groups:
            if group not in self.joined:
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined.append(group)
        await self.send_snapshot([stream])

    # ------------------------------------------------------------ from the channel layer

    async def realtime_message(self, event: dict[str, Any]) -> None:
        message = event.get("message")
        if not isinstance(message, dict):
            return
        if message.get("type") == SESSION_CHECK:
            # Also accepted wrapped, as realtime.services.broadcast sends it; never forwarded.
            await self.session_check(message)
            return
        await self.send_json(message)

    async def session_check(self, event: dict[str, Any]) -> None:
        if not await self.session_valid():
            await self.close(code=SESSION_ENDED_CLOSE_CODE)

    # ------------------------------------------------------------ helpers

    async def session_valid(self) -> bool:
        check = database_sync_to_async(session_still_valid)
        if await check(self.session_key, self.user.pk):
            return True
        # Look once more before closing: the request that asked us to check may still be
        # writing this very session (a password change keeps the changer's own session by
        # re-saving its hash right after the broadcast goes out).
        await asyncio.sleep(SESSION_RECHECK_DELAY)
        return bool(await check(self.session_key, self.user.pk))

    async def send_snapshot(self, names: list[str]) -> None:
        data = await database_sync_to_async(_snapshots)(self.user, names)
        await self.send_json({"type": "snapshot", "streams": data})

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})
