"""Documents on S3 (production's storage): the real boto3/django-storages code against moto
in server mode on 127.0.0.1. Upload, text extraction read back from the bucket, search, and a
download that ends in a presigned attachment URL."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.files.tests.test_s3 import fetch_loopback
from clinic.models import AuditEvent, Role
from clinic.tests.conftest import moto_s3_endpoint, s3_storage  # noqa: F401 - fixtures
from patients.documents.selectors import documents_search
from patients.documents.services import document_upload, document_version_text_extract
from patients.documents.tests.factories import pdf_bytes, pdf_upload
from patients.models import ExtractionStatus
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_a_pdf_on_s3_is_encrypted_searchable_and_downloads_as_a_presigned_attachment(
    s3_storage,  # noqa: F811
    make_staff,
    location,
    signed_in,
):
    employee = make_staff(Role.EMPLOYEE, location)
    patient = PatientFactory(home_location=location)
    (doc,) = document_upload(
        actor=employee,
        patient=patient,
        files=[pdf_upload("Capybara titration")],
        category="general",
    )
    version = doc.current_version
    head = s3_storage.test_client.head_object(
        Bucket=s3_storage.test_bucket, Key=version.storage_name
    )
    assert head["ServerSideEncryption"] == "AES256"

    assert document_version_text_extract(version_id=version.pk) == ExtractionStatus.DONE
    assert [v.pk for v in documents_search(employee, "capybara")] == [version.pk]

    client = signed_in(employee)
    link = client.get(
        reverse("patients:document_download", kwargs={"public_id": version.public_id})
    )["Location"]
    response = client.get(link)
    assert response.status_code == 302
    with fetch_loopback(response["Location"]) as fetched:
        assert fetched.read() == pdf_bytes("Capybara titration")
        assert fetched.headers["Content-Disposition"] == (
            f'attachment; filename="document-{version.public_id}.pdf"'
        )
    row = AuditEvent.objects.get(action="documentversion.downloaded")
    assert row.details == {"kind": "pdf", "via": "presigned"} and row.actor == employee
