"""The two sockets of a guided session (docs/guided-session-protocol.md).

``StaffConsumer`` (``/ws/guided/<public_id>/``) sits behind the staff guard (origin, session,
OTP); ``PatientConsumer`` (``/guided/device/ws/<public_id>/``) behind the device-token guard.
Both send a SNAPSHOT first, hand every command to ``services.message_apply`` and forward the
applied events of their group. Nothing is decided here: the rules live in protocol.py and
services.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from clinic.errors import NotFound
from clinic.realtime.services import SESSION_CHECK, user_group
from clinic.realtime.socket_auth import REFUSED_CLOSE_CODE, session_still_valid

from . import protocol, services
from .models import DeviceToken, SessionStatus
from .pointer import pointer_apply
from .protocol import DEVICE_REVOKED, GUIDED_LAYER, PATIENT, STAFF, guided_event, session_group
from .services import presence_update, session_for_staff

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE = 16 * 1024
RATE_BURST = 50  # messages per second per socket
SESSION_ENDED_CLOSE_CODE = 4410
STAFF_SESSION_ENDED_CLOSE_CODE = 4401


def _db(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` on the thread pool, not asgiref's single thread-sensitive thread: the sockets of
    every session would otherwise queue behind each other's database work. Each call stands
    alone (its own transaction), so it may run on any thread."""
    return database_sync_to_async(fn, thread_sensitive=False)


_PROCESS = uuid.uuid4().hex
# The guided sockets of this process, by session: an event sent from here reaches them at once,
# not through Redis (see _GuidedConsumer.group_send_all).
_here: dict[int, weakref.WeakSet[_GuidedConsumer]] = {}


def _origin() -> str:
    """This process and event loop (tests run one loop per test, the server one per process)."""
    return f"{_PROCESS}.{id(asyncio.get_running_loop())}"


class _GuidedConsumer(AsyncJsonWebsocketConsumer):
    channel_layer_alias = GUIDED_LAYER
    role: str
    session_id: int
    group: str
    origin = ""
    # Events handed over directly while the socket is still joining (sent after the snapshot);
    # None once it has joined.
    held: list[dict[str, Any]] | None = None

    async def _join(self) -> None:
        self.times: list[float] = []
        self.ctx = await _db(protocol.session_context)(self.session_id)
        self.origin, self.held = _origin(), []
        _here.setdefault(self.session_id, weakref.WeakSet()).add(self)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.protocol_call(
            presence_update,
            session_id=self.session_id,
            role=self.role,
            channel=self.channel_name,
            joined=True,
        )
        await self.send_snapshot()
        held, self.held = self.held, None
        for event in held:  # the client ignores those the snapshot already holds
            await self.deliver(event)

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "group"):
            return
        here = _here.get(self.session_id)
        if here is not None:
            here.discard(self)
            if not here:
                _here.pop(self.session_id, None)
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.protocol_call(
            presence_update,
            session_id=self.session_id,
            role=self.role,
            channel=self.channel_name,
            joined=False,
        )

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, a trip to a worker
        # thread for each event forwarded; these handlers reach the database only through
        # _db(), which does the same around each call.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def protocol_call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """Run a protocol or service call and send the events it committed to their groups."""
        result, outgoing = await _db(protocol.collecting)(fn, **kwargs)
        await self.group_send_all(outgoing)
        return result

    async def group_send_all(
        self, outgoing: protocol.Outgoing, *, listeners: frozenset[str] | None = None
    ) -> None:
        """Send committed events: first straight to this session's sockets in this process and
        loop, then through the channel layer, marked with where it came from, for the sockets
        elsewhere (the sockets here skip that copy: they have it). ``listeners``: the channels
        of every socket of the session when the command committed, if known; when all of them
        are here, nobody elsewhere needs the channel layer's copy."""
        for group, sides in outgoing:
            event = {**guided_event(sides), "origin": self.origin}
            if group != self.group:
                await self.channel_layer.group_send(group, event)
                continue
            here = [s for s in _here.get(self.session_id, ()) if s.origin == self.origin]
            here.sort(key=lambda s: s is self)  # the other side first: its screen is waiting
            for socket in here:
                await socket.receive_here(event)
            if listeners is None or not listeners <= {s.channel_name for s in here}:
                await self.channel_layer.group_send(group, event)

    async def receive_here(self, event: dict[str, Any]) -> None:
        if self.held is not None:
            self.held.append(event)
            return
        try:
            await self.deliver(event)
        except Exception as exc:  # a socket closing meanwhile: the sender carries on
            log.info("guided event not handed over: %s", type(exc).__name__)

    async def guided_message(self, event: dict[str, Any]) -> None:
        if event.get("origin") == self.origin:
            return  # handed over directly when it was sent (group_send_all)
        await self.deliver(event)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_CLIENT_MESSAGE:
            await self.send_error(None, "bad_message", "Messages are JSON text under 16 KB.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error(None, "bad_message", "That message is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        client_id = content.get("id") if isinstance(content, dict) else None
        now = time.monotonic()
        self.times = [t for t in self.times if now - t < 1.0]
        if len(self.times) >= RATE_BURST:
            await self.send_error(client_id, "rate_limited", "Too many messages; slow down.")
            return
        self.times.append(now)
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "PING":
            await self.send_json({"type": "PONG", "id": client_id})
            return
        if kind == "SNAPSHOT_REQUEST":
            if await self.still_allowed():
                await self.send_snapshot()
            return
        fast = await pointer_apply(
            session_id=self.session_id,
            role=self.role,
            ctx=self.ctx,
            message=content,
            device_id=getattr(self, "device_id", None),
        )
        if fast is not None:  # applied on this loop; else the full path decides
            await self.group_send_all(fast.outgoing, listeners=fast.listeners)
            if not self.acknowledged(fast.reply, fast.outgoing):
                await self.send_json(fast.reply)
            return
        reply, outgoing = await _db(protocol.collecting)(
            services.message_apply,
            session_id=self.session_id,
            role=self.role,
            message=content,
            **self.sender(),
        )
        await self.group_send_all(outgoing)
        # message_apply refuses a let-go device itself; only then is it worth a second look,
        # to tell the tablet the session is over for it and close the socket.
        if reply.get("type") == "ERROR" and not await self.still_allowed():
            return
        if not self.acknowledged(reply, outgoing):
            await self.send_json(reply)

    def acknowledged(self, reply: dict[str, Any], outgoing: protocol.Outgoing) -> bool:
        """Whether the ACK of an applied command went out already: the sender's own copy of the
        event, which carries its id, was just handed to this socket (group_send_all)."""
        if reply.get("type") != "ACK" or reply.get("duplicate"):
            return False
        for group, sides in outgoing:
            own = sides.get(self.role)
            if group == self.group and isinstance(own, dict) and own.get("id") == reply["id"]:
                return True
        return False

    async def deliver(self, event: dict[str, Any]) -> None:
        message = event.get(self.role)
        if not isinstance(message, dict):
            return
        await self.send_json(message)

    async def send_snapshot(self) -> None:
        data = await _db(protocol.session_snapshot)(session_id=self.session_id, role=self.role)
        await self.send_json(data)

    async def send_error(self, client_id: Any, code: str, message: str) -> None:
        version = await _db(protocol.session_version)(self.session_id)
        await self.send_json(
            {
                "type": "ERROR",
                "id": client_id if isinstance(client_id, str) else None,
                "version": version,
                "code": code,
                "message": message,
            }
        )

    def sender(self) -> dict[str, Any]:
        raise NotImplementedError

    async def still_allowed(self) -> bool:
        return True


class StaffConsumer(_GuidedConsumer):
    role = STAFF

    async def connect(self) -> None:
        user = self.scope.get("user")
        session_id = self.scope.get("guided_session_id")
        if session_id is None:  # mounted without the gate: refuse
            await self.close(code=REFUSED_CLOSE_CODE)
            return
        self.user = user
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        self.session_id = session_id
        self.group = session_group(session_id)
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        await self._join()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "user"):
            await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
        await super().disconnect(code)

    def sender(self) -> dict[str, Any]:
        return {"actor": self.user}

    async def realtime_message(self, event: dict[str, Any]) -> None:
        # The user's group also carries portal notifications; only a session check matters here.
        message = event.get("message")
        if isinstance(message, dict) and message.get("type") == SESSION_CHECK:
            await self.session_check(message)

    async def session_check(self, event: dict[str, Any]) -> None:
        if not await self._session_valid():
            await self.close(code=STAFF_SESSION_ENDED_CLOSE_CODE)

    async def _session_valid(self) -> bool:
        check = database_sync_to_async(session_still_valid)
        if await check(self.session_key, self.user.pk):
            return True
        await asyncio.sleep(1.0)  # as the portal socket: the session may be mid-rewrite
        return bool(await check(self.session_key, self.user.pk))


class StaffSessionGate:
    """Refuse a staff socket for a session the user may not run before any consumer (and its
    channel-layer receive) exists: a refusal costs one query, not a Redis round trip."""

    def __init__(self, inner: Any):
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        public_id = scope.get("url_route", {}).get("kwargs", {}).get("public_id")
        session_id = await database_sync_to_async(_staff_session_id)(scope.get("user"), public_id)
        if session_id is None:
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": REFUSED_CLOSE_CODE})
            return None
        return await self.inner(dict(scope, guided_session_id=session_id), receive, send)


def staff_socket_app() -> Any:
    return StaffSessionGate(StaffConsumer.as_asgi())


def _staff_session_id(user: Any, public_id: Any) -> int | None:

    if user is None or not user.is_authenticated:
        return None
    try:
        return session_for_staff(user, public_id).pk
    except NotFound:
        return None


class PatientConsumer(_GuidedConsumer):
    role = PATIENT

    async def connect(self) -> None:
        device = self.scope.get("guided_device")
        if device is None:
            await self.close(code=REFUSED_CLOSE_CODE)
            return
        self.device_id = device.pk
        self.device_public_id = str(device.public_id)
        self.session_id = device.session_id
        self.group = session_group(device.session_id)
        await self._join()

    def sender(self) -> dict[str, Any]:
        return {"device_id": self.device_id}

    async def still_allowed(self) -> bool:
        live = await _db(_device_live)(self.device_id)
        if not live:
            await self.send_json({"type": "SESSION_ENDED", "version": None, "reason": "replaced"})
            await self.close(code=SESSION_ENDED_CLOSE_CODE)
        return live

    async def deliver(self, event: dict[str, Any]) -> None:
        message = event.get(PATIENT)
        if not isinstance(message, dict):
            return
        if message.get("type") == DEVICE_REVOKED:
            if message.get("device") == self.device_public_id:
                await self.send_json(
                    {"type": "SESSION_ENDED", "version": None, "reason": "replaced"}
                )
                await self.close(code=SESSION_ENDED_CLOSE_CODE)
            return
        await self.send_json(message)
        if message.get("type") == "SESSION_ENDED":
            await self.close(code=SESSION_ENDED_CLOSE_CODE)


def _device_live(device_id: int) -> bool:
    return DeviceToken.objects.filter(
        pk=device_id, revoked_at__isnull=True, session__status=SessionStatus.ACTIVE
    ).exists()
