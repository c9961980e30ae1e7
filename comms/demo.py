"""Demo communications: a few texts per demo location through the real services (development
gateway: recorded, shown as not really sent), a reply, and a message from an unknown number."""

from __future__ import annotations

from typing import Any

from comms.messaging.services import message_send, patient_sms_number
from comms.sms.inbound import sms_receive
from patients.models import Patient


def demo_comms_seed(*, admin: Any, locations: list[Any]) -> int:
    """Called inside seed_demo's transaction, after the patients. Returns messages written."""
    written = 0
    for location in locations:
        patients = [
            p
            for p in Patient.objects.filter(home_location=location)
            .select_related("home_location", "organization")
            .order_by("id")[:6]
            if patient_sms_number(p)
        ][:3]
        for n, patient in enumerate(patients):
            message_send(
                actor=admin,
                patient=patient,
                channel="sms",
                purpose="appointment_reminder",
                dedupe_key=f"demo:reminder:{patient.public_id}",
                template="appointment_reminder",
                context={"appointment_date": "Mon, Mar 3", "appointment_time": "9:30 AM"},
            )
            written += 1
            if n == 0:
                sms_receive(
                    organization=location.organization,
                    from_number=patient_sms_number(patient) or "",
                    to_number=location.phone or "",
                    body="Thanks, I'll be there.",
                    sid=f"SMdemo{patient.public_id.hex}",
                )
                written += 1
    if locations:
        sms_receive(
            organization=locations[0].organization,
            from_number="+12025550143",
            to_number=locations[0].phone or "",
            body="Hi, is this the sleep clinic?",
            sid="SMdemounknown0000000000000000000000",
        )
        written += 1
    return written
