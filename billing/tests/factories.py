"""Factories of the billing app, and its rows for the cross-app tenant walk. Rows that matter
(schedules, lines, billable codes, charges) are made through the services, so the scene is
what production would hold."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from billing.charges.services import (
    charges_create_for_appointment,
    charges_reverse_for_appointment,
)
from billing.fees.models import FeeSchedule
from billing.fees.services import billable_code_add, fee_line_add, fee_schedule_create
from clinic.models import Location, Role, User
from clinic.tests.factories import staff_user
from patients.clinical.tests.factories import InsurancePolicyFactory, PayerFactory
from patients.models import Payer
from patients.tests.factories import PatientFactory
from scheduling.models import Appointment, AppointmentKind, AppointmentState, AppointmentType
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory

SERVICE_DAY = datetime.date(2026, 12, 4)


def schedule_with_line(
    admin: User,
    payer: Payer | None,
    *,
    code: str = "95810",
    price: str = "1400.00",
    allowed: str | None = "1100.00",
    effective_from: datetime.date = datetime.date(2026, 1, 1),
    effective_to: datetime.date | None = None,
) -> FeeSchedule:
    schedule = FeeSchedule.objects.filter(
        organization_id=admin.organization_id, payer=payer
    ).first() or fee_schedule_create(actor=admin, payer=payer)
    fee_line_add(
        actor=admin,
        schedule=schedule,
        code=code,
        purchase_price=Decimal(price),
        allowed_amount=Decimal(allowed) if allowed else None,
        effective_from=effective_from,
        effective_to=effective_to,
    )
    return schedule


def study_type(
    admin: User, location: Location, code: str = "95810", **fields: Any
) -> AppointmentType:
    """The DIAGNOSTIC_STUDY type of the organization, billed with ``code``."""
    appt_type = AppointmentTypeFactory.create(
        organization=location.organization, code=AppointmentKind.DIAGNOSTIC_STUDY, **fields
    )
    billable_code_add(actor=admin, appointment_type=appt_type, code=code)
    return appt_type


def completed_visit(
    location: Location,
    appt_type: AppointmentType,
    *,
    patient: Any = None,
    day: datetime.date = SERVICE_DAY,
    state: str = AppointmentState.FULFILLED,
) -> Appointment:
    """An appointment row as completing it leaves it (no event: call the handler yourself)."""
    starts = datetime.datetime.combine(day, datetime.time(15), tzinfo=datetime.UTC)
    return AppointmentFactory.create(
        location=location,
        patient=patient or PatientFactory(home_location=location),
        type=appt_type,
        starts_at=starts,
        state=state,
        completed_at=timezone.now(),
    )


def billing_rows_for_tenant_walk(location: Location) -> None:
    """One row of every billing model at ``location`` (tests/test_tenant_isolation.py): a payer's
    schedule and the self-pay one with lines, a billable code, a priced charge, a held charge
    and a reversal."""
    admin = staff_user(role=Role.ADMIN, location=location, full_name="Bea Alphabill")
    payer = PayerFactory(organization=location.organization, name="Alphabill Assurance")
    schedule_with_line(admin, payer, code="95810", price="1234.56")
    schedule_with_line(admin, None, code="99203", price="98.76")
    # A name of its own: the kind's label is a choice every organization sees.
    appt_type = study_type(admin, location, name="Alpha overnight study")
    insured = PatientFactory(home_location=location, first_name="Alba", last_name="Alphacharge")
    InsurancePolicyFactory(patient=insured, payer=payer)
    priced = completed_visit(location, appt_type, patient=insured)
    charges_create_for_appointment(actor=None, appointment=priced)
    held = completed_visit(
        location,
        appt_type,
        patient=PatientFactory(home_location=location, first_name="Alva", last_name="Alphaheld"),
    )
    charges_create_for_appointment(actor=None, appointment=held)
    charges_reverse_for_appointment(actor=None, appointment=priced)
