"""Reactions of comms to other apps' events (outbox handlers, run once each by the worker)."""

from __future__ import annotations

from django.db import transaction

from clinic.events.services import event_handler
from clinic.models import OutboxEvent
from clinic.realtime.services import broadcast, stream_bump
from comms.messaging.stream import STREAM, comms_group, comms_stream_key


@event_handler("patient.status_changed", key="comms.timeline.patient_status")
def patient_status_changed(event: OutboxEvent) -> None:
    """A patient's status changed: their open communications timelines re-read (the status
    change is one of the timeline's entries). Ids only, on the organization's comms stream."""
    patient = (event.payload or {}).get("patient")
    if event.organization_id is None or not patient:
        return
    version = stream_bump(comms_stream_key(event.organization_id))
    message = {
        "type": "comms.changed",
        "stream": STREAM,
        "version": version,
        "change": "patient_status",
        "patient": str(patient),
    }
    group = comms_group(event.organization_id)
    transaction.on_commit(lambda: broadcast(group, message))
