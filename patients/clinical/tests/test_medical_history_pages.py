"""The medical-history page of a patient: diagnoses, studies, allergies and medications, their
forms, who may see and change them, audit of every view, constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory
from patients.clinical.tests.factories import DiagnosisFactory, DiagnosticStudyFactory
from patients.models import Diagnosis, DiagnosticStudy, MedicalHistory
from patients.record.services import patient_assignment_add
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinician(location, make_staff):
    return make_staff(Role.CLINICIAN, location)


@pytest.fixture
def client(clinician, signed_in):
    return signed_in(clinician)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


def url(name, patient, **kwargs):
    return reverse(f"patients:{name}", kwargs={"public_id": patient.public_id, **kwargs})


def test_page_shows_diagnoses_studies_and_allergies(client, patient):
    DiagnosisFactory(patient=patient, code="G47.33", description="Obstructive sleep apnea")
    DiagnosticStudyFactory(patient=patient, ahi=37)
    MedicalHistory.objects.create(
        organization=patient.organization, patient=patient, allergies="Latex"
    )
    body = client.get(url("medical_history", patient)).content.decode()
    assert "G47.33" in body and "Obstructive sleep apnea" in body
    assert "Home sleep test" in body and "37" in body and "Latex" in body


def test_every_view_is_audited(client, clinician, patient):
    client.get(url("medical_history", patient))
    row = AuditEvent.objects.get(action="patient.medical_history_viewed")
    assert row.actor == clinician and row.object_id == str(patient.public_id)
    assert row.details == {}


def test_adding_a_diagnosis_through_the_form(client, patient):
    response = client.post(
        url("diagnosis_add", patient),
        {"dx-code": "g47.33", "dx-description": "OSA", "dx-onset_date": "2025-11-02"},
    )
    assert response.status_code == 302
    assert Diagnosis.objects.get(patient=patient).code == "G47.33"


def test_malformed_code_is_refused_with_a_message(client, patient):
    response = client.post(
        url("diagnosis_add", patient), {"dx-code": "U07.1", "dx-description": "x"}
    )
    assert response.status_code == 400
    assert "ICD-10 code such as G47.33" in response.content.decode()
    assert not Diagnosis.objects.exists()


def test_marking_a_diagnosis_entered_in_error_through_the_page(client, patient):
    dx = DiagnosisFactory(patient=patient)
    response = client.post(url("diagnosis_error", patient, diagnosis_id=dx.public_id))
    assert response.status_code == 302
    dx.refresh_from_db()
    assert dx.entered_in_error
    assert "Entered in error" in client.get(url("medical_history", patient)).content.decode()


def test_adding_a_study_and_refusing_a_negative_ahi(client, patient):
    good = {"study-study_date": "2026-02-01", "study-study_type": "psg", "study-ahi": "12.5"}
    assert client.post(url("study_add", patient), good).status_code == 302
    bad = client.post(url("study_add", patient), {**good, "study-ahi": "-3"})
    assert bad.status_code == 400
    assert "greater than or equal to 0" in bad.content.decode()
    assert DiagnosticStudy.objects.count() == 1


def test_saving_allergies_and_medications(client, patient):
    response = client.post(
        url("medical_history_notes", patient),
        {"mh-allergies": "Penicillin", "mh-medications": "Metformin 500 mg"},
    )
    assert response.status_code == 302
    record = MedicalHistory.objects.get(patient=patient)
    assert (record.allergies, record.medications) == ("Penicillin", "Metformin 500 mg")


@pytest.mark.parametrize(
    "role, at_home, allowed",
    [
        (Role.ADMIN, False, True),
        (Role.EMPLOYEE, True, True),
        (Role.CLINICIAN, True, True),
        (Role.CLINICIAN, False, False),
        (Role.FIELD_TECHNICIAN, True, False),
        (Role.SUPPORT, True, False),
    ],
)
def test_role_matrix(role, at_home, allowed, location, patient, make_staff, signed_in):
    where = location if at_home else LocationFactory(organization=location.organization)
    user = make_staff(role, where)
    if role == Role.FIELD_TECHNICIAN:
        patient_assignment_add(actor=None, patient=patient, technician=user)
    DiagnosisFactory(patient=patient, description="Narcolepsy type 1")
    client = signed_in(user)
    before = set(AuditEvent.objects.values_list("id", flat=True))

    page = client.get(url("medical_history", patient))
    add = client.post(url("diagnosis_add", patient), {"dx-code": "E66", "dx-description": "x"})
    notes = client.post(
        url("medical_history_notes", patient), {"mh-allergies": "A", "mh-medications": ""}
    )
    if allowed:
        assert page.status_code == 200 and "Narcolepsy" in page.content.decode()
        assert add.status_code == notes.status_code == 302
        return
    assert page.status_code == add.status_code == notes.status_code == 404
    assert "Narcolepsy" not in page.content.decode()
    assert Diagnosis.objects.count() == 1 and not MedicalHistory.objects.exists()
    new = AuditEvent.objects.exclude(id__in=before)
    if role == Role.FIELD_TECHNICIAN:
        assert list(new.values_list("action", flat=True)) == ["patient.access_refused"] * 3
        assert all(r.details["section"] == "medical_history" for r in new)
    else:
        assert not new.exists()


def test_query_count_does_not_grow_with_the_history(client, patient, clinician):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url("medical_history", patient)).status_code == 200
        return len(ctx.captured_queries)

    DiagnosisFactory(patient=patient, recorded_by=clinician)
    DiagnosticStudyFactory(patient=patient, recorded_by=clinician)
    MedicalHistory.objects.create(organization=patient.organization, patient=patient)
    few = count()
    for _ in range(6):
        DiagnosisFactory(
            patient=patient,
            recorded_by=clinician,
            entered_in_error=True,
            entered_in_error_by=clinician,
        )
        DiagnosticStudyFactory(patient=patient, recorded_by=clinician)
    assert count() == few
