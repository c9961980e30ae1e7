"""Shared steps of the guided tests: apply commands, fill steps as a patient would."""

from __future__ import annotations

import itertools
from typing import Any

from patients.guided import services
from patients.guided.models import DeviceToken, GuidedSession
from patients.guided.services import signature_add, upload_add

from .factories import jpeg_file, png_file

_ids = itertools.count(1)


def new_id() -> str:
    return f"test-{next(_ids):08d}"


def staff_do(session: GuidedSession, staff: Any, kind: str, **fields: Any) -> dict[str, Any]:
    message = {"type": kind, "id": fields.pop("id", None) or new_id(), **fields}
    return services.message_apply(session_id=session.pk, role="staff", message=message, actor=staff)


def patient_do(session: GuidedSession, kind: str, **fields: Any) -> dict[str, Any]:
    device = DeviceToken.objects.filter(session=session, revoked_at__isnull=True).first()
    message = {"type": kind, "id": fields.pop("id", None) or new_id(), **fields}
    return services.message_apply(
        session_id=session.pk,
        role="patient",
        message=message,
        device_id=device.pk if device else None,
    )


def ok(reply: dict[str, Any]) -> dict[str, Any]:
    assert reply["type"] == "ACK", reply
    return reply


IDENTITY = {
    "first_name": "Ana",
    "last_name": "Guidedsson",
    "date_of_birth": "1958-03-14",
    "sex": "F",
}
DEMOGRAPHICS = {
    "phone_mobile": "(201) 555-0123",
    "email": "ana@example.com",
    "address_line1": "12 Elm St",
    "city": "Newark",
    "state": "NJ",
    "postal_code": "07102",
}


def fill(session: GuidedSession, values: dict[str, str]) -> None:
    for name, value in values.items():
        ok(patient_do(session, "FIELD_CHANGED", field=name, value=value))


def walk_to_signatures(
    session: GuidedSession, staff: Any, *, payer: Any = None, member_id: str = "XZ99887766"
) -> None:
    """Everything a patient does up to the signatures step, with the staff opening each step."""
    fill(session, IDENTITY)
    ok(staff_do(session, staff, "NAVIGATE", step="demographics"))
    fill(session, DEMOGRAPHICS)
    ok(staff_do(session, staff, "NAVIGATE", step="id_document"))
    device = DeviceToken.objects.get(session=session, revoked_at__isnull=True)
    front = upload_add(device=device, slot="id_front", file=jpeg_file())
    ok(patient_do(session, "DOCUMENT_UPLOADED", slot="id_front", upload=str(front.public_id)))
    ok(staff_do(session, staff, "NAVIGATE", step="insurance"))
    if payer is None:
        fill(session, {"has_insurance": "no"})
    else:
        fill(
            session,
            {"has_insurance": "yes", "payer": str(payer.public_id), "member_id": member_id},
        )
        card = upload_add(device=device, slot="card_front", file=jpeg_file())
        ok(patient_do(session, "DOCUMENT_UPLOADED", slot="card_front", upload=str(card.public_id)))
    ok(staff_do(session, staff, "NAVIGATE", step="consents"))
    for key in session.consent_texts.values_list("key", flat=True):
        ok(patient_do(session, "CONSENT_ACKNOWLEDGED", consent=key, scrolled_to_end=True))
    ok(staff_do(session, staff, "NAVIGATE", step="signatures"))


def sign(session: GuidedSession, staff: Any, key: str) -> None:
    ok(staff_do(session, staff, "REQUEST_SIGNATURE", document=key))
    device = DeviceToken.objects.get(session=session, revoked_at__isnull=True)
    signature = signature_add(
        device=device, document=key, image=png_file(), ip="10.1.2.3", user_agent="TabletBrowser/1"
    )
    ok(patient_do(session, "SIGNATURE_SUBMITTED", document=key, signature=str(signature.public_id)))


def sign_all(session: GuidedSession, staff: Any) -> None:
    for key in session.consent_texts.filter(requires_signature=True).values_list("key", flat=True):
        sign(session, staff, key)
