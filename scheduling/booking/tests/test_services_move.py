"""Moving, resizing and the state actions: versions, events, audit, reminders, refusals."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from clinic.models import AuditEvent, OutboxEvent
from patients.tests.factories import PatientFactory
from scheduling.booking.services import (
    AppointmentStateRefused,
    BookingConflict,
    BookingInvalid,
    StaleVersion,
    appointment_book,
    appointment_cancel,
    appointment_check_in,
    appointment_complete,
    appointment_enter_in_error,
    appointment_move,
    appointment_no_show,
    appointment_resize,
    appointment_start,
)
from scheduling.models import Appointment, AppointmentState, Reminder
from scheduling.tests.factories import AppointmentFactory
from scheduling.tests.outbox import events_dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def appt(employee, patient, setup_type, tech, at):
    booked = appointment_book(
        actor=employee, patient=patient, type=setup_type, starts_at=at(0, "10:00"), technician=tech
    )
    events_dispatch()  # its reminders are planned
    assert booked.reminders.filter(state=Reminder.State.PENDING).count() == 2
    return booked


def test_move_changes_time_bumps_version_and_retimes_reminders(employee, appt, at):
    moved = appointment_move(
        actor=employee, appointment=appt, starts_at=at(1, "13:00"), expected_version=1
    )
    assert moved.version == 2
    assert (moved.starts_at, moved.ends_at) == (at(1, "13:00"), at(1, "14:00"))
    event = OutboxEvent.objects.get(name="appointment.moved")
    assert event.payload["version"] == 2
    assert event.payload["appointment"] == str(appt.public_id)
    audit = AuditEvent.objects.get(action="appointment.moved")
    assert audit.details == {"version": 2, "fields": ["starts_at", "ends_at"]}
    events_dispatch()
    send_times = set(moved.reminders.values_list("send_at", flat=True))
    assert send_times == {
        at(1, "13:00") - datetime.timedelta(hours=24),
        at(1, "13:00") - datetime.timedelta(hours=2),
    }


def test_a_stale_version_is_refused_with_the_current_values(employee, appt, at, tech):
    appointment_move(actor=employee, appointment=appt, starts_at=at(0, "11:00"), expected_version=1)
    with pytest.raises(StaleVersion) as caught:
        appointment_move(
            actor=employee, appointment=appt, starts_at=at(0, "14:00"), expected_version=1
        )
    assert "Someone else changed this appointment" in caught.value.message
    assert "11:00\u201312:00 with Dana Tech" in caught.value.message
    assert "(version 2)" in caught.value.message
    current = caught.value.extra["current"]
    assert current["version"] == 2
    assert current["starts_at"] == at(0, "11:00").isoformat()
    appt.refresh_from_db()
    assert appt.starts_at == at(0, "11:00")
    assert appt.version == 2


def test_moving_onto_another_booking_is_refused_and_nothing_changes(
    employee, appt, location, setup_type, tech, at
):
    other = appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=setup_type,
        starts_at=at(0, "13:00"),
        technician=tech,
    )
    with pytest.raises(BookingConflict, match="Dana Tech is already booked on Mon"):
        appointment_move(
            actor=employee, appointment=other, starts_at=at(0, "10:30"), expected_version=1
        )
    other.refresh_from_db()
    assert (other.starts_at, other.version) == (at(0, "13:00"), 1)
    assert not OutboxEvent.objects.filter(name="appointment.moved").exists()


def test_an_appointment_can_move_onto_its_own_old_time(employee, appt, at):
    moved = appointment_move(
        actor=employee, appointment=appt, starts_at=at(0, "10:30"), expected_version=1
    )
    assert moved.starts_at == at(0, "10:30")


def test_resize_and_reassign(employee, appt, tech2, at):
    resized = appointment_resize(
        actor=employee, appointment=appt, ends_at=at(0, "11:30"), expected_version=1
    )
    assert resized.ends_at == at(0, "11:30")
    moved = appointment_move(
        actor=employee,
        appointment=resized,
        starts_at=resized.starts_at,
        ends_at=resized.ends_at,
        technician=tech2,
        expected_version=2,
    )
    assert moved.technician == tech2
    assert moved.patient.assignments.filter(technician=tech2).exists()


def test_the_state_machine_walks_booked_to_fulfilled(employee, appt, clock_at):
    clock_at(appt.starts_at)  # the visit's own day
    appt = appointment_check_in(actor=employee, appointment=appt)
    assert appt.state == AppointmentState.CHECKED_IN and appt.checked_in_at
    appt = appointment_start(actor=employee, appointment=appt)
    appt = appointment_complete(actor=employee, appointment=appt)
    assert appt.state == AppointmentState.FULFILLED
    assert appt.version == 4
    actions = list(
        AuditEvent.objects.filter(object_id=str(appt.public_id))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "appointment.booked",
        "appointment.checked_in",
        "appointment.started",
        "appointment.completed",
    ]
    states = [
        e.payload["state"]
        for e in OutboxEvent.objects.filter(name="appointment.state_changed").order_by("id")
    ]
    assert states == ["checked_in", "in_progress", "fulfilled"]
    events_dispatch()
    # Reminders of a finished visit do not go out.
    assert not appt.reminders.filter(state=Reminder.State.PENDING).exists()


def test_a_completed_visit_cannot_be_cancelled_or_moved(employee, appt, at, clock_at):
    clock_at(appt.starts_at)
    appt = appointment_check_in(actor=employee, appointment=appt)
    appt = appointment_complete(actor=employee, appointment=appt)
    with pytest.raises(AppointmentStateRefused, match="is completed; it cannot be cancelled"):
        appointment_cancel(actor=employee, appointment=appt, reason="Patient asked")
    with pytest.raises(AppointmentStateRefused, match="Only a booked appointment can be moved"):
        appointment_move(
            actor=employee, appointment=appt, starts_at=at(1, "10:00"), expected_version=None
        )


def test_cancel_needs_a_reason_withdraws_reminders_and_frees_the_time(
    employee, appt, location, setup_type, tech, at
):
    with pytest.raises(BookingInvalid, match="Say why"):
        appointment_cancel(actor=employee, appointment=appt, reason="   ")
    appt = appointment_cancel(actor=employee, appointment=appt, reason="Patient is travelling")
    assert appt.state == AppointmentState.CANCELLED
    assert appt.cancel_reason == "Patient is travelling"
    events_dispatch()
    assert set(appt.reminders.values_list("state", flat=True)) == {Reminder.State.WITHDRAWN}
    event = OutboxEvent.objects.get(name="appointment.cancelled")
    assert event.payload["version"] == 2
    # The reason is free text: it stays out of the audit row.
    audit = AuditEvent.objects.get(action="appointment.cancelled")
    assert "travelling" not in str(audit.details)
    again = appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=setup_type,
        starts_at=at(0, "10:00"),
        technician=tech,
    )
    assert again.pk


def test_no_show_only_after_the_start(employee, appt, location, setup_type):
    with pytest.raises(AppointmentStateRefused, match="once the appointment's start time"):
        appointment_no_show(actor=employee, appointment=appt)
    started = AppointmentFactory(
        location=location,
        type=setup_type,
        starts_at=timezone.now() - datetime.timedelta(minutes=20),
    )
    marked = appointment_no_show(actor=employee, appointment=started)
    assert marked.state == AppointmentState.NOSHOW


def test_entered_in_error_keeps_the_row(employee, appt):
    appt = appointment_enter_in_error(actor=employee, appointment=appt, reason="Wrong patient")
    assert Appointment.objects.filter(pk=appt.pk, state="entered_in_error").exists()


def test_state_actions_check_the_version_when_given(employee, appt, at):
    appointment_move(actor=employee, appointment=appt, starts_at=at(0, "11:00"), expected_version=1)
    with pytest.raises(StaleVersion):
        appointment_check_in(actor=employee, appointment=appt, expected_version=1)
    appt.refresh_from_db()
    assert appt.state == AppointmentState.BOOKED
