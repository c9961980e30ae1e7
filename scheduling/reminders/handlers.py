"""Reactions of the reminders to events (run once per event by the outbox worker).

``appointment.booked`` plans the reminders, ``appointment.moved`` moves them with the
appointment, an appointment that is no longer on (cancelled, a no-show, completed, entered in
error) withdraws the pending ones. ``comms.sms_received``: a reply of C or CONFIRM confirms the
patient's next appointment that a reminder went out for. Anything else is not ours to read.
"""

from __future__ import annotations

from django.utils import timezone

from clinic.events.services import event_handler
from clinic.models import OutboxEvent
from comms.models import Message
from scheduling.booking.services import appointment_confirm
from scheduling.models import ACTIVE_STATES, Appointment, Reminder
from scheduling.reminders.services import reminders_plan, reminders_reschedule, reminders_withdraw

CONFIRM_WORDS = frozenset({"C", "CONFIRM", "CONFIRMED"})


def reply_confirms(body: str) -> bool:
    return " ".join((body or "").upper().replace(".", " ").replace("!", " ").split()) in (
        CONFIRM_WORDS
    )


@event_handler("comms.sms_received")
def appointment_confirm_from_sms(event: OutboxEvent) -> None:
    org_id = event.organization_id
    if org_id is None:
        return
    message = (
        Message.objects.filter(organization_id=org_id, public_id=event.payload.get("message"))
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


def _appointment(event: OutboxEvent) -> Appointment | None:
    org_id = event.organization_id
    if org_id is None:
        return None
    return (
        Appointment.objects.filter(
            organization_id=org_id, public_id=event.payload.get("appointment")
        )
        .select_related("patient__home_location", "type", "location")
        .first()
    )


@event_handler("appointment.booked")
def reminders_plan_on_booking(event: OutboxEvent) -> None:
    appointment = _appointment(event)
    if appointment is not None:
        reminders_plan(appointment)


@event_handler("appointment.moved")
def reminders_follow_move(event: OutboxEvent) -> None:
    if not event.payload.get("freed_starts_at"):
        return  # a notes change: the time did not move
    appointment = _appointment(event)
    if appointment is not None:
        reminders_reschedule(appointment)


@event_handler("appointment.cancelled")
@event_handler("appointment.state_changed")
def reminders_withdraw_when_off(event: OutboxEvent) -> None:
    if event.payload.get("state") in ACTIVE_STATES:
        return
    appointment = _appointment(event)
    if appointment is not None:
        reminders_withdraw(appointment)
