"""Factories for insurance and medical history (build on patients.tests.factories)."""

from __future__ import annotations

import datetime

import factory

from clinic.crypto import lookup_hash
from patients.models import (
    Diagnosis,
    DiagnosticStudy,
    InsurancePolicy,
    MedicalHistory,
    Payer,
)
from patients.tests.factories import PatientFactory


class PayerFactory(factory.django.DjangoModelFactory[Payer]):
    class Meta:
        model = Payer

    organization = factory.SubFactory("clinic.tests.factories.OrganizationFactory")
    name = factory.Sequence(lambda n: f"Payer {n}")
    payer_code = factory.Sequence(lambda n: f"P{n:05d}")


class InsurancePolicyFactory(factory.django.DjangoModelFactory[InsurancePolicy]):
    class Meta:
        model = InsurancePolicy

    patient = factory.SubFactory(PatientFactory)
    organization = factory.SelfAttribute("patient.organization")
    payer = factory.SubFactory(PayerFactory, organization=factory.SelfAttribute("..organization"))
    rank = "PRIMARY"
    member_id = factory.Sequence(lambda n: f"MBR{n:07d}")
    member_id_hash = factory.LazyAttribute(lambda o: lookup_hash(o.member_id))


class DiagnosisFactory(factory.django.DjangoModelFactory[Diagnosis]):
    class Meta:
        model = Diagnosis

    patient = factory.SubFactory(PatientFactory)
    organization = factory.SelfAttribute("patient.organization")
    code = "G47.33"
    description = "Obstructive sleep apnea"


class DiagnosticStudyFactory(factory.django.DjangoModelFactory[DiagnosticStudy]):
    class Meta:
        model = DiagnosticStudy

    patient = factory.SubFactory(PatientFactory)
    organization = factory.SelfAttribute("patient.organization")
    study_date = datetime.date(2026, 1, 15)
    study_type = "hst"
    ahi = 23


def clinical_rows_for_tenant_walk(location) -> None:
    """One row of each insurance / medical-history model for a patient at ``location``."""
    patient = PatientFactory(home_location=location, first_name="Alvina", last_name="Alphainsured")
    payer = PayerFactory(organization=location.organization, name="Alpha Mutual Health")
    InsurancePolicyFactory(patient=patient, payer=payer)
    DiagnosisFactory(patient=patient)
    DiagnosticStudyFactory(patient=patient)
    MedicalHistory.objects.create(
        organization=location.organization, patient=patient, allergies="Penicillin"
    )
