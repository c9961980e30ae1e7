"""Booking: the happy path leaves audit, event, reminders, patient status and assignment;
refusals explain who is busy when and offer the nearest free times, and write nothing."""

from __future__ import annotations

import datetime

import pytest

from clinic.models import AuditEvent, OutboxEvent
from clinic.tests.factories import LocationFactory
from patients.models import PatientAssignment, PatientStatus
from patients.tests.factories import PatientFactory
from scheduling.booking.services import (
    BookingConflict,
    BookingInvalid,
    appointment_book,
    appointment_types_ensure,
)
from scheduling.models import Appointment, AppointmentKind, AppointmentState, Reminder
from scheduling.tests.factories import RoomFactory, technician
from scheduling.tests.outbox import events_dispatch

pytestmark = pytest.mark.django_db


def _book(employee, patient, setup_type, tech, when, **kw):
    return appointment_book(
        actor=employee, patient=patient, type=setup_type, starts_at=when, technician=tech, **kw
    )


def test_booking_writes_the_appointment_audit_event_and_reminders(
    employee, patient, setup_type, tech, at
):
    appt = _book(employee, patient, setup_type, tech, at(0, "10:00"))

    assert appt.state == AppointmentState.BOOKED
    assert appt.version == 1
    assert appt.ends_at - appt.starts_at == datetime.timedelta(minutes=60)
    assert appt.location == patient.home_location
    audit = AuditEvent.objects.get(action="appointment.booked")
    assert audit.object_id == str(appt.public_id)
    assert audit.details["type"] == "EQUIPMENT_SETUP"
    assert audit.details["technician"] == str(tech.public_id)
    event = OutboxEvent.objects.get(name="appointment.booked")
    assert event.payload == {
        "appointment": str(appt.public_id),
        "location": str(appt.location.public_id),
        "version": 1,
        "actor": str(employee.public_id),
    }
    assert not appt.reminders.exists()  # planned by the event's handler, after the commit
    events_dispatch()
    reminders = {(r.offset_minutes, r.channel): r.send_at for r in appt.reminders.all()}
    assert reminders == {
        (1440, "sms"): appt.starts_at - datetime.timedelta(hours=24),
        (120, "sms"): appt.starts_at - datetime.timedelta(hours=2),
    }


def test_first_booking_moves_the_patient_to_scheduled_and_links_the_technician(
    employee, patient, setup_type, tech, at
):
    assert patient.status == PatientStatus.PENDING_SCHEDULE
    _book(employee, patient, setup_type, tech, at(0, "10:00"))
    events_dispatch()

    patient.refresh_from_db()
    assert patient.status == PatientStatus.SCHEDULED
    assert patient.status_changes.get().reason == "Automatic: appointment.booked"
    assert PatientAssignment.objects.filter(
        patient=patient, technician=tech, source="scheduling"
    ).exists()


def test_a_second_booking_leaves_a_later_status_alone(employee, patient, setup_type, tech, at):
    patient.status = PatientStatus.ACTIVE
    patient.save()
    appt = _book(employee, patient, setup_type, tech, at(0, "10:00"))
    assert events_dispatch() == 1  # the booked event's handlers ran
    assert appt.reminders.count() == 2
    patient.refresh_from_db()
    assert patient.status == PatientStatus.ACTIVE


def test_second_booking_for_same_technician_is_refused_with_who_and_when(
    employee, patient, location, setup_type, tech, at
):
    _book(employee, patient, setup_type, tech, at(0, "10:00"))
    other = PatientFactory(home_location=location)
    before = (Appointment.objects.count(), AuditEvent.objects.count(), OutboxEvent.objects.count())

    with pytest.raises(BookingConflict) as caught:
        _book(employee, other, setup_type, tech, at(0, "10:30"))

    message = caught.value.message
    assert "Dana Tech is already booked on Mon" in message
    assert "10:00\u201311:00 (Equipment setup)" in message
    # The nearest free times of the same technician: right after, and right before.
    assert "Nearest free times:" in message
    assert "11:00 with Dana Tech" in message
    suggested = [s["starts_at"] for s in caught.value.extra["suggestions"]]
    assert at(0, "11:00").isoformat() in suggested
    assert caught.value.extra["conflicts"][0]["kind"] == "technician"
    # The other appointment's patient is never named.
    assert patient.last_name not in message
    after = (Appointment.objects.count(), AuditEvent.objects.count(), OutboxEvent.objects.count())
    assert after == before


def test_conflict_names_another_technician_free_at_that_time(
    employee, patient, location, setup_type, tech, tech2, at
):
    _book(employee, patient, setup_type, tech, at(0, "10:00"))
    with pytest.raises(BookingConflict) as caught:
        _book(employee, PatientFactory(home_location=location), setup_type, tech, at(0, "10:00"))
    assert "Eli Tech is free at the time you asked." in caught.value.message
    assert caught.value.extra["free_technician"] == str(tech2.public_id)


def test_back_to_back_bookings_are_accepted(employee, patient, location, setup_type, tech, at):
    _book(employee, patient, setup_type, tech, at(0, "10:00"))
    other = PatientFactory(home_location=location)
    second = _book(employee, other, setup_type, tech, at(0, "11:00"))
    assert second.pk


def test_a_patient_cannot_be_in_two_places(employee, patient, setup_type, tech, tech2, at):
    _book(employee, patient, setup_type, tech, at(0, "10:00"))
    with pytest.raises(BookingConflict, match="This patient already has an appointment on Mon"):
        _book(employee, patient, setup_type, tech2, at(0, "10:15"))


def test_a_room_cannot_hold_two_studies(employee, location, types, at):
    room = RoomFactory(location=location, name="Bedroom 1")
    study = types[AppointmentKind.DIAGNOSTIC_STUDY]
    night = technician(
        location, full_name="Nia Night", hours=(datetime.time(0), datetime.time(23, 59)),
        weekdays=range(7),
    )  # fmt: skip
    other = technician(
        location, full_name="Omar Night", hours=(datetime.time(0), datetime.time(23, 59)),
        weekdays=range(7),
    )  # fmt: skip
    appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=study,
        starts_at=at(0, "14:00"),
        technician=night,
        room=room,
    )
    with pytest.raises(BookingConflict, match="Bedroom 1 is already booked on Mon"):
        appointment_book(
            actor=employee,
            patient=PatientFactory(home_location=location),
            type=study,
            starts_at=at(0, "15:00"),
            technician=other,
            room=room,
        )


def test_outside_working_hours_is_refused_with_the_hours(employee, patient, setup_type, tech, at):
    with pytest.raises(BookingConflict) as caught:
        _book(employee, patient, setup_type, tech, at(0, "16:30"))
    assert "Dana Tech works 08:00\u201317:00 on Mon" in caught.value.message
    assert "outside their hours" in caught.value.message
    with pytest.raises(BookingConflict, match="Dana Tech is not working on Sat"):
        _book(employee, patient, setup_type, tech, at(5, "10:00"))
    assert not Appointment.objects.exists()


def test_daily_capacity_is_respected(employee, location, setup_type, at):
    small = technician(location, full_name="Cap Two", capacity=2)
    for hour in ("09:00", "10:00"):
        _book(employee, PatientFactory(home_location=location), setup_type, small, at(0, hour))
    with pytest.raises(BookingConflict, match="Cap Two already has 2 visits on Mon"):
        _book(employee, PatientFactory(home_location=location), setup_type, small, at(0, "13:00"))
    # Another day is fine.
    assert _book(employee, PatientFactory(home_location=location), setup_type, small, at(1, "9:00"))


def test_a_staff_block_needs_no_patient_and_blocks_the_technician(
    employee, location, patient, types, setup_type, tech, at
):
    block = appointment_book(
        actor=employee,
        patient=None,
        type=types[AppointmentKind.STAFF_BLOCK],
        location=location,
        starts_at=at(0, "12:00"),
        technician=tech,
    )
    assert block.reminders.count() == 0
    with pytest.raises(BookingConflict, match=r"Dana Tech is already booked .* \(Unavailable"):
        _book(employee, patient, setup_type, tech, at(0, "12:30"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"technician": None}, "needs a technician"),
        ({"ends_at": "same"}, "must end after it starts"),
        ({"starts_at": "past"}, "already passed"),
        ({"patient": None}, "Choose the patient"),
    ],
)
def test_bad_bookings_are_refused_with_a_clear_message(
    employee, patient, location, setup_type, tech, at, change, message
):
    kwargs = {
        "actor": employee,
        "patient": patient,
        "type": setup_type,
        "starts_at": at(0, "10:00"),
        "technician": tech,
        "location": location,
    }
    kwargs.update(change)
    if change.get("ends_at") == "same":
        kwargs["ends_at"] = kwargs["starts_at"]
    if change.get("starts_at") == "past":
        kwargs["starts_at"] = datetime.datetime(2020, 1, 6, 15, tzinfo=datetime.UTC)
    with pytest.raises(BookingInvalid, match=message):
        appointment_book(**kwargs)
    assert not Appointment.objects.exists()
    assert not AuditEvent.objects.filter(action="appointment.booked").exists()


def test_another_organizations_type_or_technician_is_refused(
    employee, patient, setup_type, tech, at
):
    elsewhere = LocationFactory()
    appointment_types_ensure(actor=None, organization=elsewhere.organization)
    foreign_type = elsewhere.organization.appointment_types.get(code="EQUIPMENT_SETUP")
    with pytest.raises(BookingInvalid, match="appointment type from the list"):
        _book(employee, patient, foreign_type, tech, at(0, "10:00"))
    with pytest.raises(BookingInvalid, match="technician of this organization"):
        _book(employee, patient, setup_type, technician(elsewhere), at(0, "10:00"))
    assert not Appointment.objects.exists()


def test_email_preferring_patients_are_reminded_by_email(employee, location, setup_type, tech, at):
    patient = PatientFactory(
        home_location=location, email="pat@mail.example", preferred_contact="EMAIL"
    )
    appt = _book(employee, patient, setup_type, tech, at(0, "10:00"))
    events_dispatch()
    assert set(appt.reminders.values_list("channel", flat=True)) == {Reminder.Channel.EMAIL}
