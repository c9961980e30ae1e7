"""Factories for patients. Build on clinic's (LocationFactory, staff_user)."""

from __future__ import annotations

import datetime

import factory

from clinic.tests.factories import LocationFactory
from patients.models import Patient, PatientNote, Physician


class PhysicianFactory(factory.django.DjangoModelFactory[Physician]):
    class Meta:
        model = Physician

    organization = factory.SubFactory("clinic.tests.factories.OrganizationFactory")
    first_name = "Grace"
    last_name = factory.Sequence(lambda n: f"Referrer{n}")
    practice = "Sleep Associates"
    # Valid NPIs in sequence: the first nine digits vary, the check digit is computed.
    npi = factory.Sequence(lambda n: npi_with_check(f"1{n:08d}"))


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    home_location = factory.SubFactory(LocationFactory)
    organization = factory.SelfAttribute("home_location.organization")
    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    first_name = "Jordan"
    last_name = factory.Sequence(lambda n: f"Patientson{n}")
    date_of_birth = datetime.date(1961, 4, 12)


class PatientNoteFactory(factory.django.DjangoModelFactory[PatientNote]):
    class Meta:
        model = PatientNote

    patient = factory.SubFactory(PatientFactory)
    text = "Prefers morning calls."


def npi_with_check(nine: str) -> str:
    """``nine`` digits plus the NPI check digit that makes them valid."""
    total = 24
    for i, ch in enumerate(reversed(nine)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return nine + str((10 - total % 10) % 10)


def patient_rows_for_tenant_walk(location) -> Patient:
    """One row of every patients model at ``location`` (tests/test_tenant_isolation.py)."""
    from clinic.models import Role
    from clinic.tests.factories import staff_user
    from patients.models import PatientAssignment, PatientExport, PatientStatusChange

    physician = PhysicianFactory(organization=location.organization, last_name="Alphadoc")
    patient: Patient = PatientFactory.create(
        home_location=location,
        first_name="Alphonse",
        last_name="Alphapatient",
        email="alphonse@alpha.test",
        referring_physician=physician,
    )
    PatientNoteFactory(patient=patient)
    PatientStatusChange.objects.create(
        patient=patient, from_status="PENDING_SCHEDULE", to_status="SCHEDULED", reason="Seed"
    )
    technician = staff_user(role=Role.FIELD_TECHNICIAN, location=location, full_name="Tess Alpha")
    PatientAssignment.objects.create(patient=patient, technician=technician)
    exporter = staff_user(role=Role.ADMIN, location=location, full_name="Xavier Alphaexport")
    PatientExport.objects.create(
        organization=location.organization, requested_by=exporter, query="q=Alphapatient"
    )
    return patient
