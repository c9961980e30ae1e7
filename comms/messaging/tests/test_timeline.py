"""The patient timeline: registered sources, newest first, filters, and who sees what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinic.models import Role
from clinic.tests.factories import staff_user
from comms.messaging.services import message_send
from comms.messaging.timeline import _SOURCES, TimelineEntry, timeline_for, timeline_source_register
from comms.tests.factories import SmsPatientFactory
from patients.models import PatientAssignment
from patients.record.services import patient_note_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    return SmsPatientFactory(phone_mobile="+12015550142")


@pytest.fixture
def staff(patient):
    return staff_user(role=Role.EMPLOYEE, location=patient.home_location)


@pytest.fixture
def appointments_source():
    def appointments(*, user, patient, since=None, kinds=None):
        return [
            TimelineEntry(
                at=timezone.now() + timedelta(days=1), kind="appointment", title="Follow-up booked"
            )
        ]

    timeline_source_register(appointments)
    yield appointments
    _SOURCES.pop(f"{appointments.__module__}.{appointments.__qualname__}")


def test_sources_are_merged_newest_first(staff, patient, appointments_source):
    message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="appointment_reminder",
        dedupe_key="r1",
        template="appointment_reminder",
        context={"appointment_date": "Mon", "appointment_time": "9:00"},
    )
    patient_note_add(actor=staff, patient=patient, text="Prefers mornings")
    entries = timeline_for(user=staff, patient=patient)
    assert [e.kind for e in entries] == ["appointment", "note", "reminder"]
    assert entries == sorted(entries, key=lambda e: e.at, reverse=True)


def test_kinds_filter(staff, patient, appointments_source):
    patient_note_add(actor=staff, patient=patient, text="Prefers mornings")
    assert [e.kind for e in timeline_for(user=staff, patient=patient, kinds=["note"])] == ["note"]


def test_an_assigned_technician_sees_texts_but_not_notes(patient, staff):
    tech = staff_user(role=Role.FIELD_TECHNICIAN, location=patient.home_location)
    PatientAssignment.objects.create(patient=patient, technician=tech)
    message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="manual",
        dedupe_key="m1",
        body="On my way",
    )
    patient_note_add(actor=staff, patient=patient, text="Private clinical note")
    kinds = {e.kind for e in timeline_for(user=tech, patient=patient)}
    assert kinds == {"sms"}
    stranger = staff_user(role=Role.FIELD_TECHNICIAN, location=patient.home_location)
    assert timeline_for(user=stranger, patient=patient) == []


@pytest.mark.django_db(transaction=True)
def test_a_status_change_reaches_open_timelines_live(staff, patient, celery_worker):
    """patient_status_change -> the outbox event -> the real worker's comms handler -> the
    organization's comms group on the real channel layer: one message naming the patient (ids
    only), and the change is on the patient's timeline."""
    import asyncio

    from asgiref.sync import async_to_sync, sync_to_async
    from channels.layers import get_channel_layer

    from clinic.models import RealtimeStream
    from comms.messaging.stream import comms_group, comms_stream_key
    from patients.record.services import allowed_transitions, patient_status_change

    layer = get_channel_layer()
    to = allowed_transitions(patient.status)[0]

    async def scenario() -> dict:
        # One event loop for the whole exchange (a pub/sub layer keeps channels per loop).
        channel = await layer.new_channel()
        await layer.group_add(comms_group(patient.organization_id), channel)
        await sync_to_async(patient_status_change)(
            actor=staff, patient=patient, to=to, reason="Called the patient"
        )
        return await asyncio.wait_for(layer.receive(channel), 30)  # only against a hang

    received = async_to_sync(scenario)()
    message = received["message"]
    assert message["type"] == "comms.changed" and message["change"] == "patient_status"
    assert message["patient"] == str(patient.public_id)
    assert (
        message["version"]
        == RealtimeStream.objects.get(key=comms_stream_key(patient.organization_id)).version
    )
    assert set(message) == {"type", "stream", "version", "change", "patient"}  # ids only
    assert [e.kind for e in timeline_for(user=staff, patient=patient)].count("status") == 1
