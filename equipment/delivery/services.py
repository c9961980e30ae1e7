"""Writes of delivery tickets: create (draft), schedule (reserves the stock), take out, deliver
with proof, fail, cancel. Each state change is one service that checks the state it starts from
under a row lock, so a refused change writes nothing.

``ticket_deliver`` is the one transaction of a delivery: the reservations are dispensed (serial
units assigned to the patient), the patient's equipment is recorded, the signature image is
stored and its proof row written, and ``delivery.completed`` is recorded in the outbox (billing
consumes it) -- all of it commits, or none of it.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, PermissionDenied
from clinic.events.services import event_record
from clinic.files.services import Kind, file_store, file_validate
from clinic.models import Role
from equipment.catalog.models import Item
from equipment.fleet.models import Acquisition
from equipment.fleet.services import equipment_record
from equipment.stock.models import SerialUnit
from equipment.stock.services import (
    reservation_dispense,
    reservation_release,
    serial_numbers_parse,
    stock_reserve,
)
from patients.record.services import patient_assignment_add

from .models import (
    DeliveryLine,
    DeliveryMethod,
    DeliveryTicket,
    ProofOfDelivery,
    TicketState,
)
from .permissions import can_manage_tickets_at, can_work_ticket

if TYPE_CHECKING:
    from clinic.models import Location, User
    from patients.models import Patient, Physician

DELIVERY_COMPLETED = "delivery.completed"
SIGNATURE_MAX_BYTES = 512 * 1024
_DATA_URL_PREFIX = "data:image/png;base64,"
MAX_LINES = 30


class TicketInvalid(ApplicationError):
    code = "ticket_invalid"


@dataclass(frozen=True)
class LineIn:
    item: Item
    quantity: int
    acquisition: str = Acquisition.PURCHASE
    serial_numbers: Sequence[str] = field(default_factory=tuple)


def _audit(actor: User, action: str, ticket: DeliveryTicket, **details: object) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=ticket,
        details={"patient": str(ticket.patient.public_id), **details},
    )


def _lock(ticket: DeliveryTicket, *states: str) -> DeliveryTicket:
    locked = (
        DeliveryTicket.objects.select_for_update(of=("self",))
        .select_related("location", "patient", "technician")
        .get(pk=ticket.pk)
    )
    if locked.state not in states:
        raise TicketInvalid(
            f"This ticket is {locked.get_state_display().lower()}; that step is not possible."
        )
    return locked


# ------------------------------------------------------------------------- create


@transaction.atomic
def ticket_create(
    *,
    actor: User,
    location: Location,
    patient: Patient,
    physician: Physician,
    date_of_service: date,
    method: str,
    lines: Sequence[LineIn],
    address: str = "",
    technician: User | None = None,
    tracking_number: str = "",
) -> DeliveryTicket:
    """A staff order becomes a draft ticket. The address defaults to the patient's."""
    if not can_manage_tickets_at(actor, location):
        raise PermissionDenied("You cannot create delivery tickets at that location.")
    if patient.organization_id != actor.organization_id:
        raise PermissionDenied("That patient is not available to you.")
    if physician.organization_id != actor.organization_id:
        raise PermissionDenied("That physician is not available to you.")
    if method not in DeliveryMethod.values:
        raise TicketInvalid("Choose how the items reach the patient.", extra={"field": "method"})
    if not lines:
        raise TicketInvalid("Add at least one item.", extra={"field": "lines"})
    if len(lines) > MAX_LINES:
        raise TicketInvalid(f"At most {MAX_LINES} items per ticket.", extra={"field": "lines"})
    address = (address or "").strip() or ", ".join(
        part
        for part in (
            patient.address_line1,
            patient.address_line2,
            patient.city,
            patient.state,
            patient.postal_code,
        )
        if part
    )
    if not address:
        raise TicketInvalid("Enter the delivery address.", extra={"field": "address"})
    ticket = DeliveryTicket.objects.create(
        organization_id=location.organization_id,
        location=location,
        patient=patient,
        physician=physician,
        address=address[:400],
        date_of_service=date_of_service,
        method=method,
        technician=None,
        tracking_number=(tracking_number or "").strip()[:60],
        created_by=actor,
    )
    for line in lines:
        item = line.item
        if item.organization_id != actor.organization_id or not item.is_active:
            raise TicketInvalid("That item is not in the catalogue.", extra={"field": "lines"})
        if not isinstance(line.quantity, int) or not 1 <= line.quantity <= 100:
            raise TicketInvalid("Each quantity is between 1 and 100.", extra={"field": "lines"})
        if line.acquisition not in Acquisition.values:
            raise TicketInvalid("Choose purchase or rental.", extra={"field": "lines"})
        DeliveryLine.objects.create(
            organization_id=location.organization_id,
            ticket=ticket,
            item=item,
            hcpcs=item.hcpcs,
            quantity=line.quantity,
            acquisition=line.acquisition,
            serial_numbers=list(line.serial_numbers),
        )
    if technician is not None:
        _technician_set(actor, ticket, technician)
    _audit(actor, "delivery.created", ticket, lines=len(lines))
    return ticket


def _technician_set(actor: User, ticket: DeliveryTicket, technician: User) -> None:
    works_there = any(
        m.location_id == ticket.location_id and m.role == Role.FIELD_TECHNICIAN
        for m in technician._memberships
    )
    if technician.organization_id != ticket.organization_id or not works_there:
        raise TicketInvalid(
            "Choose a field technician of this location.", extra={"field": "technician"}
        )
    ticket.technician = technician
    ticket.save(update_fields=["technician", "updated_at"])
    # The technician opens the patient from their phone (limited view); same transaction.
    patient_assignment_add(
        actor=actor, patient=ticket.patient, technician=technician, source="delivery"
    )


# ------------------------------------------------------------------------- state changes


@transaction.atomic
def ticket_schedule(
    *, actor: User, ticket: DeliveryTicket, technician: User | None = None
) -> DeliveryTicket:
    """draft -> scheduled: every line's units are reserved at the ticket's location (refused,
    with nothing reserved, when one is short). A home delivery needs its technician."""
    if not can_manage_tickets_at(actor, ticket.location):
        raise PermissionDenied("You cannot schedule tickets at that location.")
    ticket = _lock(ticket, TicketState.DRAFT)
    if technician is not None:
        _technician_set(actor, ticket, technician)
    if ticket.method == DeliveryMethod.HOME and ticket.technician_id is None:
        raise TicketInvalid("A home delivery needs a technician.", extra={"field": "technician"})
    for line in ticket.lines.select_related("item"):
        line.reservation = stock_reserve(
            actor=actor,
            location=ticket.location,
            item=line.item,
            quantity=line.quantity,
            reference=ticket.reference,
            needed_on=ticket.date_of_service,
        )
        line.save(update_fields=["reservation"])
    ticket.state = TicketState.SCHEDULED
    ticket.save(update_fields=["state", "updated_at"])
    _audit(actor, "delivery.scheduled", ticket)
    return ticket


@transaction.atomic
def ticket_dispatch(*, actor: User, ticket: DeliveryTicket) -> DeliveryTicket:
    """scheduled -> out_for_delivery (the technician leaves, or the parcel is handed over)."""
    if not can_work_ticket(actor, ticket):
        raise PermissionDenied("This ticket is not yours.")
    ticket = _lock(ticket, TicketState.SCHEDULED)
    ticket.state = TicketState.OUT_FOR_DELIVERY
    ticket.save(update_fields=["state", "updated_at"])
    _audit(actor, "delivery.dispatched", ticket)
    return ticket


def _release(actor: User, ticket: DeliveryTicket) -> None:
    for line in ticket.lines.select_related("reservation__item", "reservation__location"):
        if line.reservation is not None:
            reservation_release(actor=actor, reservation=line.reservation)


@transaction.atomic
def ticket_fail(*, actor: User, ticket: DeliveryTicket, reason: str) -> DeliveryTicket:
    """out_for_delivery -> failed, with a reason; the reserved units are released."""
    if not can_work_ticket(actor, ticket):
        raise PermissionDenied("This ticket is not yours.")
    reason = (reason or "").strip()
    if not reason:
        raise TicketInvalid("Say why the delivery failed.", extra={"field": "reason"})
    ticket = _lock(ticket, TicketState.OUT_FOR_DELIVERY)
    _release(actor, ticket)
    ticket.state = TicketState.FAILED
    ticket.failure_reason = reason[:200]
    ticket.save(update_fields=["state", "failure_reason", "updated_at"])
    _audit(actor, "delivery.failed", ticket)
    return ticket


@transaction.atomic
def ticket_cancel(*, actor: User, ticket: DeliveryTicket, reason: str = "") -> DeliveryTicket:
    """draft or scheduled -> cancelled (a scheduled ticket's reservations are released)."""
    if not can_manage_tickets_at(actor, ticket.location):
        raise PermissionDenied("You cannot cancel tickets at that location.")
    ticket = _lock(ticket, TicketState.DRAFT, TicketState.SCHEDULED)
    _release(actor, ticket)
    ticket.state = TicketState.CANCELLED
    ticket.cancel_reason = (reason or "").strip()[:200]
    ticket.save(update_fields=["state", "cancel_reason", "updated_at"])
    _audit(actor, "delivery.cancelled", ticket)
    return ticket


# ------------------------------------------------------------------------- deliver


def signature_decode(data_url: str) -> File:
    """The PNG inside a ``data:image/png;base64,...`` URL from the signature pad, checked by
    its bytes (``clinic.files.file_validate``), or a refusal a person can read."""
    data_url = (data_url or "").strip()
    if not data_url:
        raise TicketInvalid("The signature is missing.", extra={"field": "signature"})
    if not data_url.startswith(_DATA_URL_PREFIX):
        raise TicketInvalid("The signature must be a PNG image.", extra={"field": "signature"})
    encoded = data_url[len(_DATA_URL_PREFIX) :]
    if len(encoded) > SIGNATURE_MAX_BYTES * 4 // 3 + 4:
        raise TicketInvalid("The signature image is too large.", extra={"field": "signature"})
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TicketInvalid(
            "The signature could not be read.", extra={"field": "signature"}
        ) from exc
    upload = File(io.BytesIO(raw), name="signature.png")
    try:
        kind = file_validate(upload, max_bytes=SIGNATURE_MAX_BYTES)
    except ApplicationError as exc:
        raise TicketInvalid(
            f"The signature is not a usable image: {exc.message}", extra={"field": "signature"}
        ) from exc
    if kind != Kind.PNG:
        raise TicketInvalid("The signature must be a PNG image.", extra={"field": "signature"})
    return upload


@transaction.atomic
def ticket_deliver(
    *,
    actor: User,
    ticket: DeliveryTicket,
    recipient_name: str,
    relationship: str,
    signature_data_url: str,
    serial_numbers: Mapping[int, Sequence[str] | str] | None = None,
) -> ProofOfDelivery:
    """out_for_delivery (or scheduled, for an in-clinic pickup) -> delivered, with proof.

    ``relationship`` is "self" when the patient signs, else the representative's relationship
    (their printed name is ``recipient_name``). The person delivering cannot sign as recipient.
    ``serial_numbers`` maps a line id to the serials handed over for a serialized item (typed
    or scanned text is accepted); lines given serials at creation keep theirs.
    """
    if not can_work_ticket(actor, ticket):
        raise PermissionDenied("This ticket is not yours.")
    states = [TicketState.OUT_FOR_DELIVERY]
    if ticket.method == DeliveryMethod.PICKUP:
        states.append(TicketState.SCHEDULED)
    ticket = _lock(ticket, *states)
    recipient_name = " ".join((recipient_name or "").split())[:200]
    relationship = " ".join((relationship or "").split())[:60]
    if not recipient_name:
        raise TicketInvalid(
            "Enter the name of the person who received the items.",
            extra={"field": "recipient_name"},
        )
    if not relationship:
        raise TicketInvalid(
            "Say who signed: the patient, or the representative's relationship.",
            extra={"field": "relationship"},
        )
    if recipient_name.casefold() == (actor.full_name or "").casefold():
        raise TicketInvalid(
            "Staff may not sign for the patient.", extra={"field": "recipient_name"}
        )
    signature = signature_decode(signature_data_url)
    given = dict(serial_numbers or {})
    patient = ticket.patient
    now = timezone.now()
    for line in ticket.lines.select_related("item", "reservation__item", "reservation__location"):
        if line.reservation is None:
            raise TicketInvalid("This ticket's stock is not reserved.")
        raw = given.get(line.pk, line.serial_numbers)
        serials = serial_numbers_parse(raw) if isinstance(raw, str) else list(raw)
        reservation_dispense(
            actor=actor, reservation=line.reservation, serial_numbers=serials, patient=patient
        )
        if serials != line.serial_numbers:
            line.serial_numbers = serials
            line.save(update_fields=["serial_numbers"])
        units: list[SerialUnit | None] = (
            list(SerialUnit.objects.filter(item=line.item, serial_number__in=serials))
            if serials
            else [None]
        )
        for unit in units:
            equipment_record(
                actor=actor,
                patient=patient,
                item=line.item,
                serial=unit,
                setup_on=ticket.date_of_service,
                acquisition=line.acquisition,
                delivery_ticket_id=ticket.pk,
            )
    stored = file_store(upload=signature, kind=Kind.PNG, prefix="delivery/signatures")
    proof = ProofOfDelivery.objects.create(
        organization_id=ticket.organization_id,
        ticket=ticket,
        recipient_name=recipient_name,
        relationship=relationship,
        signature_file=stored.name,
        signature_sha256=stored.sha256,
        signed_at=now,
        technician=actor,
    )
    ticket.state = TicketState.DELIVERED
    ticket.delivered_at = now
    ticket.save(update_fields=["state", "delivered_at", "updated_at"])
    _audit(actor, "delivery.delivered", ticket, proof=str(proof.public_id))
    event_record(
        name=DELIVERY_COMPLETED,
        organization=ticket.organization,
        aggregate=ticket,
        payload={
            "ticket_id": ticket.pk,
            "patient_id": patient.pk,
            "location_id": ticket.location_id,
            "proof_id": proof.pk,
        },
    )
    return proof
