"""Completion: one transaction writes the record (patient, insurance, documents, signed
consents, audit rows), or nothing is written and both devices go to the step to fix."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import storages
from pypdf import PdfReader

from clinic.models import AuditEvent
from patients.guided.models import GuidedSession, SessionStatus, Signature
from patients.models import Document, InsurancePolicy, Patient
from patients.tests.factories import PatientFactory

from .factories import paired_session, payer_for
from .helpers import IDENTITY, fill, ok, patient_do, sign_all, staff_do, walk_to_signatures

pytestmark = pytest.mark.django_db


def test_completing_a_new_patient_writes_everything_at_once():
    session, _raw, staff = paired_session()
    payer = payer_for(session)
    walk_to_signatures(session, staff, payer=payer)
    sign_all(session, staff)
    reply = ok(staff_do(session, staff, "COMPLETE"))
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    patient = Patient.objects.get(last_name=IDENTITY["last_name"])
    assert session.completed_patient == patient and session.patient == patient
    assert patient.date_of_birth.isoformat() == "1958-03-14"
    assert patient.phone_mobile == "+12015550123"  # normalized by the patient service
    assert patient.home_location == session.location
    policy = InsurancePolicy.objects.get(patient=patient)
    assert policy.payer == payer and policy.member_id == "XZ99887766" and policy.rank == "PRIMARY"
    categories = sorted(Document.objects.filter(patient=patient).values_list("category", flat=True))
    assert categories == [
        "consent_form",
        "consent_form",
        "identity_document",
        "insurance_card_front",
    ]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "patient.registered",
        "insurance_policy.added",
        "document.uploaded",
        "guided_session.completed",
    } <= actions
    assert reply["version"] == session.version
    assert session.tokens.filter(revoked_at__isnull=True).count() == 0


def test_signed_consent_pdf_carries_text_version_signer_time_device_ip_and_hashes():
    session, _raw, staff = paired_session()
    walk_to_signatures(session, staff)
    sign_all(session, staff)
    signature = Signature.objects.get(session=session, consent__key="privacy")
    data = storages["default"].open(signature.pdf_name, "rb").read()
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    flat = " ".join(text.split())
    assert "Notice of privacy practices" in flat
    assert "Consent text version 1" in flat
    assert "Signed by: Ana Guidedsson" in flat
    assert "10.1.2.3" in flat and "TabletBrowser/1" in flat
    assert str(signature.device.public_id) in flat
    assert signature.text_sha256 in flat and signature.image_sha256 in flat
    ok(staff_do(session, staff, "COMPLETE"))
    session.refresh_from_db()
    consent_docs = Document.objects.filter(
        patient=session.completed_patient, category="consent_form"
    )
    assert consent_docs.count() == 2
    assert {d.current_version.sha256 for d in consent_docs} == set(
        Signature.objects.filter(session=session).values_list("pdf_sha256", flat=True)
    )


def test_completion_with_missing_answers_writes_nothing_and_sends_both_to_the_step():
    session, _raw, staff = paired_session()
    fill(session, {"first_name": "Ana"})  # no last name, no date of birth
    ok(staff_do(session, staff, "NAVIGATE", step="review"))
    patients_before = Patient.objects.count()
    reply = staff_do(session, staff, "COMPLETE")
    assert reply["type"] == "ERROR" and reply["code"] == "validation"
    assert reply["step"] == "identity"
    assert set(reply["fields"]) >= {"last_name", "date_of_birth"}
    session.refresh_from_db()
    assert session.status == SessionStatus.ACTIVE
    assert session.step == "identity"  # both devices were navigated there
    assert Patient.objects.count() == patients_before
    assert not AuditEvent.objects.filter(action="guided_session.completed").exists()


def test_a_service_refusal_at_completion_rolls_everything_back():
    """A refusal after the patient was already updated: nothing at all is kept."""
    from patients.clinical.tests.factories import InsurancePolicyFactory

    patient = PatientFactory(email="keep@example.com")
    for rank in ("PRIMARY", "SECONDARY", "TERTIARY"):
        InsurancePolicyFactory(patient=patient, rank=rank)
    session, _raw, staff = paired_session(patient=patient)
    walk_to_signatures(session, staff, payer=payer_for(session))
    sign_all(session, staff)
    documents_before = Document.objects.count()
    reply = staff_do(session, staff, "COMPLETE")
    assert reply["type"] == "ERROR" and reply["code"] == "validation"
    assert reply["step"] == "insurance" and "three active policies" in reply["fields"]["payer"]
    patient.refresh_from_db()
    assert patient.email == "keep@example.com"  # the demographics update was rolled back
    assert Document.objects.count() == documents_before
    assert InsurancePolicy.objects.filter(patient=patient).count() == 3
    assert not AuditEvent.objects.filter(action="patient.updated").exists()
    session.refresh_from_db()
    assert session.status == SessionStatus.ACTIVE and session.step == "insurance"


def test_completing_for_an_existing_patient_updates_without_erasing():
    patient = PatientFactory(email="old@example.com", city="Trenton")
    session, _raw, staff = paired_session(patient=patient)
    walk_to_signatures(session, staff)
    fill(session, {"city": ""})  # a blank answer must not erase the record's value
    sign_all(session, staff)
    ok(staff_do(session, staff, "COMPLETE"))
    patient.refresh_from_db()
    assert patient.first_name == IDENTITY["first_name"]
    assert patient.phone_mobile == "+12015550123"
    assert patient.email == "ana@example.com"
    assert patient.city == "Trenton"
    assert Patient.objects.filter(pk=patient.pk).count() == 1
    assert GuidedSession.objects.get(pk=session.pk).completed_patient == patient


def test_complete_from_the_console_page(signed_in):
    session, _raw, staff = paired_session()
    walk_to_signatures(session, staff)
    sign_all(session, staff)
    client = signed_in(staff)
    response = client.post(f"/guided/{session.public_id}/complete/")
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    page = client.get(f"/guided/{session.public_id}/")
    assert f"/patients/{session.completed_patient.public_id}/" in page.content.decode()


def test_complete_is_refused_while_a_signature_is_requested():
    session, _raw, staff = paired_session()
    walk_to_signatures(session, staff)
    ok(staff_do(session, staff, "REQUEST_SIGNATURE", document="privacy"))
    reply = staff_do(session, staff, "COMPLETE")
    assert reply["type"] == "ERROR" and reply["code"] == "wrong_state"
    assert GuidedSession.objects.get(pk=session.pk).status == SessionStatus.ACTIVE
    assert patient_do(session, "FIELD_FOCUS", field=None)["type"] == "ACK"
