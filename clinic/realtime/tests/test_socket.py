"""The portal socket through the real ASGI stack: guard, snapshot, live messages, session end.

Runs the real Redis channel layer and PostgreSQL; the consumer's database work happens in
other threads, hence ``transaction=True``.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client

from clinic.auth.sessions import SESSION_AUTH_AT, SESSION_LAST_SEEN
from clinic.events.services import event_dispatch
from clinic.models import AuditEvent, OutboxEvent, Role
from clinic.notifications.services import notification_send
from clinic.realtime.services import broadcast, user_group
from clinic.tests.conftest import session_cookie_headers, wait_until
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/ws/portal/"
WAIT = 30  # seconds; only keeps a broken test from hanging (a lost task is re-sent in 25 s)


def communicator(headers):
    return WebsocketCommunicator(application, PATH, headers=headers)


async def connected(headers):
    socket = communicator(headers)
    ok, code = await socket.connect(timeout=WAIT)
    assert ok, f"refused with {code}"
    return socket


async def assert_refused(headers):
    socket = communicator(headers)
    ok, code = await socket.connect(timeout=WAIT)
    assert not ok
    assert code == 4403
    await socket.disconnect()


@pytest.fixture
def staff(make_staff):
    return make_staff(role=Role.EMPLOYEE)


@pytest.fixture
def headers(staff):
    return session_cookie_headers(staff)


def refusals(reason):
    return AuditEvent.objects.filter(action="realtime.refused", details__reason=reason).count()


def send(user, title):
    return notification_send(actor=None, recipient=user, kind="test", title=title)


def event_of(notification):
    return OutboxEvent.objects.get(
        aggregate_id=str(notification.public_id), name="notification.created"
    )


@database_sync_to_async
def dispatch(notification):
    """Deliver one notification's event now, as the worker would."""
    return event_dispatch(event_id=event_of(notification).pk)


# ---------------------------------------------------------------- the guard


async def test_socket_without_a_session_is_refused_and_audited():
    await assert_refused([(b"origin", b"http://testserver")])

    assert await database_sync_to_async(refusals)("session") == 1


async def test_socket_with_a_password_only_session_is_refused(staff):
    def password_only_cookie():
        client = Client()
        client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
        session = client.session
        now = int(time.time())
        session[SESSION_AUTH_AT] = now
        session[SESSION_LAST_SEEN] = now
        session.save()
        return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()

    cookie = await database_sync_to_async(password_only_cookie)()

    await assert_refused([(b"cookie", cookie), (b"origin", b"http://testserver")])
    assert await database_sync_to_async(refusals)("session") == 1


async def test_socket_from_a_foreign_origin_is_refused_and_audited(staff):
    headers = await database_sync_to_async(session_cookie_headers)(
        staff, origin="https://evil.example"
    )

    await assert_refused(headers)
    assert await database_sync_to_async(refusals)("origin") == 1


async def test_socket_of_an_idle_session_is_refused(staff, headers):
    def age_session():
        key = headers[0][1].decode().split("=", 1)[1]
        session = SessionStore(key)
        session[SESSION_LAST_SEEN] = int(time.time()) - settings.IDLE_TIMEOUT_SECONDS - 5
        session.save()

    await database_sync_to_async(age_session)()

    await assert_refused(headers)


# ---------------------------------------------------------------- snapshot, then changes


async def test_valid_socket_gets_a_snapshot_first_then_live_notifications(
    staff, headers, celery_worker
):
    earlier = await database_sync_to_async(send)(staff, "Earlier")
    # Let the worker deliver it first, so the next message on the socket is the live one.
    await database_sync_to_async(wait_until)(lambda: event_of(earlier).dispatched_at)
    socket = await connected(headers)

    snapshot = await socket.receive_json_from(timeout=WAIT)
    assert snapshot["type"] == "snapshot"
    stream = snapshot["streams"]["notifications"]
    assert stream["unread"] == 1
    assert [i["title"] for i in stream["items"]] == ["Earlier"]
    version = stream["version"]

    # Sent by a service and pushed over Redis. The worker picks the event up after commit;
    # dispatching it here too is harmless (an event is dispatched once: the row is locked and
    # stamped) and keeps this test about the socket, not about the broker: under a full
    # parallel run the worker thread's pick-up was seen to stall past 30 s (once in ~5 runs).
    created = await database_sync_to_async(send)(staff, "Equipment order ready")
    await dispatch(created)
    message = await socket.receive_json_from(timeout=WAIT)

    assert message["type"] == "notification.created"
    assert message["stream"] == "notifications"
    assert message["version"] == version + 1
    assert message["unread"] == 2
    assert message["notification"]["public_id"] == str(created.public_id)
    assert message["notification"]["title"] == "Equipment order ready"
    await socket.disconnect()


async def test_other_users_notifications_never_reach_the_socket(staff, headers, make_staff):
    colleague = await database_sync_to_async(make_staff)()
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    theirs = await database_sync_to_async(send)(colleague, "For someone else")
    mine = await database_sync_to_async(send)(staff, "For me")
    await dispatch(theirs)
    await dispatch(mine)

    message = await socket.receive_json_from(timeout=WAIT)
    assert message["notification"]["title"] == "For me"
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_missed_message_shows_as_a_version_gap_and_a_snapshot_request_recovers(
    staff, headers
):
    socket = await connected(headers)
    first = await socket.receive_json_from(timeout=WAIT)
    held = first["streams"]["notifications"]["version"]

    lost = await database_sync_to_async(send)(staff, "Lost on the way")
    later = await database_sync_to_async(send)(staff, "Arrives")
    # Only the second is delivered, as when the channel layer drops one.
    await dispatch(later)

    message = await socket.receive_json_from(timeout=WAIT)
    assert message["version"] > held + 1  # the gap a client detects

    await socket.send_json_to({"type": "snapshot.request", "stream": "notifications"})
    fresh = await socket.receive_json_from(timeout=WAIT)
    assert fresh["type"] == "snapshot"
    stream = fresh["streams"]["notifications"]
    assert stream["version"] == message["version"]
    assert stream["unread"] == 2
    assert {i["public_id"] for i in stream["items"]} == {str(lost.public_id), str(later.public_id)}

    # The late one then arrives with an older version, which a client ignores.
    await dispatch(lost)
    late = await socket.receive_json_from(timeout=WAIT)
    assert late["version"] < stream["version"]
    await socket.disconnect()


@pytest.mark.parametrize(
    "raw",
    [
        "not json at all",
        '{"type": "drop.tables"}',
        '["snapshot.request"]',
        '{"type": "snapshot.request", "stream": "someone-elses"}',
        "x" * 5000,
    ],
)
async def test_a_bad_client_message_gets_an_error_and_the_socket_stays_open(headers, raw):
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    await socket.send_to(text_data=raw)
    reply = await socket.receive_json_from(timeout=WAIT)
    assert reply["type"] == "error"
    assert reply["code"] in {"bad_message", "unknown_stream"}
    assert reply["message"]

    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=WAIT) == {"type": "pong"}
    await socket.disconnect()


# ---------------------------------------------------------------- the session ends


async def session_check(user):
    await get_channel_layer().group_send(user_group(user.pk), {"type": "session.check"})


async def assert_closed_for_session(socket):
    output = await socket.receive_output(timeout=WAIT)
    assert output == {"type": "websocket.close", "code": 4401}


async def test_session_check_after_a_password_change_closes_the_socket(staff, headers):
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    def change_password():
        staff.set_password("a brand new passphrase 2024")
        staff.save()

    await database_sync_to_async(change_password)()
    await session_check(staff)

    await assert_closed_for_session(socket)


async def test_session_check_sent_through_broadcast_also_closes_the_socket(staff, headers):
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    def deactivate_and_broadcast():
        type(staff).objects.filter(pk=staff.pk).update(is_active=False)
        broadcast(user_group(staff.pk), {"type": "session.check"})

    await database_sync_to_async(deactivate_and_broadcast)()

    await assert_closed_for_session(socket)


async def test_session_check_after_logout_closes_the_socket(staff, headers):
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    def delete_session():
        key = headers[0][1].decode().split("=", 1)[1]
        SessionStore(key).delete()

    await database_sync_to_async(delete_session)()
    await session_check(staff)

    await assert_closed_for_session(socket)


async def test_session_check_with_nothing_changed_keeps_the_socket_open(staff, headers):
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    await session_check(staff)
    await socket.send_json_to({"type": "ping"})

    assert await socket.receive_json_from(timeout=WAIT) == {"type": "pong"}
    await socket.disconnect()


async def test_snapshot_request_after_the_session_was_taken_over_closes_instead_of_answering(
    staff, headers
):
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    def sign_in_as_someone_else():
        key = headers[0][1].decode().split("=", 1)[1]
        session = SessionStore(key)
        session[SESSION_KEY] = "0"
        session.save()

    await database_sync_to_async(sign_in_as_someone_else)()
    await socket.send_json_to({"type": "snapshot.request", "stream": "notifications"})

    await assert_closed_for_session(socket)


async def test_a_session_whose_hash_is_renewed_right_after_the_check_stays_open(staff, headers):
    """The password changer's own session: the broadcast can overtake the hash update."""
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    def change_password():
        staff.set_password("a brand new passphrase 2024")
        staff.save()

    def keep_this_session():
        key = headers[0][1].decode().split("=", 1)[1]
        session = SessionStore(key)
        session[HASH_SESSION_KEY] = staff.get_session_auth_hash()
        session.save()

    await database_sync_to_async(change_password)()
    await session_check(staff)
    # The consumer's first look finds the old hash; the view renews it a moment later.
    await asyncio.sleep(0.3)  # well inside the consumer's SESSION_RECHECK_DELAY
    await database_sync_to_async(keep_this_session)()

    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=WAIT) == {"type": "pong"}
    await socket.disconnect()


async def test_a_client_asking_for_snapshots_in_a_loop_is_slowed_down(headers):
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    replies = []
    for _ in range(12):
        await socket.send_json_to({"type": "snapshot.request", "stream": "notifications"})
        replies.append((await socket.receive_json_from(timeout=WAIT))["type"])

    assert replies == ["snapshot"] * 10 + ["error"] * 2
    await socket.disconnect()


async def test_a_socket_idle_longer_than_the_layers_blocking_read_still_gets_messages(
    staff, headers
):
    # channels_redis waits for messages in 5 s blocking pops; a shorter Redis socket timeout
    # once killed every socket that sat idle that long.
    socket = await connected(headers)
    await socket.receive_json_from(timeout=WAIT)

    await asyncio.sleep(7)
    await dispatch(await database_sync_to_async(send)(staff, "After a quiet spell"))

    message = await socket.receive_json_from(timeout=WAIT)
    assert message["notification"]["title"] == "After a quiet spell"
    await socket.disconnect()


async def test_a_same_origin_socket_is_accepted_on_any_port_we_serve(headers):
    """A page served from 127.0.0.1:8031 may open its socket there though only the test
    origins are listed; a page from another site may not, whatever Host it reaches."""
    cookie = [h for h in headers if h[0] == b"cookie"]
    host = (b"host", b"127.0.0.1:8031")
    socket = await connected([*cookie, (b"origin", b"http://127.0.0.1:8031"), host])
    await socket.disconnect()
    await assert_refused([*cookie, (b"origin", b"http://evil.example:8031"), host])
    await assert_refused(
        [*cookie, (b"origin", b"http://evil.example:8031"), (b"host", b"evil.example:8031")]
    )
