"""What one booking costs in SQL: a fixed number of statements (the first booking of a new
patient, with a technician: checks, the row, audit, event and the technician link; then the
event's handlers: reminders and the patient's status)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import PatientStatus
from patients.tests.factories import PatientFactory
from scheduling.booking.services import appointment_book
from scheduling.models import Appointment, Reminder
from scheduling.tests.outbox import events_dispatch

pytestmark = pytest.mark.django_db

BOOKING_STATEMENTS = 19
HANDLER_STATEMENTS = 39  # both events: dispatch, ledger, reminders, status, its own event


def test_a_booking_runs_a_fixed_number_of_statements(employee, location, setup_type, tech, at):
    # Warm: one booking first, so per-process caches (content types, …) are filled.
    appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=setup_type,
        starts_at=at(0, "08:00"),
        technician=tech,
    )
    events_dispatch()  # and its handlers, so theirs are warm too
    patient = PatientFactory(home_location=location)
    with CaptureQueriesContext(connection) as queries:
        appointment = appointment_book(
            actor=employee, patient=patient, type=setup_type, starts_at=at(0, "10:00"),
            technician=tech,
        )  # fmt: skip
    assert Appointment.objects.filter(pk=appointment.pk).exists()
    assert len(queries) == BOOKING_STATEMENTS
    with CaptureQueriesContext(connection) as handler_queries:
        events_dispatch()
    assert Reminder.objects.filter(appointment=appointment).count() == 2
    patient.refresh_from_db()
    assert patient.status == PatientStatus.SCHEDULED
    assert len(handler_queries) == HANDLER_STATEMENTS
