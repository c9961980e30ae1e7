"""The price of a charge: the patient's primary active policy's payer, its schedule's line in
effect on the date of service, else the self-pay schedule; no price -> held with the reason."""

from __future__ import annotations

import datetime
from decimal import Decimal

from billing.charges.models import ChargeStatus
from billing.charges.services import charges_create_for_appointment
from billing.tests.factories import completed_visit, schedule_with_line, study_type
from patients.clinical.tests.factories import InsurancePolicyFactory, PayerFactory
from patients.tests.factories import PatientFactory

DAY = datetime.date(2026, 12, 4)


def _charge(location, appt_type, patient, day=DAY):
    visit = completed_visit(location, appt_type, patient=patient, day=day)
    [charge] = charges_create_for_appointment(actor=None, appointment=visit)
    return charge


def test_the_line_in_effect_on_the_date_of_service_prices_the_charge(admin, location, payer):
    schedule_with_line(
        admin, payer, price="100.00", allowed=None, effective_to=datetime.date(2026, 6, 30)
    )
    schedule_with_line(
        admin, payer, price="120.00", allowed=None, effective_from=datetime.date(2026, 7, 1)
    )
    appt_type = study_type(admin, location)
    patient = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=patient, payer=payer)

    march = _charge(location, appt_type, patient, datetime.date(2026, 3, 2))
    december = _charge(location, appt_type, patient, DAY)

    assert march.amount == Decimal("100.00")
    assert december.amount == Decimal("120.00")
    assert december.allowed_amount == Decimal("120.00")


def test_allowed_is_the_lower_of_schedule_and_price(admin, location, payer):
    schedule_with_line(admin, payer, price="100.00", allowed="80.00")
    patient = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=patient, payer=payer)
    charge = _charge(location, study_type(admin, location), patient)
    assert (charge.amount, charge.allowed_amount) == (Decimal("100.00"), Decimal("80.00"))


def test_a_patient_without_a_policy_is_priced_from_the_self_pay_schedule(admin, location, payer):
    schedule_with_line(admin, payer, price="1400.00")
    schedule_with_line(admin, None, price="900.00", allowed=None)
    charge = _charge(location, study_type(admin, location), PatientFactory(home_location=location))
    assert charge.payer is None
    assert charge.amount == Decimal("900.00")


def test_a_policy_not_in_effect_on_the_date_or_inactive_or_secondary_means_self_pay(
    admin, location, payer
):
    schedule_with_line(admin, payer, price="1400.00")
    schedule_with_line(admin, None, price="900.00", allowed=None)
    appt_type = study_type(admin, location)
    lapsed = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=lapsed, payer=payer, effective_to=datetime.date(2026, 11, 30))
    inactive = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=inactive, payer=payer, is_active=False)
    secondary = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=secondary, payer=payer, rank="SECONDARY")

    for patient in (lapsed, inactive, secondary):
        charge = _charge(location, appt_type, patient)
        assert (charge.payer, charge.amount) == (None, Decimal("900.00"))


def test_no_fee_on_the_payers_schedule_holds_the_charge_with_a_plain_reason(admin, location, payer):
    schedule_with_line(admin, payer, code="95810")
    appt_type = study_type(admin, location, code="95811")
    patient = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=patient, payer=payer)

    charge = _charge(location, appt_type, patient)

    assert charge.status == ChargeStatus.HELD
    assert charge.amount is None
    assert charge.held_reason == "No fee for 95811 on Acme Health's schedule on 2026-12-04."


def test_a_payer_without_a_schedule_holds_the_charge(admin, location):
    other = PayerFactory(organization=location.organization, name="Bolt Insurance")
    patient = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=patient, payer=other)
    charge = _charge(location, study_type(admin, location), patient)
    assert charge.status == ChargeStatus.HELD
    assert charge.held_reason == (
        "Bolt Insurance has no fee schedule (needed for 95810 on 2026-12-04)."
    )


def test_no_self_pay_fee_holds_the_charge(admin, location):
    schedule_with_line(admin, None, code="99203")
    charge = _charge(location, study_type(admin, location), PatientFactory(home_location=location))
    assert charge.held_reason == "No fee for 95810 on the self-pay schedule on 2026-12-04."


def test_an_allowed_amount_of_zero_is_kept(admin, location, payer):
    schedule_with_line(admin, payer, price="100.00", allowed="0.00")
    patient = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=patient, payer=payer)
    charge = _charge(location, study_type(admin, location), patient)
    assert (charge.amount, charge.allowed_amount) == (Decimal("100.00"), Decimal("0.00"))
