"""End to end on a real Celery worker: completing a visit commits the outbox event, the worker
runs the handler, and the charge appears; no test code dispatches anything."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from billing.charges.models import Charge
from billing.tests.factories import schedule_with_line, study_type
from clinic.models import Role
from clinic.tests.conftest import celery_queue, celery_worker, wait_until  # noqa: F401
from clinic.tests.factories import staff_user
from patients.clinical.tests.factories import InsurancePolicyFactory
from patients.tests.factories import PatientFactory
from scheduling.booking.services import appointment_complete
from scheduling.models import AppointmentState
from scheduling.tests.factories import AppointmentFactory


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_completed_visit_becomes_a_charge_on_the_worker(location, payer):
    admin = staff_user(role=Role.ADMIN, location=location)
    schedule_with_line(admin, payer, price="1400.00")
    patient = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=patient, payer=payer)
    visit = AppointmentFactory(
        location=location,
        patient=patient,
        type=study_type(admin, location),
        starts_at=datetime.datetime(2026, 12, 4, 15, tzinfo=datetime.UTC),
        state=AppointmentState.IN_PROGRESS,
    )

    appointment_complete(actor=admin, appointment=visit)

    charge = wait_until(lambda: Charge.objects.filter(appointment=visit).first())
    assert charge.amount == Decimal("1400.00")
