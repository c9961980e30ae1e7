"""Factories for guided sessions. Sessions are started through the real service so they carry
the organization's form, consents and a pairing code, as in production."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from clinic.models import Role
from clinic.tests.factories import LocationFactory, staff_user
from patients.guided.models import DeviceToken, GuidedSession
from patients.guided.services import device_pair, guided_session_start, pairing_code_issue

TINY_JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\x00" * 64
    + b"\xff\xd9"
)


def png_file(name: str = "signature.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, signature_png(), content_type="image/png")


def signature_png() -> bytes:
    """A real, drawable PNG (reportlab reads it into the signed PDF)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (300, 100), (255, 255, 255, 0))
    ImageDraw.Draw(image).line([(10, 80), (100, 20), (200, 70), (290, 30)], fill="black", width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def jpeg_file(name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, TINY_JPEG, content_type="image/jpeg")


def guided_staff(location: Any = None, role: str = Role.EMPLOYEE) -> Any:
    return staff_user(role=role, location=location or LocationFactory())


def started_session(
    *, staff: Any = None, location: Any = None, patient: Any = None
) -> GuidedSession:
    if staff is None:
        staff = guided_staff(location or (patient.home_location if patient else None))
    if location is None:
        location = patient.home_location if patient else staff.memberships.first().location
    return guided_session_start(actor=staff, location=location, patient=patient)


def paired_session(**kwargs: Any) -> tuple[GuidedSession, str, Any]:
    """(session, raw device token, staff user) of a session with a paired tablet."""
    staff = kwargs.pop("staff", None)
    session = started_session(staff=staff, **kwargs)
    staff = staff or session.started_by
    code, _ = pairing_code_issue(actor=staff, session=session)
    session, raw = device_pair(
        code=code, device_key="test-device", ip="127.0.0.1", user_agent="pytest"
    )
    return session, raw, staff


def guided_rows_for_tenant_walk(location: Any) -> GuidedSession:
    """One row of every guided model at ``location`` (tests/test_tenant_isolation.py)."""
    from patients.guided.models import GuidedUpload, SessionMessage, Signature

    staff = staff_user(role=Role.EMPLOYEE, location=location, full_name="Gwen Guided")
    session, _raw, _ = paired_session(staff=staff, location=location)
    device = DeviceToken.objects.filter(session=session).first()
    SessionMessage.objects.create(
        session=session, client_id="walk-0001", type="FIELD_CHANGED", role="patient", version=1
    )
    upload = GuidedUpload.objects.create(
        session=session,
        slot="id_front",
        storage_name="guided/uploads/none",
        size=1,
        sha256="0" * 64,
        kind="jpeg",
    )
    consent = session.consent_texts.first()
    Signature.objects.create(
        session=session,
        consent=consent,
        image_name="guided/uploads/none",
        image_sha256="0" * 64,
        text_sha256="0" * 64,
        device=device,
    )
    pairing_code_issue(actor=staff, session=session)
    assert upload.pk
    return session


def payer_for(session: GuidedSession) -> Any:
    from patients.clinical.tests.factories import PayerFactory

    return PayerFactory(organization_id=session.organization_id, name="Blue Shield Test")
