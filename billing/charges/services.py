"""Writes of the charges ledger: the charges of a completed appointment, and their reversal.

Both run from outbox handlers (``handlers.py``), once per event, in the worker. "Exactly once"
does not rest on the handler ledger alone: each line is inserted in a savepoint, and the unique
constraint on (appointment, code, modifiers) turns a second insert (another event for the same
completion, a second worker racing this one) into a no-op. Reversals are unique per charge the
same way. Nothing here updates or deletes a charge; the database would refuse it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q

from clinic.audit.services import audit_record
from patients.models import InsurancePolicy, Payer, PolicyRank
from scheduling.models import Appointment, AppointmentState

from ..fees.models import BillableCode
from ..fees.selectors import fee_find
from .models import Charge, ChargeKind, ChargeStatus

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


def date_of_service(appointment: Appointment) -> date:
    """The appointment's day where it took place (the location's time zone)."""
    return appointment.starts_at.astimezone(ZoneInfo(appointment.location.timezone)).date()


def primary_payer_on(patient: Patient, on: date) -> Payer | None:
    """The payer of the patient's active primary policy in effect on ``on``; None = self-pay."""
    policy = (
        InsurancePolicy.objects.filter(patient=patient, rank=PolicyRank.PRIMARY, is_active=True)
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=on))
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on))
        .select_related("payer")
        .first()
    )
    return policy.payer if policy is not None else None


def _charge_line(
    appointment: Appointment,
    patient: Patient,
    billable: BillableCode,
    payer: Payer | None,
    on: date,
) -> Charge:
    found = fee_find(
        organization_id=appointment.organization_id,
        payer=payer,
        code=billable.code,
        modifiers=billable.modifiers,
        on=on,
    )
    charge = Charge(
        organization_id=appointment.organization_id,
        location_id=appointment.location_id,
        patient=patient,
        appointment=appointment,
        kind=ChargeKind.CHARGE,
        date_of_service=on,
        code=billable.code,
        modifiers=billable.modifiers,
        units=billable.units,
        payer=payer,
        schedule=found.schedule,
    )
    if found.line is None or found.line.purchase_price is None:
        charge.status = ChargeStatus.HELD
        charge.held_reason = found.reason[:200]
        return charge
    price = found.line.purchase_price
    schedule_allowed = found.line.allowed_amount
    allowed = price if schedule_allowed is None else min(schedule_allowed, price)
    charge.status = ChargeStatus.PRICED
    charge.fee_line = found.line
    charge.unit_price = price
    charge.amount = (price * billable.units).quantize(Decimal("0.01"))
    charge.allowed_amount = (allowed * billable.units).quantize(Decimal("0.01"))
    return charge


def _insert_once(charge: Charge) -> bool:
    """Insert in a savepoint; False when the database says this line already exists."""
    try:
        with transaction.atomic():
            charge.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def _audit(actor: User | None, action: str, charge: Charge) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=charge,
        details={
            "appointment": str(charge.appointment.public_id),
            "code": charge.code,
            "status": charge.status,
        },
    )


@transaction.atomic
def charges_create_for_appointment(
    *, actor: User | None, appointment: Appointment, source_event_id: int | None = None
) -> list[Charge]:
    """Write one charge per billable code of a completed appointment's type, priced from the
    patient's primary payer's schedule on the date of service (self-pay without one), or held
    with the reason. Returns the rows written now (none when they already exist)."""
    appointment = Appointment.objects.select_related("location", "patient", "type").get(
        pk=appointment.pk
    )
    patient = appointment.patient
    if patient is None or appointment.state not in (
        AppointmentState.FULFILLED,
        AppointmentState.ENTERED_IN_ERROR,
    ):
        return []
    if appointment.state == AppointmentState.ENTERED_IN_ERROR and appointment.completed_at is None:
        return []  # never completed: nothing to bill
    billables = list(
        BillableCode.objects.filter(appointment_type_id=appointment.type_id).order_by("id")
    )
    if not billables:
        return []
    on = date_of_service(appointment)
    payer = primary_payer_on(patient, on)
    written = []
    for billable in billables:
        charge = _charge_line(appointment, patient, billable, payer, on)
        charge.source_event_id = source_event_id
        if _insert_once(charge):
            _audit(actor, "charge.created", charge)
            written.append(charge)
    if appointment.state == AppointmentState.ENTERED_IN_ERROR:
        # The undo was dispatched before this completion: the charges are reversed at once.
        charges_reverse_for_appointment(
            actor=actor, appointment=appointment, source_event_id=source_event_id
        )
    return written


@transaction.atomic
def charges_reverse_for_appointment(
    *, actor: User | None, appointment: Appointment, source_event_id: int | None = None
) -> list[Charge]:
    """Add one reversing line per charge of ``appointment`` not yet reversed (the completion
    was undone). The original rows stay as they were."""
    originals = list(
        Charge.objects.filter(
            appointment=appointment, kind=ChargeKind.CHARGE, reversal__isnull=True
        )
        .select_related("appointment")
        .order_by("id")
    )
    written = []
    for original in originals:
        reversal = Charge(
            organization_id=original.organization_id,
            location_id=original.location_id,
            patient_id=original.patient_id,
            appointment=original.appointment,
            kind=ChargeKind.REVERSAL,
            reverses=original,
            source_event_id=source_event_id,
            date_of_service=original.date_of_service,
            code=original.code,
            modifiers=original.modifiers,
            units=original.units,
            status=original.status,
            held_reason=original.held_reason,
            payer_id=original.payer_id,
            schedule_id=original.schedule_id,
            fee_line_id=original.fee_line_id,
            unit_price=original.unit_price,
            amount=-original.amount if original.amount is not None else None,
            allowed_amount=-original.allowed_amount
            if original.allowed_amount is not None
            else None,
        )
        if _insert_once(reversal):
            _audit(actor, "charge.reversed", reversal)
            written.append(reversal)
    return written
