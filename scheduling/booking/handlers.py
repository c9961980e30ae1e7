"""Reactions of booking to its own events in other apps' records (run once per event by the
outbox worker).

``appointment.booked`` moves a patient waiting to be scheduled to SCHEDULED (the patients
app's lifecycle rule), as the user who booked.
"""

from __future__ import annotations

from clinic.events.services import event_handler
from clinic.models import OutboxEvent, User
from patients.record.services import patient_status_advance_from_event
from scheduling.models import Appointment


@event_handler("appointment.booked")
def patient_status_advance_on_booking(event: OutboxEvent) -> None:
    org_id = event.organization_id
    if org_id is None:
        return
    appointment = (
        Appointment.objects.filter(
            organization_id=org_id, public_id=event.payload.get("appointment")
        )
        .select_related("patient")
        .first()
    )
    if appointment is None or appointment.patient is None:
        return
    actor = None
    if event.payload.get("actor"):
        actor = User.objects.filter(
            organization_id=org_id, public_id=event.payload["actor"]
        ).first()
    patient_status_advance_from_event(
        actor=actor, patient=appointment.patient, event="appointment.booked"
    )
