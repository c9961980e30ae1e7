"""Reactions of the waitlist to appointment events (run once per event by the outbox worker).

An appointment that let go of its time (moved, cancelled, a no-show) carries the time it held in
the event (``freed_*``, see ``scheduling.booking.services.freed_slot_payload``); that time is
offered to the patients waiting for it.
"""

from __future__ import annotations

import datetime

from clinic.events.services import event_handler
from clinic.models import OutboxEvent, User
from scheduling.models import Appointment, Room
from scheduling.waitlist.services import FreedSlot, waitlist_slot_freed


def _moment(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value)


def freed_slot_from_event(event: OutboxEvent) -> FreedSlot | None:
    """The time the event's appointment let go of, or None when it let go of none."""
    payload = event.payload
    org_id = event.organization_id
    if org_id is None or not payload.get("freed_starts_at"):
        return None
    appointment = (
        Appointment.objects.filter(organization_id=org_id, public_id=payload["appointment"])
        .select_related("location", "organization")
        .first()
    )
    if appointment is None:
        return None
    technician = room = None
    if payload.get("freed_technician"):
        technician = User.objects.filter(
            organization_id=org_id, public_id=payload["freed_technician"]
        ).first()
    if payload.get("freed_room"):
        room = Room.objects.filter(organization_id=org_id, public_id=payload["freed_room"]).first()
    return FreedSlot(
        appointment=appointment,
        version=payload["version"],
        starts_at=_moment(payload["freed_starts_at"]),
        ends_at=_moment(payload["freed_ends_at"]),
        technician=technician,
        room=room,
    )


@event_handler("appointment.moved")
@event_handler("appointment.cancelled")
@event_handler("appointment.state_changed")
def waitlist_offer_freed_slot(event: OutboxEvent) -> None:
    freed = freed_slot_from_event(event)
    if freed is not None:
        waitlist_slot_freed(freed=freed)
