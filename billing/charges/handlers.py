"""Outbox reactions of the charges ledger. Scheduling records ``appointment.state_changed``
with the new state: ``fulfilled`` (completed) writes the charges, ``entered_in_error`` (the
completion undone) reverses them; every other state is none of billing's business."""

from __future__ import annotations

from clinic.events.services import event_handler
from clinic.models import OutboxEvent
from scheduling.models import Appointment, AppointmentState

from .services import charges_create_for_appointment, charges_reverse_for_appointment

STATE_CHANGED = "appointment.state_changed"


@event_handler(STATE_CHANGED, key="billing.charges.on_appointment_state")
def charges_on_appointment_state(event: OutboxEvent) -> None:
    state = event.payload.get("state")
    if state not in (AppointmentState.FULFILLED, AppointmentState.ENTERED_IN_ERROR):
        return
    if event.organization_id is None:
        return
    appointment = Appointment.objects.filter(
        organization_id=event.organization_id, public_id=event.payload.get("appointment")
    ).first()
    if appointment is None:
        return
    if state == AppointmentState.FULFILLED:
        charges_create_for_appointment(
            actor=None, appointment=appointment, source_event_id=event.pk
        )
    else:
        charges_reverse_for_appointment(
            actor=None, appointment=appointment, source_event_id=event.pk
        )
