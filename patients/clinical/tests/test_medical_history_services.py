"""Medical history: ICD-10 validation, entered-in-error instead of deletion, study values,
allergies/medications with their history, and audit rows without PHI."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from clinic.errors import ApplicationError
from clinic.models import AuditEvent, Role
from patients.clinical import services
from patients.clinical.tests.factories import DiagnosisFactory, DiagnosticStudyFactory
from patients.models import Diagnosis, DiagnosticStudy, MedicalHistory
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinician(location, make_staff):
    return make_staff(Role.CLINICIAN, location)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


@pytest.mark.parametrize("code", ["G47.33", "g47.33", "E66", "Z99.89", "S72.001A", "C4A.0"])
def test_valid_icd10_codes_are_accepted_in_upper_case(clinician, patient, code):
    dx = services.diagnosis_add(actor=clinician, patient=patient, code=code, description="x")
    assert dx.code == code.upper()


@pytest.mark.parametrize("code", ["", "U07.1", "G4", "G47.", "G47.33333", "47.33", "G47-33"])
def test_malformed_icd10_codes_are_refused(clinician, patient, code):
    with pytest.raises(ApplicationError, match="ICD-10 code such as") as exc:
        services.diagnosis_add(actor=clinician, patient=patient, code=code, description="x")
    assert exc.value.extra["field"] == "code"
    assert not Diagnosis.objects.exists()
    assert not AuditEvent.objects.filter(action="diagnosis.added").exists()


def test_database_refuses_a_malformed_code(patient):
    with pytest.raises(IntegrityError), transaction.atomic():
        DiagnosisFactory(patient=patient, code="U07.1")


def test_diagnosis_needs_a_description_and_no_future_onset(clinician, patient):
    with pytest.raises(ApplicationError, match="Describe"):
        services.diagnosis_add(actor=clinician, patient=patient, code="G47.33", description=" ")
    with pytest.raises(ApplicationError, match="future"):
        services.diagnosis_add(
            actor=clinician,
            patient=patient,
            code="G47.33",
            description="OSA",
            onset_date=datetime.date.today() + datetime.timedelta(days=1),
        )
    assert not Diagnosis.objects.exists()


def test_entered_in_error_keeps_the_row_and_says_who(clinician, patient):
    dx = services.diagnosis_add(actor=clinician, patient=patient, code="G47.33", description="OSA")
    services.diagnosis_mark_entered_in_error(actor=clinician, diagnosis=dx)
    dx.refresh_from_db()
    assert dx.entered_in_error and dx.entered_in_error_by == clinician
    assert dx.entered_in_error_at is not None
    assert Diagnosis.objects.filter(pk=dx.pk).exists()
    # Marking twice changes nothing and writes no second audit row.
    services.diagnosis_mark_entered_in_error(actor=clinician, diagnosis=dx)
    assert AuditEvent.objects.filter(action="diagnosis.entered_in_error").count() == 1


def test_clinical_rows_cannot_be_hard_deleted_while_the_patient_exists(patient):
    DiagnosisFactory(patient=patient)
    with pytest.raises(ProtectedError), transaction.atomic():
        patient.delete()


def test_study_records_its_values(clinician, patient):
    study = services.study_add(
        actor=clinician,
        patient=patient,
        study_date=datetime.date(2026, 3, 2),
        study_type="psg",
        ahi=Decimal("31.4"),
        odi=Decimal("28"),
        lowest_spo2=81,
    )
    study.refresh_from_db()
    assert (study.ahi, study.lowest_spo2, study.recorded_by) == (Decimal("31.4"), 81, clinician)


@pytest.mark.parametrize(
    "values, field",
    [
        ({"ahi": Decimal("-1")}, "ahi"),
        ({"rdi": Decimal("-0.1")}, "rdi"),
        ({"lowest_spo2": 101}, "lowest_spo2"),
        ({"study_type": "xray"}, "study_type"),
        ({"study_date": datetime.date.today() + datetime.timedelta(days=2)}, "study_date"),
    ],
)
def test_impossible_study_values_are_refused(clinician, patient, values, field):
    kwargs = {"study_date": datetime.date(2026, 3, 2), "study_type": "hst", **values}
    with pytest.raises(ApplicationError) as exc:
        services.study_add(actor=clinician, patient=patient, **kwargs)
    assert exc.value.extra["field"] == field
    assert not DiagnosticStudy.objects.exists()


def test_database_refuses_a_negative_ahi(patient):
    with pytest.raises(IntegrityError), transaction.atomic():
        DiagnosticStudyFactory(patient=patient, ahi=Decimal("-2"))


def test_allergies_and_medications_keep_their_earlier_versions(clinician, patient):
    services.medical_history_update(
        actor=clinician, patient=patient, allergies="Penicillin", medications=""
    )
    services.medical_history_update(
        actor=clinician, patient=patient, allergies="Penicillin, latex", medications="Lisinopril"
    )
    record = MedicalHistory.objects.get(patient=patient)
    assert record.allergies == "Penicillin, latex" and record.updated_by == clinician
    versions = [e.allergies for e in record.events.order_by("pgh_id")]
    assert versions == ["Penicillin", "Penicillin, latex"]


def test_unchanged_allergies_write_nothing(clinician, patient):
    services.medical_history_update(actor=clinician, patient=patient, allergies="A", medications="")
    before = AuditEvent.objects.count()
    services.medical_history_update(
        actor=clinician, patient=patient, allergies="A ", medications=""
    )
    assert AuditEvent.objects.count() == before


def test_audit_rows_carry_no_clinical_content(clinician, patient):
    dx = services.diagnosis_add(
        actor=clinician, patient=patient, code="F32.9", description="Depression"
    )
    services.diagnosis_mark_entered_in_error(actor=clinician, diagnosis=dx)
    services.study_add(
        actor=clinician,
        patient=patient,
        study_date=datetime.date(2026, 3, 2),
        study_type="hst",
        ahi=Decimal("44.4"),
        notes="Severe positional apnea",
    )
    services.medical_history_update(
        actor=clinician, patient=patient, allergies="Sulfa drugs", medications="Sertraline"
    )
    rows = list(AuditEvent.objects.filter(actor=clinician).order_by("id"))
    assert [r.action for r in rows] == [
        "diagnosis.added",
        "diagnosis.entered_in_error",
        "diagnostic_study.added",
        "medical_history.updated",
    ]
    dumped = json.dumps([r.details for r in rows])
    for secret in ("F32", "Depression", "44.4", "positional", "Sulfa", "Sertraline"):
        assert secret not in dumped
    assert rows[-1].details["fields"] == ["allergies", "medications"]
