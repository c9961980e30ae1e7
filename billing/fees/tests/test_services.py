"""Fee schedule writes: ADMIN only, codes and amounts validated, one schedule per payer and one
self-pay schedule, no two lines for a code in effect on the same day (database-enforced)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from billing.fees.models import BillableCode, FeeLine, FeeSchedule
from billing.fees.services import (
    FeeInvalid,
    billable_code_add,
    fee_line_add,
    fee_schedule_create,
    modifiers_clean,
)
from clinic.errors import PermissionDenied
from clinic.models import AuditEvent
from clinic.tests.factories import LocationFactory, staff_user
from patients.clinical.tests.factories import PayerFactory
from scheduling.tests.factories import AppointmentTypeFactory

JAN = datetime.date(2026, 1, 1)


def test_admin_creates_a_schedule_and_a_line_audited(admin, payer):
    schedule = fee_schedule_create(actor=admin, payer=payer)
    line = fee_line_add(
        actor=admin,
        schedule=schedule,
        code=" e0601 ",
        modifiers="rr, kh",
        purchase_price="1200.00",
        rental_price="120",
        effective_from=JAN,
    )
    assert schedule.name == "Acme Health fee schedule"
    assert (line.code, line.modifiers, line.rental_price) == ("E0601", "RR KH", Decimal("120.00"))
    assert AuditEvent.objects.filter(action="fee_schedule.created").count() == 1
    assert AuditEvent.objects.filter(action="fee_line.added").count() == 1


@pytest.mark.parametrize("code", ["9581", "958100", "Z1234", "ABCDE", "", "95-10"])
def test_a_code_that_is_neither_cpt_nor_hcpcs_is_refused(admin, code):
    schedule = fee_schedule_create(actor=admin, payer=None)
    with pytest.raises(FeeInvalid, match="CPT code"):
        fee_line_add(
            actor=admin, schedule=schedule, code=code, purchase_price="1", effective_from=JAN
        )
    assert not FeeLine.objects.exists()


@pytest.mark.parametrize("code", ["95810", "0001U", "3074F", "E0601", "A7030"])
def test_cpt_and_hcpcs_codes_are_accepted(admin, code):
    schedule = fee_schedule_create(actor=admin, payer=None)
    fee_line_add(actor=admin, schedule=schedule, code=code, purchase_price="1", effective_from=JAN)


@pytest.mark.parametrize("text", ["RRR", "RR RR", "RR KH KI KJ NU", "R!"])
def test_bad_modifiers_are_refused(text):
    with pytest.raises(FeeInvalid):
        modifiers_clean(text)


@pytest.mark.parametrize("price", ["-1", "abc", "1.234", "NaN"])
def test_a_bad_amount_is_refused(admin, price):
    schedule = fee_schedule_create(actor=admin, payer=None)
    with pytest.raises(FeeInvalid):
        fee_line_add(
            actor=admin, schedule=schedule, code="95810", purchase_price=price, effective_from=JAN
        )


def test_an_overlapping_line_is_refused_and_the_database_backs_it(admin):
    schedule = fee_schedule_create(actor=admin, payer=None)
    line = fee_line_add(
        actor=admin, schedule=schedule, code="95810", purchase_price="1", effective_from=JAN
    )
    with pytest.raises(FeeInvalid, match="in effect"):
        fee_line_add(
            actor=admin,
            schedule=schedule,
            code="95810",
            purchase_price="2",
            effective_from=datetime.date(2026, 6, 1),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        FeeLine.objects.create(
            organization=schedule.organization,
            schedule=schedule,
            code="95810",
            purchase_price=Decimal("3"),
            effective_from=datetime.date(2027, 1, 1),
        )
    # A different modifier is a different line.
    fee_line_add(
        actor=admin,
        schedule=schedule,
        code="95810",
        modifiers="26",
        purchase_price="1",
        effective_from=JAN,
    )
    assert FeeLine.objects.filter(schedule=schedule).count() == 2
    assert line.pk


def test_one_schedule_per_payer_and_one_self_pay(admin, payer):
    fee_schedule_create(actor=admin, payer=payer)
    fee_schedule_create(actor=admin, payer=None)
    with pytest.raises(FeeInvalid, match="already has"):
        fee_schedule_create(actor=admin, payer=payer)
    with pytest.raises(FeeInvalid, match="already has"):
        fee_schedule_create(actor=admin, payer=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeeSchedule.objects.create(organization=admin.organization, payer=None, name="again")
    assert FeeSchedule.objects.count() == 2


@pytest.mark.parametrize("role", ["EMPLOYEE", "FIELD_TECHNICIAN", "CLINICIAN", "SUPPORT"])
def test_only_an_admin_changes_fees(location, role, payer):
    user = staff_user(role=role, location=location)
    with pytest.raises(PermissionDenied):
        fee_schedule_create(actor=user, payer=payer)
    appt_type = AppointmentTypeFactory(organization=location.organization)
    with pytest.raises(PermissionDenied):
        billable_code_add(actor=user, appointment_type=appt_type, code="95810")
    assert not FeeSchedule.objects.exists()
    assert not BillableCode.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="fee").exists()


def test_an_admin_cannot_use_another_organizations_payer_or_type(admin):
    other = LocationFactory()
    with pytest.raises(PermissionDenied):
        fee_schedule_create(actor=admin, payer=PayerFactory(organization=other.organization))
    with pytest.raises(PermissionDenied):
        billable_code_add(
            actor=admin,
            appointment_type=AppointmentTypeFactory(organization=other.organization),
            code="95810",
        )
    assert not FeeSchedule.objects.exists()


def test_a_billable_code_is_added_once_per_type(admin, location):
    appt_type = AppointmentTypeFactory(organization=location.organization)
    billable_code_add(actor=admin, appointment_type=appt_type, code="95810")
    with pytest.raises(FeeInvalid, match="already bills"):
        billable_code_add(actor=admin, appointment_type=appt_type, code="95810")
    assert BillableCode.objects.count() == 1
