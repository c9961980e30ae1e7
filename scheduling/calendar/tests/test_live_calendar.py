"""The live calendar stream through the real ASGI stack, Redis channel layer and Celery worker:
a calendar follows ``calendar.<location public id>``, gets a snapshot with the location's
version, then one versioned message per scheduling event; a gap is repaired by a snapshot
request; a location the user may not see cannot be followed.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from clinic.events.services import event_dispatch, event_record
from clinic.models import OutboxEvent, Role
from clinic.tests.conftest import celery_queue, celery_worker, session_cookie_headers  # noqa: F401
from clinic.tests.factories import LocationFactory
from config.asgi import application
from patients.models import PatientStatus
from scheduling.calendar.realtime import calendar_stream_name
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10


async def follow(headers, stream):
    socket = WebsocketCommunicator(application, "/ws/portal/", headers=headers)
    ok, code = await socket.connect(timeout=WAIT)
    assert ok, code
    first = await socket.receive_json_from(timeout=WAIT)
    assert first["type"] == "snapshot"
    # Keyed streams are followed on request, never part of the connect snapshot.
    assert not any(name.startswith("calendar") for name in first["streams"])
    await socket.send_json_to({"type": "snapshot.request", "stream": stream})
    return socket


def record(name, appointment, *, location_value=None):
    """The event scheduling-core's services record in their transaction."""
    with transaction.atomic():
        return event_record(
            name=name,
            organization=appointment.organization,
            aggregate=appointment,
            payload={
                "appointment": str(appointment.public_id),
                "location": location_value or str(appointment.location.public_id),
                "version": appointment.version,
            },
        )


@pytest.fixture
def scene(make_staff):
    location = LocationFactory()
    clerk = make_staff(role=Role.EMPLOYEE, location=location)
    # A patient already past scheduling: the booked event's handler leaves their status (and so
    # the patient streams) alone, and the calendar's messages are the only ones on the socket.
    appointment = AppointmentFactory(location=location, patient__status=PatientStatus.ACTIVE)
    return location, session_cookie_headers(clerk), appointment


@pytest.mark.usefixtures("celery_worker")
async def test_a_booking_reaches_the_open_calendar_of_its_location(scene):
    location, headers, appointment = scene
    stream = calendar_stream_name(location)
    socket = await follow(headers, stream)
    snapshot = await socket.receive_json_from(timeout=WAIT)
    assert snapshot == {"type": "snapshot", "streams": {stream: {"version": 0}}}

    await database_sync_to_async(record)("appointment.booked", appointment)
    message = await socket.receive_json_from(timeout=WAIT)
    assert message == {
        "type": "appointment.changed",
        "stream": stream,
        "version": 1,
        "appointment": str(appointment.public_id),
        "event": "appointment.booked",
    }

    await database_sync_to_async(record)("appointment.cancelled", appointment)
    second = await socket.receive_json_from(timeout=WAIT)
    assert (second["version"], second["event"]) == (2, "appointment.cancelled")
    await socket.disconnect()


async def test_changes_at_another_location_never_reach_this_calendar(scene, make_staff):
    location, headers, appointment = scene
    elsewhere = await database_sync_to_async(AppointmentFactory)(
        location=await database_sync_to_async(LocationFactory)(organization=location.organization)
    )
    socket = await follow(headers, calendar_stream_name(location))
    await socket.receive_json_from(timeout=WAIT)

    theirs = await database_sync_to_async(record)("appointment.booked", elsewhere)
    mine = await database_sync_to_async(record)("appointment.moved", appointment)
    await database_sync_to_async(event_dispatch)(event_id=theirs.pk)
    await database_sync_to_async(event_dispatch)(event_id=mine.pk)

    message = await socket.receive_json_from(timeout=WAIT)
    assert message["appointment"] == str(appointment.public_id)
    # A sentinel instead of waiting for silence: the next thing on the socket is our ping's
    # answer, so nothing about the other location came in between.
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=WAIT) == {"type": "pong"}
    await socket.disconnect()


async def test_a_lost_message_is_a_gap_and_a_snapshot_request_recovers(scene):
    location, headers, appointment = scene
    stream = calendar_stream_name(location)
    socket = await follow(headers, stream)
    held = (await socket.receive_json_from(timeout=WAIT))["streams"][stream]["version"]

    lost = await database_sync_to_async(record)("appointment.booked", appointment)
    later = await database_sync_to_async(record)("appointment.moved", appointment)

    # The lost one's handler runs with the broadcast swallowed, as a dropped message would be.
    def dispatch_without_broadcast(event_id):
        from clinic.events.services import event_apply_handler, handlers_for

        event = OutboxEvent.objects.get(pk=event_id)
        with transaction.atomic():
            for handler in handlers_for(event.name):
                event_apply_handler(event=event, handler=handler)
            transaction.get_connection().run_on_commit.clear()

    await database_sync_to_async(dispatch_without_broadcast)(lost.pk)
    await database_sync_to_async(event_dispatch)(event_id=later.pk)
    message = await socket.receive_json_from(timeout=WAIT)
    assert message["version"] == held + 2  # held + 1 never came: the client sees a gap

    await socket.send_json_to({"type": "snapshot.request", "stream": stream})
    fresh = await socket.receive_json_from(timeout=WAIT)
    assert fresh == {"type": "snapshot", "streams": {stream: {"version": held + 2}}}
    await socket.disconnect()


@pytest.mark.parametrize("who", ["other_org_admin", "technician", "support", "malformed"])
async def test_a_calendar_the_user_may_not_see_cannot_be_followed(scene, make_staff, who):
    location, _, appointment = scene
    if who == "other_org_admin":
        user = await database_sync_to_async(make_staff)(role=Role.ADMIN)
    else:
        role = Role.FIELD_TECHNICIAN if who == "technician" else Role.SUPPORT
        user = await database_sync_to_async(make_staff)(role=role, location=location)
    stream = "calendar.not-a-uuid" if who == "malformed" else calendar_stream_name(location)
    headers = await database_sync_to_async(session_cookie_headers)(user)
    socket = await follow(headers, stream)
    answer = await socket.receive_json_from(timeout=WAIT)
    assert answer["type"] == "error"
    assert answer["code"] == "unknown_stream"

    # Nor does anything about that location arrive later.
    event = await database_sync_to_async(record)("appointment.booked", appointment)
    await database_sync_to_async(event_dispatch)(event_id=event.pk)
    # The event was broadcast before the ping: the pong comes first only if it never arrived.
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=WAIT) == {"type": "pong"}
    await socket.disconnect()


def test_an_event_for_an_unknown_location_bumps_nothing(scene):
    from clinic.models import RealtimeStream

    _, _, appointment = scene
    event = record("appointment.booked", appointment, location_value="999999999")
    event_dispatch(event_id=event.pk)
    assert not RealtimeStream.objects.filter(key__startswith="calendar.").exists()
