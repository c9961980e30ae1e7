"""The S3 path, through the real boto3 and django-storages code, against moto on 127.0.0.1."""

from __future__ import annotations

import re
import urllib.request
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clinic.files import registry
from clinic.files import services as files
from clinic.files.registry import file_access_register
from clinic.files.services import Kind, download_link, file_store, file_validate
from clinic.models import AuditEvent, Location

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


@pytest.fixture
def same_org_locations():
    file_access_register(
        "clinic.location",
        check=lambda user, public_id: Location.objects.filter(
            public_id=public_id, organization_id=user.organization_id
        ).first(),
        action="document.downloaded",
    )
    yield
    registry.file_access_unregister("clinic.location")


def store_pdf():
    upload = SimpleUploadedFile("Jane Doe referral.pdf", PDF, content_type="text/html")
    kind = file_validate(upload)
    return file_store(upload=upload, kind=kind, prefix="documents")


def fetch_loopback(url: str):
    # Only ever the local moto server: refuse anything that is not 127.0.0.1.
    assert urlsplit(url).hostname == "127.0.0.1", url
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(url, timeout=10)


def test_files_stored_on_s3_are_encrypted_private_and_randomly_named(s3_storage):
    stored = store_pdf()

    assert re.fullmatch(r"documents/\d{4}/\d{2}/[0-9a-f]{32}", stored.name)
    head = s3_storage.test_client.head_object(Bucket=s3_storage.test_bucket, Key=stored.name)
    assert head["ServerSideEncryption"] == "AES256"
    # The sniffed type, not the browser's claim ("text/html").
    assert head["ContentType"] == "application/pdf"
    assert head["ContentLength"] == len(PDF)
    keys = [
        o["Key"]
        for o in s3_storage.test_client.list_objects_v2(Bucket=s3_storage.test_bucket)["Contents"]
    ]
    assert keys == [stored.name]
    assert not any("Jane" in key or key.endswith(".pdf") for key in keys)
    acl = s3_storage.test_client.get_object_acl(Bucket=s3_storage.test_bucket, Key=stored.name)
    assert not any(
        "AllUsers" in str(grant.get("Grantee", {}).get("URI", "")) for grant in acl["Grants"]
    )


def test_presigned_urls_are_signed_and_live_as_long_as_the_link(s3_storage):
    stored = store_pdf()
    endpoint = s3_storage.endpoint_url
    unsigned = f"{endpoint}/{s3_storage.test_bucket}/{stored.name}"
    # moto does not enforce signatures, so this checks what the view hands out is presigned
    # and short-lived; refusing unsigned requests is the private bucket's job in production.
    signed = files.presigned_download_url(
        grant=files.DownloadGrant(
            storage_name=stored.name,
            filename="document-x.pdf",
            content_type=stored.content_type,
            user_id=0,
            object_type="clinic.location",
            public_id="x",
            ttl=300,
        ),
        storage=s3_storage,
    )
    assert signed.startswith(unsigned + "?")
    query = urlsplit(signed).query
    assert "X-Amz-Signature=" in query
    assert "X-Amz-Expires=300" in query
    assert "response-content-disposition=attachment" in query


def test_the_download_view_redirects_to_a_presigned_attachment_url_and_audits(
    s3_storage, same_org_locations, make_staff, location, signed_in
):
    staff = make_staff(location=location)
    stored = store_pdf()
    url = download_link(
        actor=staff,
        obj=location,
        storage_name=stored.name,
        filename=f"document-{location.public_id}.pdf",
        kind=Kind.PDF,
    )

    response = signed_in(staff).get(url)

    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"
    presigned = response["Location"]
    assert presigned.startswith(s3_storage.endpoint_url + "/")
    with fetch_loopback(presigned) as fetched:
        assert fetched.read() == PDF
        assert fetched.headers["Content-Disposition"] == (
            f'attachment; filename="document-{location.public_id}.pdf"'
        )
        assert fetched.headers["Content-Type"] == "application/pdf"

    row = AuditEvent.objects.get(action="document.downloaded")
    assert row.actor == staff
    assert row.object_id == str(location.public_id)
    assert row.details == {"kind": "pdf", "via": "presigned"}


def test_on_s3_someone_elses_link_gets_no_presigned_url(
    s3_storage, same_org_locations, make_staff, location, signed_in
):
    staff = make_staff(location=location)
    colleague = make_staff(location=location)
    stored = store_pdf()
    url = download_link(
        actor=staff,
        obj=location,
        storage_name=stored.name,
        filename=f"document-{location.public_id}.pdf",
        kind=Kind.PDF,
    )

    response = signed_in(colleague).get(url)

    assert response.status_code == 404
    assert "Location" not in response
    assert not AuditEvent.objects.filter(action="document.downloaded").exists()
