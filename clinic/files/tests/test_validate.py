"""Uploads are judged by their bytes, refused with a clear message, stored under random names."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile

from clinic.errors import ApplicationError
from clinic.files.services import Kind, file_kind_detect, file_store, file_validate

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 16
HEIF_GENERIC = b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic" + b"\x00" * 16
TIFF_LE = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32
TIFF_BE = b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 32
ALLOWED = "upload a PDF, JPEG, PNG, HEIC or TIFF."


def upload(content: bytes, name: str = "scan.pdf", content_type: str = "application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (PDF, Kind.PDF),
        (JPEG, Kind.JPEG),
        (PNG, Kind.PNG),
        (HEIC, Kind.HEIC),
        (HEIF_GENERIC, Kind.HEIC),
        (TIFF_LE, Kind.TIFF),
        (TIFF_BE, Kind.TIFF),
    ],
)
def test_each_allowed_kind_is_recognised_by_its_bytes_whatever_its_name(content, kind):
    # Named and typed as something else entirely: only the bytes count.
    file = upload(content, name="notes.txt", content_type="text/plain")
    assert file_kind_detect(file) is kind
    assert file_validate(file) is kind


def test_detection_leaves_the_file_position_where_it_was():
    file = upload(PDF)
    file.seek(3)
    file_kind_detect(file)
    assert file.tell() == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 40, f"This file is a ZIP archive; {ALLOWED}"),
        (
            b"<!DOCTYPE html><html><script>alert(1)</script></html>",
            f"This file is a web page (HTML); {ALLOWED}",
        ),
        (
            b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 40,
            f"This file is a Windows program; {ALLOWED}",
        ),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 8, None),
        (
            b"just some text that claims to be a pdf",
            f"This type of file is not accepted; {ALLOWED}",
        ),
    ],
    ids=["zip", "html-named-pdf", "exe", "avif", "text"],
)
def test_files_outside_the_allow_list_are_refused_with_a_clear_message(content, message):
    # Every one of them arrives named .pdf with the browser claiming application/pdf.
    with pytest.raises(ApplicationError) as refused:
        file_validate(upload(content))
    assert refused.value.code == "file_type_refused"
    assert refused.value.message.endswith(ALLOWED)
    if message:
        assert refused.value.message == message


def test_an_empty_file_is_refused():
    with pytest.raises(ApplicationError) as refused:
        file_validate(upload(b""))
    assert refused.value.code == "file_empty"
    assert refused.value.message == f"This file is empty; {ALLOWED}"


def test_a_file_over_the_default_limit_is_refused_saying_its_size_and_the_limit():
    with pytest.raises(ApplicationError) as refused:
        file_validate(upload(PDF + b"\x00" * (32 * 1024 * 1024 - len(PDF))))
    assert refused.value.code == "file_too_large"
    assert refused.value.message == "This file is 32 MB; the limit is 25 MB."


def test_the_size_limit_comes_from_settings(settings):
    settings.FILE_UPLOAD_MAX_BYTES = 1024 * 1024
    with pytest.raises(ApplicationError) as refused:
        file_validate(upload(PDF + b"\x00" * (1024 * 1024)))
    assert refused.value.message == "This file is 1.1 MB; the limit is 1 MB."
    assert file_validate(upload(PDF)) is Kind.PDF


def test_a_file_exactly_at_the_limit_is_accepted():
    content = PDF + b"\x00" * 100
    assert file_validate(upload(content), max_bytes=len(content)) is Kind.PDF


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_stored_files_get_random_names_without_the_original_filename(media):
    original = upload(PDF, name="Jane Doe - sleep study.pdf")
    first = file_store(upload=original, kind=Kind.PDF, prefix="documents")
    second = file_store(upload=upload(PDF), kind=Kind.PDF, prefix="documents")

    assert re.fullmatch(r"documents/\d{4}/\d{2}/[0-9a-f]{32}", first.name)
    assert first.name != second.name
    assert "Jane" not in first.name and ".pdf" not in first.name
    assert first.size == len(PDF)
    assert first.sha256 == hashlib.sha256(PDF).hexdigest()
    assert first.kind is Kind.PDF and first.content_type == "application/pdf"
    with storages["default"].open(first.name, "rb") as stored:
        assert stored.read() == PDF
    assert (media / first.name).stat().st_mode & 0o077 == 0


def test_a_prefix_cannot_climb_out_of_the_storage(media):
    with pytest.raises(ValueError):
        file_store(upload=upload(PDF), kind=Kind.PDF, prefix="../etc")
    assert not any(media.iterdir())


@pytest.mark.django_db
def test_stored_files_are_not_reachable_by_any_url(media, client, make_staff, signed_in):
    stored = file_store(upload=upload(PDF), kind=Kind.PDF, prefix="documents")
    viewer = signed_in(make_staff())
    for path in (f"/{stored.name}", f"/media/{stored.name}", f"/static/{stored.name}"):
        assert viewer.get(path).status_code == 404
