"""Insurance card photos: front and back of a policy's card kept as the patient's documents,
linked to the policy, shown on the insurance tab with signed download links."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, Role
from patients.clinical.tests.factories import InsurancePolicyFactory
from patients.documents.tests.factories import PNG_BYTES, pdf_upload, png_upload, zip_upload
from patients.models import Document, DocumentCategory, DocumentVersion
from patients.record.services import patient_assignment_add
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def client(employee, signed_in):
    return signed_in(employee)


@pytest.fixture
def policy(location):
    return InsurancePolicyFactory(patient=PatientFactory(home_location=location))


def tab(policy) -> str:
    return reverse("patients:insurance", kwargs={"public_id": policy.patient.public_id})


def cards_url(policy) -> str:
    return reverse(
        "patients:insurance_cards",
        kwargs={"public_id": policy.patient.public_id, "policy_id": policy.public_id},
    )


def download(version) -> str:
    return reverse("patients:document_download", kwargs={"public_id": version.public_id})


def test_front_and_back_become_documents_of_the_patient_linked_to_the_policy(
    client, policy, employee
):
    response = client.post(cards_url(policy), {"front": png_upload(), "back": pdf_upload("Rx")})
    assert response.status_code == 302 and response["Location"] == tab(policy)
    cards = {d.category: d for d in Document.objects.filter(insurance_policy=policy)}
    assert set(cards) == {
        DocumentCategory.INSURANCE_CARD_FRONT,
        DocumentCategory.INSURANCE_CARD_BACK,
    }
    assert all(d.patient_id == policy.patient_id for d in cards.values())
    assert cards[DocumentCategory.INSURANCE_CARD_FRONT].current_version.kind == "png"
    uploads = AuditEvent.objects.filter(action="document.uploaded", actor=employee)
    assert uploads.count() == 2
    for row in uploads:
        assert row.details["policy"] == str(policy.public_id)
        assert set(row.details) == {"patient", "version", "kind", "category", "policy"}


def test_insurance_tab_shows_each_side_with_a_signed_download_link(client, policy):
    client.post(cards_url(policy), {"front": png_upload()})
    front = Document.objects.get(insurance_policy=policy).current_version
    body = client.get(tab(policy)).content.decode()
    assert download(front) in body
    assert "No photo on file" in body  # the back
    # The link signs a short-lived /files/ URL, and that serves the photo as an attachment.
    signed = client.get(download(front))
    assert signed.status_code == 302 and signed["Location"].startswith("/files/")
    served = client.get(signed["Location"])
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == PNG_BYTES
    assert served["Content-Disposition"].startswith("attachment")
    assert served["X-Content-Type-Options"] == "nosniff"
    assert AuditEvent.objects.filter(action="documentversion.downloaded").count() == 1


def test_a_new_photo_of_a_side_is_a_new_version_and_the_old_one_is_kept(client, policy):
    client.post(cards_url(policy), {"front": png_upload()})
    client.post(cards_url(policy), {"front": pdf_upload("Better scan")})
    document = Document.objects.get(insurance_policy=policy)
    assert list(document.versions.order_by("number").values_list("kind", flat=True)) == [
        "png",
        "pdf",
    ]
    assert document.current_version.number == 2
    assert "version 2" in client.get(tab(policy)).content.decode()


def test_a_refused_file_writes_nothing_and_says_why(client, policy):
    before = AuditEvent.objects.count()
    response = client.post(cards_url(policy), {"front": png_upload(), "back": zip_upload()})
    assert response.status_code == 400
    assert "ZIP" in response.content.decode()
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()
    # Only the re-rendered page's view is audited.
    assert list(AuditEvent.objects.values_list("action", flat=True)[before:]) in (
        [],
        ["patient.insurance_viewed"],
    )
    assert not AuditEvent.objects.filter(action="document.uploaded").exists()


def test_posting_without_a_file_asks_for_one(client, policy):
    response = client.post(cards_url(policy), {})
    assert response.status_code == 400
    assert "Choose a photo of the front or the back" in response.content.decode()
    assert not Document.objects.exists()


def test_inactive_policy_takes_no_new_card(client, policy):
    policy.is_active = False
    policy.save()
    response = client.post(cards_url(policy), {"front": png_upload()})
    assert response.status_code == 400
    assert "inactive" in response.content.decode()
    assert not Document.objects.exists()


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FIELD_TECHNICIAN])
def test_who_may_not_change_insurance_cannot_add_a_card(
    role, location, policy, make_staff, signed_in
):
    user = make_staff(role, location)
    if role == Role.FIELD_TECHNICIAN:
        patient_assignment_add(actor=None, patient=policy.patient, technician=user)
    response = signed_in(user).post(cards_url(policy), {"front": png_upload()})
    assert response.status_code == 404
    assert not Document.objects.exists()
    refusal = AuditEvent.objects.get(action="patient.access_refused", actor=user)
    assert refusal.details == {"section": "insurance", "edit": True}
    assert not AuditEvent.objects.filter(action="document.uploaded").exists()


def test_another_patients_policy_id_is_404(client, location, policy):
    other = PatientFactory(home_location=location)
    wrong = reverse(
        "patients:insurance_cards",
        kwargs={"public_id": other.public_id, "policy_id": policy.public_id},
    )
    assert client.post(wrong, {"front": png_upload()}).status_code == 404
    assert not Document.objects.exists()


def test_database_refuses_a_policy_link_on_a_document_that_is_not_a_card(policy):
    with pytest.raises(IntegrityError), transaction.atomic():
        Document.objects.create(
            organization_id=policy.organization_id,
            patient=policy.patient,
            category=DocumentCategory.GENERAL,
            insurance_policy=policy,
        )


def test_insurance_tab_runs_the_same_queries_with_one_or_three_carded_policies(client, location):
    patient = PatientFactory(home_location=location)
    first = InsurancePolicyFactory(patient=patient, rank="PRIMARY")
    client.post(cards_url(first), {"front": png_upload(), "back": png_upload()})

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(tab(first)).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for rank in ("SECONDARY", "TERTIARY"):
        more = InsurancePolicyFactory(patient=patient, rank=rank, payer=first.payer)
        client.post(cards_url(more), {"front": png_upload(), "back": png_upload()})
        client.post(cards_url(more), {"front": png_upload()})  # a second version
    assert count() == few


def test_the_policy_form_page_offers_the_card_upload_with_the_camera(client, policy):
    edit = reverse(
        "patients:insurance_edit",
        kwargs={"public_id": policy.patient.public_id, "policy_id": policy.public_id},
    )
    body = client.get(edit).content.decode()
    assert f'action="{cards_url(policy)}"' in body
    assert 'enctype="multipart/form-data"' in body
    assert 'name="front"' in body and 'name="back"' in body
    assert "image/*" in body  # phones offer the camera for an image input
