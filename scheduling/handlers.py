"""Reactions of scheduling to other apps' events (run once per event by the outbox worker).

``comms.sms_received``: a reply of C or CONFIRM confirms the patient's next appointment that a
reminder went out for. Anything else is not ours to read.
"""

from __future__ import annotations

from django.utils import timezone

from clinic.events.services import event_handler
from clinic.models import OutboxEvent

from .models import ACTIVE_STATES, Appointment, Reminder

CONFIRM_WORDS = frozenset({"C", "CONFIRM", "CONFIRMED"})


def reply_confirms(body: str) -> bool:
    return " ".join((body or "").upper().replace(".", " ").replace("!", " ").split()) in (
        CONFIRM_WORDS
    )


@event_handler("comms.sms_received")
def appointment_confirm_from_sms(event: OutboxEvent) -> None:
    from comms.models import Message

    from .services import appointment_confirm

    if event.organization_id is None:
        return
    message = (
        Message.objects.filter(
            organization_id=event.organization_id, public_id=event.payload.get("message")
        )
        .select_related("patient")
        .first()
    )
    if message is None or message.patient is None or not reply_confirms(message.body):
        return
    appointment = (
        Appointment.objects.filter(
            patient=message.patient,
            state__in=ACTIVE_STATES,
            starts_at__gt=timezone.now(),
            reminders__state=Reminder.State.SENT,
        )
        .order_by("starts_at")
        .first()
    )
    if appointment is not None:
        appointment_confirm(actor=None, appointment=appointment, via="sms")
