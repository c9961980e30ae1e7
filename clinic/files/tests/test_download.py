"""Signed download links: only the user they were made for, only briefly, only while the owning
app still says yes, always as an attachment, always audited."""

from __future__ import annotations

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinic.files import registry
from clinic.files import services as files
from clinic.files.registry import file_access_register
from clinic.files.services import Kind, download_link, file_store
from clinic.models import AuditEvent, Location

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


class Gate:
    """A test-only access rule for locations: same organization, unless switched shut."""

    def __init__(self) -> None:
        self.open = True
        self.asked: list[str] = []

    def __call__(self, user, public_id: str):
        self.asked.append(public_id)
        if not self.open:
            return None
        return Location.objects.filter(
            public_id=public_id, organization_id=user.organization_id
        ).first()


@pytest.fixture
def gate():
    gate = Gate()
    file_access_register("clinic.location", check=gate, action="document.downloaded")
    yield gate
    registry.file_access_unregister("clinic.location")


@pytest.fixture
def stored(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return file_store(
        upload=SimpleUploadedFile("Jane Doe.pdf", PDF, content_type="application/pdf"),
        kind=Kind.PDF,
        prefix="documents",
    )


@pytest.fixture
def staff(make_staff, location):
    return make_staff(location=location)


def link_for(user, location, stored, **kwargs):
    return download_link(
        actor=user,
        obj=location,
        storage_name=stored.name,
        filename=f"document-{location.public_id}.pdf",
        kind=stored.kind,
        **kwargs,
    )


def downloads():
    return AuditEvent.objects.filter(action="document.downloaded")


def body(response) -> bytes:
    # Consuming the stream closes the file (the test client wraps it); response.close() here
    # would fire request_finished and close the test's database connection.
    return b"".join(response.streaming_content)


def test_the_user_a_link_was_made_for_downloads_the_file_as_an_attachment(
    gate, stored, staff, location, signed_in
):
    url = link_for(staff, location, stored)
    assert url.startswith("/files/")

    response = signed_in(staff).get(url)

    assert response.status_code == 200
    assert body(response) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="document-{location.public_id}.pdf"'
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"
    assert "sandbox" in response["Content-Security-Policy"]
    assert gate.asked == [str(location.public_id)]


def test_each_download_is_audited_by_public_id_without_filename_or_storage_name(
    gate, stored, staff, location, signed_in
):
    client = signed_in(staff)
    url = link_for(staff, location, stored)
    body(client.get(url))
    body(client.get(url))

    rows = list(downloads())
    assert len(rows) == 2
    row = rows[0]
    assert row.actor == staff
    assert row.object_type == "clinic.location"
    assert row.object_id == str(location.public_id)
    assert row.organization == location.organization
    assert row.location == location
    assert row.details == {"kind": "pdf", "via": "stream"}
    flat = repr(row.details)
    assert "document-" not in flat and stored.name not in flat and "Jane" not in flat


def test_the_link_names_no_original_filename(gate, stored, staff, location):
    url = link_for(staff, location, stored)
    token = url.removeprefix("/files/")
    payload = signing.TimestampSigner(salt=files.DOWNLOAD_SALT).unsign_object(token)
    assert "Jane" not in repr(payload)


def test_a_link_with_a_personal_filename_cannot_be_made(gate, stored, staff, location):
    with pytest.raises(ValueError):
        download_link(
            actor=staff,
            obj=location,
            storage_name=stored.name,
            filename="Jane Doe sleep study.pdf",
            kind=Kind.PDF,
        )


def test_a_tampered_link_is_not_found_and_not_audited(gate, stored, staff, location, signed_in):
    url = link_for(staff, location, stored)
    token = url.removeprefix("/files/")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    response = signed_in(staff).get(f"/files/{tampered}")

    assert response.status_code == 404
    assert not downloads().exists()


def test_a_link_rewritten_to_point_at_another_file_is_not_found(
    gate, stored, staff, location, signed_in
):
    token = link_for(staff, location, stored).removeprefix("/files/")
    payload = signing.TimestampSigner(salt=files.DOWNLOAD_SALT).unsign_object(token)
    payload["n"] = "documents/2020/01/" + "0" * 32
    forged = signing.TimestampSigner(salt="someone-elses-salt").sign_object(payload, compress=True)

    assert signed_in(staff).get(f"/files/{forged}").status_code == 404
    assert not downloads().exists()


class _SignedAnHourAgo(signing.TimestampSigner):
    def timestamp(self) -> str:
        import time

        return signing.b62_encode(int(time.time()) - 3600)


def _aged(url: str) -> str:
    """The same genuine link, as if it had been made an hour ago."""
    token = url.removeprefix("/files/")
    payload = signing.TimestampSigner(salt=files.DOWNLOAD_SALT).unsign_object(token)
    return "/files/" + _SignedAnHourAgo(salt=files.DOWNLOAD_SALT).sign_object(
        payload, compress=True
    )


def test_an_expired_link_says_so_with_410_and_is_not_audited(
    gate, stored, staff, location, signed_in
):
    response = signed_in(staff).get(_aged(link_for(staff, location, stored)))

    assert response.status_code == 410
    assert "This download link has expired" in response.content.decode()
    assert not downloads().exists()
    assert gate.asked == []


def test_a_link_is_valid_for_its_ttl(gate, stored, staff, location, signed_in):
    # An hour-old link made with a two-hour lifetime still works.
    url = _aged(link_for(staff, location, stored, ttl=7200))
    assert signed_in(staff).get(url).status_code == 200


def test_someone_elses_link_is_not_found_and_not_audited(
    gate, stored, staff, location, make_staff, signed_in
):
    colleague = make_staff(location=location)
    url = link_for(staff, location, stored)

    assert signed_in(colleague).get(url).status_code == 404
    assert signed_in(colleague).get(_aged(url)).status_code == 404
    assert not downloads().exists()
    assert gate.asked == []


def test_signed_out_visitors_are_sent_to_sign_in(gate, stored, staff, location, client):
    response = client.get(link_for(staff, location, stored))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("clinic:login") + "?next=/files/")
    assert not downloads().exists()


def test_a_link_for_an_unregistered_object_type_is_not_found(
    gate, stored, staff, location, signed_in
):
    url = link_for(staff, location, stored)
    registry.file_access_unregister("clinic.location")

    assert signed_in(staff).get(url).status_code == 404
    assert not downloads().exists()


def test_a_link_cannot_be_made_for_an_unregistered_object_type(stored, staff, location):
    with pytest.raises(ValueError):
        link_for(staff, location, stored)


def test_when_the_owning_app_refuses_the_download_is_not_found_and_not_audited(
    gate, stored, staff, location, signed_in
):
    url = link_for(staff, location, stored)
    gate.open = False

    response = signed_in(staff).get(url)

    assert response.status_code == 404
    assert gate.asked == [str(location.public_id)]
    assert not downloads().exists()


def test_a_check_that_answers_true_is_audited_by_type_and_public_id(
    stored, staff, location, signed_in
):
    file_access_register("clinic.location", check=lambda user, public_id: True)
    try:
        body(signed_in(staff).get(link_for(staff, location, stored)))
    finally:
        registry.file_access_unregister("clinic.location")

    row = AuditEvent.objects.get(action="location.downloaded")
    assert (row.object_type, row.object_id) == ("clinic.location", str(location.public_id))
    assert row.organization == staff.organization


def test_a_missing_file_is_not_found_and_not_audited(gate, stored, staff, location, signed_in):
    url = link_for(staff, location, stored)
    from django.core.files.storage import storages

    storages["default"].delete(stored.name)

    assert signed_in(staff).get(url).status_code == 404
    assert not downloads().exists()


def test_downloads_are_get_only(gate, stored, staff, location, signed_in):
    response = signed_in(staff).post(link_for(staff, location, stored))
    assert response.status_code == 405
    assert not downloads().exists()
