"""Both guided sockets through the real ASGI app (config.asgi): the staff guard, the device
guard, snapshots, live events with versions, refusals, dedupe, gaps, presence and the end.

Real Redis channel layer and PostgreSQL; the consumers' database work runs in other threads,
hence ``transaction=True``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from clinic.models import AuditEvent, Role
from clinic.tests.conftest import session_cookie_headers
from clinic.tests.factories import LocationFactory, staff_user
from config.asgi import application
from patients.guided.models import GuidedSession, SessionStatus
from patients.guided.protocol import GUIDED_LAYER, session_group
from patients.guided.services import device_pair, guided_sessions_expire, pairing_code_issue
from patients.guided.socket_auth import device_socket_path

from .factories import paired_session, payer_for

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30  # seconds; only keeps a broken test from hanging (generous: CI machines stall)


def device_path(session: GuidedSession) -> str:
    return device_socket_path(session.public_id)


ORIGIN = (b"origin", b"http://testserver")


def staff_path(session: GuidedSession) -> str:
    return f"/ws/guided/{session.public_id}/"


def device_headers(raw: str, origin: bytes = b"http://testserver") -> list[tuple[bytes, bytes]]:
    return [(b"cookie", f"guided_device={raw}".encode()), (b"origin", origin)]


async def open_socket(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=WAIT)
    assert connected, f"refused with {code}"
    return socket


async def refused(path: str, headers: list[tuple[bytes, bytes]]) -> int:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=WAIT)
    assert not connected
    await socket.disconnect()
    return int(code)


async def receive(socket: WebsocketCommunicator) -> dict[str, Any]:
    return await socket.receive_json_from(timeout=WAIT)


async def receive_until(socket: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    """The next message of ``kind``, skipping others (presence changes, for instance)."""
    while True:
        message = await receive(socket)
        if message["type"] == kind:
            return message


async def both(session, raw, staff):
    """Staff and patient sockets, each past its SNAPSHOT and the presence events."""
    headers = await database_sync_to_async(session_cookie_headers)(staff)
    staff_socket = await open_socket(staff_path(session), headers)
    snapshot = await receive(staff_socket)
    assert snapshot["type"] == "SNAPSHOT" and snapshot["role"] == "staff"
    await receive_until(staff_socket, "PRESENCE")
    patient_socket = await open_socket(device_path(session), device_headers(raw))
    assert (await receive(patient_socket))["type"] == "SNAPSHOT"
    await receive_until(patient_socket, "PRESENCE")
    presence = await receive_until(staff_socket, "PRESENCE")
    assert presence["state"]["presence"]["patient"]["status"] == "connected"
    return staff_socket, patient_socket


@pytest.fixture
def paired():
    return paired_session()


# ---------------------------------------------------------------- guards


async def test_patient_socket_needs_a_live_device_token_and_the_origin(paired):
    session, raw, _staff = paired
    assert await refused(device_path(session), [ORIGIN]) == 4403
    assert await refused(device_path(session), device_headers("forged-token")) == 4403
    assert await refused(device_path(session), device_headers(raw, b"https://evil.example")) == 4403
    # A live token opens its own session's socket only, at the path that names that session.
    assert await refused(device_socket_path(uuid.uuid4()), device_headers(raw)) == 4403
    assert await refused("/guided/device/ws/", device_headers(raw)) == 4403
    assert await refused("/guided/device/ws/not-a-session/", device_headers(raw)) == 4403
    reasons = await database_sync_to_async(
        lambda: sorted(
            AuditEvent.objects.filter(action="realtime.refused").values_list(
                "details__reason", flat=True
            )
        )
    )()
    assert reasons == ["device_token"] * 5 + ["origin"]
    socket = await open_socket(device_path(session), device_headers(raw))
    snapshot = await receive(socket)
    assert snapshot["type"] == "SNAPSHOT" and snapshot["role"] == "patient"
    assert snapshot["session"] == str(session.public_id)
    await socket.disconnect()


async def test_device_token_does_not_open_the_staff_socket(paired):
    session, raw, _staff = paired
    assert await refused(staff_path(session), device_headers(raw)) == 4403


async def test_staff_socket_refuses_staff_of_another_location_or_organization(paired):
    session, _raw, _staff = paired

    def outsiders():
        other_org = staff_user(role=Role.ADMIN, location=LocationFactory())
        other_loc = staff_user(
            role=Role.EMPLOYEE,
            location=LocationFactory(organization=session.organization),
        )
        return [session_cookie_headers(u) for u in (other_org, other_loc)]

    for headers in await database_sync_to_async(outsiders)():
        assert await refused(staff_path(session), headers) == 4403


# ---------------------------------------------------------------- live protocol


async def test_staff_navigation_reaches_the_patient_with_the_next_version(paired):
    session, raw, staff = paired
    staff_socket, patient_socket = await both(session, raw, staff)
    await staff_socket.send_json_to(
        {"type": "NAVIGATE", "id": "nav-000001", "step": "demographics"}
    )
    seen = await receive(patient_socket)
    assert seen["type"] == "NAVIGATE" and seen["by"] == "staff" and seen["id"] == "nav-000001"
    assert seen["state"]["step"] == "demographics"
    assert seen["state"]["steps_opened"] == ["identity", "demographics"]
    # The sender gets its own copy of the event, with its id: that is its acknowledgement; an
    # ACK would only repeat it.
    own = await receive(staff_socket)
    assert (own["type"], own["id"], own["version"]) == ("NAVIGATE", "nav-000001", seen["version"])
    assert own["state"]["step"] == "demographics"
    assert await staff_socket.receive_nothing(timeout=0.5)
    await staff_socket.disconnect()
    await patient_socket.disconnect()


async def test_each_event_reaches_each_socket_once_from_here_or_from_elsewhere(paired):
    session, raw, staff = paired
    staff_socket, patient_socket = await both(session, raw, staff)
    # Sent from this process: handed to its sockets directly; the channel layer's copy (for
    # sockets in other processes) must not reach them a second time.
    await staff_socket.send_json_to({"type": "HIGHLIGHT_FIELD", "id": "hl-0000001", "field": "sex"})
    seen = await receive(patient_socket)
    assert (seen["type"], seen["state"]["highlight"]) == ("HIGHLIGHT_FIELD", "sex")
    own = await receive_until(staff_socket, "HIGHLIGHT_FIELD")
    assert (own["id"], own["version"]) == ("hl-0000001", seen["version"])
    assert await staff_socket.receive_nothing(timeout=0.2)
    # Sent by another web process: only the channel layer brings it, and it is delivered. It is
    # also the sentinel: a second copy of the highlight would come through the same layer
    # first, so the patient's next message being this one proves there was none.
    elsewhere = {
        "type": "guided.message",
        "origin": "another-process.1",
        "patient": {"type": "PRESENCE", "version": seen["version"] + 1, "by": "server"},
    }
    await get_channel_layer(GUIDED_LAYER).group_send(session_group(session.pk), elsewhere)
    assert await receive(patient_socket) == elsewhere["patient"]
    assert await patient_socket.receive_nothing(timeout=0.5)
    assert await staff_socket.receive_nothing(timeout=0.2)  # no staff side in that event
    await staff_socket.disconnect()
    await patient_socket.disconnect()


async def test_the_channel_layer_is_skipped_only_when_every_socket_is_here(paired):
    from patients.guided.services import presence_update

    session, raw, staff = paired
    staff_socket, patient_socket = await both(session, raw, staff)
    layer = get_channel_layer(GUIDED_LAYER)
    # A listener on the group that the session row does not list (no socket has one like it):
    # it shows what went through the channel layer.
    spy = await layer.new_channel()
    await layer.group_add(session_group(session.pk), spy)

    async def highlight(field: str, client_id: str) -> None:
        await staff_socket.send_json_to(
            {"type": "HIGHLIGHT_FIELD", "id": client_id, "field": field}
        )
        assert (await receive(patient_socket))["state"]["highlight"] == field
        assert (await receive_until(staff_socket, "HIGHLIGHT_FIELD"))["id"] == client_id

    got: list[dict[str, Any]] = []

    async def listen() -> None:  # one receive for the whole test: a cancelled one drops the channel
        while True:
            got.append(await layer.receive(spy))

    def highlights() -> list[str]:
        # Copies of the joining's presence events may still be on their way through Redis.
        return [
            e["patient"]["state"]["highlight"]
            for e in got
            if e.get("patient", {}).get("type") == "HIGHLIGHT_FIELD"
        ]

    listener = asyncio.create_task(listen())
    await highlight("sex", "hl-0000011")  # both sockets here: nothing published
    # A sentinel sent to the spy afterwards arrives after anything that highlight published.
    await layer.send(spy, {"type": "test.sentinel"})
    for _ in range(WAIT * 10):
        if any(e.get("type") == "test.sentinel" for e in got):
            break
        await asyncio.sleep(0.1)
    assert any(e.get("type") == "test.sentinel" for e in got)
    assert highlights() == []
    # A tablet socket in another process (listed in the row): the event goes out for it.
    await database_sync_to_async(presence_update)(
        session_id=session.pk, role="patient", channel=spy, joined=True
    )
    await highlight("last_name", "hl-0000012")
    for _ in range(WAIT * 10):
        if highlights():
            break
        await asyncio.sleep(0.1)
    assert highlights() == ["last_name"]
    listener.cancel()
    await layer.group_discard(session_group(session.pk), spy)
    await staff_socket.disconnect()
    await patient_socket.disconnect()


async def test_patient_typing_reaches_the_staff_mirror_masked(paired):
    session, raw, staff = paired
    payer = await database_sync_to_async(payer_for)(session)
    staff_socket, patient_socket = await both(session, raw, staff)
    await staff_socket.send_json_to({"type": "NAVIGATE", "id": "nav-000002", "step": "insurance"})
    await receive_until(staff_socket, "NAVIGATE")
    await receive_until(patient_socket, "NAVIGATE")
    for i, (field, value) in enumerate(
        [("has_insurance", "yes"), ("payer", str(payer.public_id)), ("member_id", "MBR5550001")]
    ):
        await patient_socket.send_json_to(
            {"type": "FIELD_CHANGED", "id": f"type-{i:06d}", "field": field, "value": value}
        )
        mirror = await receive_until(staff_socket, "FIELD_CHANGED")
        assert (await receive_until(patient_socket, "FIELD_CHANGED"))["id"] == f"type-{i:06d}"
    assert mirror["value"] == "\u2022\u2022\u2022\u2022\u2022\u20220001"
    assert mirror["state"]["values"]["member_id"] == "\u2022\u2022\u2022\u2022\u2022\u20220001"
    assert "MBR5550001" not in str(mirror)
    await patient_socket.send_json_to(
        {"type": "FIELD_FOCUS", "id": "focus-0001", "field": "group_number"}
    )
    focus = await receive_until(staff_socket, "FIELD_FOCUS")
    assert focus["state"]["focus"] == "group_number"
    await staff_socket.disconnect()
    await patient_socket.disconnect()


async def test_refused_commands_get_an_error_and_reach_nobody(paired):
    session, raw, staff = paired
    staff_socket, patient_socket = await both(session, raw, staff)
    await patient_socket.send_json_to({"type": "NAVIGATE", "id": "sneaky-001", "step": "review"})
    error = await receive(patient_socket)
    assert (
        error["type"] == "ERROR" and error["code"] == "not_allowed" and error["id"] == "sneaky-001"
    )
    await staff_socket.send_json_to(
        {"type": "FIELD_CHANGED", "id": "sneaky-002", "field": "first_name", "value": "X"}
    )
    assert (await receive(staff_socket))["code"] == "not_allowed"
    await patient_socket.send_json_to(
        {"type": "FIELD_CHANGED", "id": "sneaky-003", "field": "member_id", "value": "X"}
    )
    assert (await receive(patient_socket))["code"] == "step_not_open"
    await patient_socket.send_to(text_data="{not json")
    assert (await receive(patient_socket))["code"] == "bad_message"
    await patient_socket.send_to(text_data="x" * (17 * 1024))
    assert (await receive(patient_socket))["code"] == "bad_message"
    assert await staff_socket.receive_nothing(timeout=0.5)
    assert await patient_socket.receive_nothing(timeout=0.2)
    version = await database_sync_to_async(
        lambda: GuidedSession.objects.get(pk=session.pk).version
    )()
    assert version == error["version"]
    await staff_socket.disconnect()
    await patient_socket.disconnect()


async def test_a_resent_message_is_acknowledged_as_duplicate_and_not_broadcast(paired):
    session, raw, staff = paired
    staff_socket, patient_socket = await both(session, raw, staff)
    message = {"type": "FIELD_CHANGED", "id": "resend-0001", "field": "first_name", "value": "Ana"}
    await patient_socket.send_json_to(message)
    assert (await receive_until(patient_socket, "FIELD_CHANGED"))["id"] == "resend-0001"
    await receive_until(staff_socket, "FIELD_CHANGED")
    await patient_socket.send_json_to(message)
    again = await receive(patient_socket)
    assert again["type"] == "ACK" and again["duplicate"] is True
    assert await staff_socket.receive_nothing(timeout=0.5)
    await staff_socket.disconnect()
    await patient_socket.disconnect()


async def test_snapshot_request_after_a_gap_and_reconnect_restore_the_state(paired):
    session, raw, staff = paired
    staff_socket, patient_socket = await both(session, raw, staff)
    await patient_socket.send_json_to(
        {"type": "FIELD_CHANGED", "id": "keep-00001", "field": "last_name", "value": "Quill"}
    )
    await receive_until(patient_socket, "FIELD_CHANGED")
    await patient_socket.send_json_to({"type": "SNAPSHOT_REQUEST", "id": "snap-00001"})
    snapshot = await receive_until(patient_socket, "SNAPSHOT")
    assert snapshot["state"]["values"]["last_name"] == "Quill"
    await patient_socket.send_json_to({"type": "PING", "id": "ping-00001"})
    # the FIELD_CHANGED broadcast may still be on its way; the PONG follows whatever came first
    assert await receive_until(patient_socket, "PONG") == {"type": "PONG", "id": "ping-00001"}
    # The tablet drops; the staff mirror says so; it comes back and finds its input.
    await patient_socket.disconnect()
    gone = await receive_until(staff_socket, "PRESENCE")
    assert gone["state"]["presence"]["patient"]["status"] == "reconnecting"
    again = await open_socket(device_path(session), device_headers(raw))
    restored = await receive(again)
    assert restored["type"] == "SNAPSHOT"
    assert restored["state"]["values"]["last_name"] == "Quill"
    assert restored["version"] >= snapshot["version"]
    back = await receive_until(staff_socket, "PRESENCE")
    assert back["state"]["presence"]["patient"]["status"] == "connected"
    await again.disconnect()
    await staff_socket.disconnect()


async def test_signature_request_locks_the_patient_into_signing(paired):
    session, raw, staff = paired

    def to_signatures():
        from .helpers import walk_to_signatures

        walk_to_signatures(session, staff)

    await database_sync_to_async(to_signatures)()
    staff_socket, patient_socket = await both(session, raw, staff)
    await staff_socket.send_json_to(
        {"type": "REQUEST_SIGNATURE", "id": "sign-00001", "document": "privacy"}
    )
    request = await receive_until(patient_socket, "REQUEST_SIGNATURE")
    assert request["state"]["signature"] == {"document": "privacy", "status": "requested"}
    await patient_socket.send_json_to(
        {"type": "STEP_READY", "id": "ready-0001", "step": "signatures"}
    )
    assert (await receive_until(patient_socket, "ERROR"))["code"] == "wrong_state"
    await staff_socket.send_json_to({"type": "WITHDRAW_SIGNATURE", "id": "sign-00002"})
    withdrawn = await receive_until(patient_socket, "WITHDRAW_SIGNATURE")
    assert withdrawn["state"]["signature"]["status"] == "idle"
    await staff_socket.disconnect()
    await patient_socket.disconnect()


async def test_end_session_sends_a_final_message_closes_the_tablet_and_revokes_it(paired):
    session, raw, staff = paired
    staff_socket, patient_socket = await both(session, raw, staff)
    await staff_socket.send_json_to({"type": "END_SESSION", "id": "end-000001"})
    applied = await receive_until(patient_socket, "END_SESSION")
    assert applied["state"]["status"] == "ended"
    final = await receive(patient_socket)
    assert final["type"] == "SESSION_ENDED" and final["reason"] == "ended"
    closed = await patient_socket.receive_output(timeout=WAIT)
    assert closed == {"type": "websocket.close", "code": 4410}
    assert (await receive_until(staff_socket, "SESSION_ENDED"))["reason"] == "ended"
    assert await refused(device_path(session), device_headers(raw)) == 4403
    await staff_socket.disconnect()


async def test_pairing_again_replaces_the_first_tablet(paired):
    session, raw, staff = paired
    first = await open_socket(device_path(session), device_headers(raw))
    await receive(first)

    def pair_again():
        code, _ = pairing_code_issue(actor=staff, session=session)
        return device_pair(code=code, device_key="second", ip="127.0.0.2", user_agent="t")[1]

    second_raw = await database_sync_to_async(pair_again)()
    ended = await receive_until(first, "SESSION_ENDED")
    assert ended["reason"] == "replaced"
    assert await first.receive_output(timeout=WAIT) == {"type": "websocket.close", "code": 4410}
    assert await refused(device_path(session), device_headers(raw)) == 4403
    second = await open_socket(device_path(session), device_headers(second_raw))
    assert (await receive(second))["type"] == "SNAPSHOT"
    await second.disconnect()


async def test_idle_sessions_expire_and_the_tablet_is_let_go(paired):
    session, raw, _staff = paired
    patient_socket = await open_socket(device_path(session), device_headers(raw))
    await receive(patient_socket)

    def age_and_expire():
        import datetime

        from django.utils import timezone

        GuidedSession.objects.filter(pk=session.pk).update(
            last_activity_at=timezone.now() - datetime.timedelta(minutes=31)
        )
        return guided_sessions_expire()

    assert await database_sync_to_async(age_and_expire)() == 1
    assert (await receive_until(patient_socket, "SESSION_ENDED"))["reason"] == "expired"
    status = await database_sync_to_async(lambda: GuidedSession.objects.get(pk=session.pk).status)()
    assert status == SessionStatus.EXPIRED
    # Running the task again changes nothing.
    assert await database_sync_to_async(guided_sessions_expire)() == 0
