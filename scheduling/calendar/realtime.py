"""The live calendar: one versioned stream per location, ``calendar.<location public id>``.

Every open calendar of a location follows that location's stream through the portal socket
(docs/realtime-protocol.md, keyed streams). scheduling-core's services record a domain event for
every booking, move, cancel and state change; the handlers below bump the location's stream
version and, after commit, tell the location's group which appointment changed. Messages carry
ids only: a calendar refetches what it shows over HTTP, where the user's own scoping applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from clinic.events.services import event_handler
from clinic.models import Location, OutboxEvent
from clinic.realtime.services import broadcast, group_name, stream_bump, stream_version
from scheduling.permissions import calendar_location

if TYPE_CHECKING:
    from clinic.models import User

STREAM = "calendar"
CHANGED = "appointment.changed"
EVENTS = (
    "appointment.booked",
    "appointment.moved",
    "appointment.cancelled",
    "appointment.state_changed",
)


def calendar_stream_key(location_id: int) -> str:
    """The RealtimeStream row that versions one location's calendar."""
    return f"calendar.location.{location_id}"


def calendar_group(location_id: int) -> str:
    return group_name("calendar", location_id)


def calendar_stream_name(location: Location) -> str:
    """What the browser subscribes to (public id only, never the database key)."""
    return f"{STREAM}.{location.public_id}"


def _followed_location(user: User, key: str) -> Location:
    # NotFound (→ "unknown_stream") for a malformed id or a calendar the user may not open.

    return calendar_location(user, key)


def calendar_groups(user: User, key: str) -> list[str]:
    return [calendar_group(_followed_location(user, key).pk)]


def calendar_snapshot(user: User, key: str) -> dict[str, Any]:
    location = _followed_location(user, key)
    return {"version": stream_version(calendar_stream_key(location.pk))}


# ---------------------------------------------------------------- reactions to scheduling events


def _location_of(value: Any, organization_id: int | None) -> Location | None:
    """The event's location: scheduling-core sends its public id (a pk is accepted too)."""
    if organization_id is None:
        return None
    qs = Location.objects.filter(organization_id=organization_id)
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return qs.filter(pk=int(value)).first()
    try:
        return qs.filter(public_id=value).first()
    except Exception:  # not a UUID: nothing to bump
        return None


def calendar_changed(*, location: Location, appointment: str, event: str) -> int:
    """Advance the location's calendar version and tell its open calendars after commit."""
    version = stream_bump(calendar_stream_key(location.pk))
    message = {
        "type": CHANGED,
        "stream": calendar_stream_name(location),
        "version": version,
        "appointment": appointment,
        "event": event,
    }
    group = calendar_group(location.pk)
    transaction.on_commit(lambda: broadcast(group, message))
    return version


def _on_appointment_event(event: OutboxEvent) -> None:
    payload = event.payload or {}
    location = _location_of(payload.get("location"), event.organization_id)
    if location is None:
        return
    appointment = str(payload.get("appointment") or event.aggregate_id)
    calendar_changed(location=location, appointment=appointment, event=event.name)
    # A move to another location changes two calendars.
    previous = payload.get("previous_location")
    if previous is not None and previous != payload.get("location"):
        other = _location_of(previous, event.organization_id)
        if other is not None and other.pk != location.pk:
            calendar_changed(location=other, appointment=appointment, event=event.name)


for _name in EVENTS:
    event_handler(_name, key=f"scheduling.realtime.calendar:{_name}")(_on_appointment_event)
