"""Factories for referrals and authorizations (build on the patients and clinical factories)."""

from __future__ import annotations

import datetime

import factory

from patients.clinical.tests.factories import PayerFactory
from patients.models import Authorization, Referral
from patients.tests.factories import PatientFactory, PhysicianFactory


class ReferralFactory(factory.django.DjangoModelFactory[Referral]):
    class Meta:
        model = Referral

    patient = factory.SubFactory(PatientFactory)
    organization = factory.SelfAttribute("patient.organization")
    physician = factory.SubFactory(
        PhysicianFactory, organization=factory.SelfAttribute("..organization")
    )
    received_on = datetime.date(2026, 1, 5)
    reason = "Snoring, daytime sleepiness"


class AuthorizationFactory(factory.django.DjangoModelFactory[Authorization]):
    class Meta:
        model = Authorization

    patient = factory.SubFactory(PatientFactory)
    organization = factory.SelfAttribute("patient.organization")
    payer = factory.SubFactory(PayerFactory, organization=factory.SelfAttribute("..organization"))
    number = factory.Sequence(lambda n: f"AUTH{n:06d}")
    codes = factory.LazyFunction(lambda: ["E0601", "A7030"])
    units_approved = 10
    valid_from = datetime.date(2026, 1, 1)
    valid_to = datetime.date(2026, 12, 31)


def referral_rows_for_tenant_walk(location) -> None:
    """One row of every referrals model at ``location`` (tests/test_tenant_isolation.py)."""
    from patients.models import AuthorizationWarning, ReferralStatusChange

    patient = PatientFactory(home_location=location, first_name="Refina", last_name="Alphareferred")
    referral = ReferralFactory(patient=patient)
    ReferralStatusChange.objects.create(
        referral=referral, from_status="RECEIVED", to_status="CONTACTED"
    )
    authorization = AuthorizationFactory(patient=patient, number="AUTHALPHA1")
    AuthorizationWarning.objects.create(authorization=authorization, days_before=30)
