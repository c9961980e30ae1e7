"""Test files and rows for patient documents."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from clinic.tests.factories import staff_user


def pdf_bytes(text: str = "Hello") -> bytes:
    """A small, valid one-page PDF whose page shows ``text`` (Helvetica), built by hand so the
    tests need no PDF writer. ``text`` must be plain ASCII without parentheses."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def pdf_upload(text: str = "Hello", name: str = "scan.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, pdf_bytes(text), content_type="application/pdf")


def png_upload(name: str = "card.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG_BYTES, content_type="image/png")


def zip_upload(name: str = "archive.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"PK\x03\x04" + b"\x00" * 60, content_type="application/pdf")


def html_upload(name: str = "letter.pdf") -> SimpleUploadedFile:
    body = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    return SimpleUploadedFile(name, body, content_type="application/pdf")


def document_rows_for_tenant_walk(patient) -> None:
    """A document with one version for ``patient`` (tests/test_tenant_isolation.py)."""
    from clinic.models import Role
    from patients.documents.services import document_upload

    uploader = staff_user(
        role=Role.EMPLOYEE, location=patient.home_location, full_name="Uma Alphadocs"
    )
    document_upload(
        actor=uploader,
        patient=patient,
        files=[pdf_upload("Alphadocument")],
        category="general",
        description="Alpha document",
    )
