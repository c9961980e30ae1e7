"""What one booking costs in SQL: a fixed number of statements (the first booking of a new
patient, with a technician: checks, the row, audit, event, reminders, the patient's status
and technician link)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.tests.factories import PatientFactory
from scheduling.models import Appointment, Reminder
from scheduling.services import appointment_book

pytestmark = pytest.mark.django_db

BOOKING_STATEMENTS = 29


def test_a_booking_runs_a_fixed_number_of_statements(employee, location, setup_type, tech, at):
    # Warm: one booking first, so per-process caches (content types, …) are filled.
    appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=setup_type,
        starts_at=at(0, "08:00"),
        technician=tech,
    )
    patient = PatientFactory(home_location=location)
    with CaptureQueriesContext(connection) as queries:
        appointment = appointment_book(
            actor=employee, patient=patient, type=setup_type, starts_at=at(0, "10:00"),
            technician=tech,
        )  # fmt: skip
    assert Appointment.objects.filter(pk=appointment.pk).exists()
    assert Reminder.objects.filter(appointment=appointment).count() == 2
    assert len(queries) == BOOKING_STATEMENTS
