"""Writes of fee schedules: a schedule per payer (or self-pay), its dated lines, and the codes
billed for each appointment type. ADMIN only; every write audited. The database backs each rule
(one schedule per payer, one self-pay schedule, no overlapping lines, code formats)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, PermissionDenied
from scheduling.models import AppointmentType

from ..permissions import can_manage_fees
from .models import CODE_PATTERN, MODIFIER_PATTERN, BillableCode, FeeLine, FeeSchedule

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Payer

MAX_PRICE = Decimal("99999999.99")
MAX_UNITS = 999


class FeeInvalid(ApplicationError):
    code = "fee_invalid"


def code_clean(code: str) -> str:
    code = (code or "").strip().upper()
    if not re.match(CODE_PATTERN, code):
        raise FeeInvalid(
            "Enter a CPT code (5 digits, e.g. 95810) or an HCPCS code (a letter and 4 digits, "
            "e.g. E0601).",
            extra={"field": "code"},
        )
    return code


def modifiers_clean(text: str) -> str:
    """``"rr, kh"`` -> ``"RR KH"``: up to four two-character modifiers, in the order given."""
    mods = [m for m in re.split(r"[\s,;-]+", (text or "").strip().upper()) if m]
    if len(mods) > 4 or any(not re.match(MODIFIER_PATTERN, m) for m in mods):
        raise FeeInvalid(
            "Modifiers are up to four two-character codes, e.g. RR KH.",
            extra={"field": "modifiers"},
        )
    if len(set(mods)) != len(mods):
        raise FeeInvalid("A modifier is listed twice.", extra={"field": "modifiers"})
    return " ".join(mods)


def _money(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise FeeInvalid("Enter an amount like 125.00.", extra={"field": field}) from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_PRICE:
        raise FeeInvalid("Enter an amount of 0 or more.", extra={"field": field})
    if amount != amount.quantize(Decimal("0.01")):
        raise FeeInvalid("Amounts have at most 2 decimals.", extra={"field": field})
    return amount.quantize(Decimal("0.01"))


def _units(units: int) -> int:
    if not isinstance(units, int) or units < 1 or units > MAX_UNITS:
        raise FeeInvalid(f"Units are between 1 and {MAX_UNITS}.", extra={"field": "units"})
    return units


def _check_admin(actor: User) -> int:
    if not can_manage_fees(actor) or actor.organization_id is None:
        raise PermissionDenied("Only an administrator can change fee schedules.")
    return actor.organization_id


@transaction.atomic
def fee_schedule_create(*, actor: User, payer: Payer | None, name: str = "") -> FeeSchedule:
    """A schedule for ``payer``, or the organization's self-pay schedule when ``payer`` is None."""
    org_id = _check_admin(actor)
    if payer is not None and payer.organization_id != actor.organization_id:
        raise PermissionDenied("That payer is not available to you.")
    name = " ".join((name or "").split())[:200] or (
        f"{payer.name} fee schedule" if payer is not None else "Self-pay fee schedule"
    )
    exists = FeeSchedule.objects.filter(organization_id=org_id, payer=payer)
    if exists.exists():
        who = payer.name if payer is not None else "Self-pay"
        raise FeeInvalid(f"{who} already has a fee schedule.", extra={"field": "payer"})
    try:
        with transaction.atomic():
            schedule = FeeSchedule.objects.create(
                organization_id=org_id, payer=payer, name=name, created_by=actor
            )
    except IntegrityError as exc:  # created at the same moment by someone else
        raise FeeInvalid("That fee schedule already exists.", extra={"field": "payer"}) from exc
    audit_record(actor=actor, action="fee_schedule.created", obj=schedule)
    return schedule


@transaction.atomic
def fee_line_add(
    *,
    actor: User,
    schedule: FeeSchedule,
    code: str,
    modifiers: str = "",
    purchase_price: Decimal | str | None = None,
    rental_price: Decimal | str | None = None,
    allowed_amount: Decimal | str | None = None,
    units: int = 1,
    effective_from: date,
    effective_to: date | None = None,
) -> FeeLine:
    """Add a dated price. Refused when a line for the same code and modifiers is already in
    effect on any of those dates (end the old line first by adding it with an end date)."""
    _check_admin(actor)
    if schedule.organization_id != actor.organization_id:
        raise PermissionDenied("That fee schedule is not available to you.")
    code = code_clean(code)
    modifiers = modifiers_clean(modifiers)
    purchase = _money(purchase_price, "purchase_price")
    rental = _money(rental_price, "rental_price")
    allowed = _money(allowed_amount, "allowed_amount")
    if purchase is None and rental is None:
        raise FeeInvalid(
            "Enter a purchase price or a rental price.", extra={"field": "purchase_price"}
        )
    units = _units(units)
    if effective_from is None:
        raise FeeInvalid(
            "Enter the date the price takes effect.", extra={"field": "effective_from"}
        )
    if effective_to is not None and effective_to < effective_from:
        raise FeeInvalid("The end date is before the start date.", extra={"field": "effective_to"})
    try:
        with transaction.atomic():
            line = FeeLine.objects.create(
                organization_id=schedule.organization_id,
                schedule=schedule,
                code=code,
                modifiers=modifiers,
                purchase_price=purchase,
                rental_price=rental,
                allowed_amount=allowed,
                units=units,
                effective_from=effective_from,
                effective_to=effective_to,
                created_by=actor,
            )
    except IntegrityError as exc:
        label = f"{code} {modifiers}".strip()
        raise FeeInvalid(
            f"Another line for {label} is in effect on some of those dates.",
            extra={"field": "effective_from"},
        ) from exc
    audit_record(
        actor=actor,
        action="fee_line.added",
        obj=schedule,
        details={"line": str(line.public_id), "code": code},
    )
    return line


@transaction.atomic
def billable_code_add(
    *,
    actor: User,
    appointment_type: AppointmentType,
    code: str,
    modifiers: str = "",
    units: int = 1,
) -> BillableCode:
    """Bill ``code`` whenever an appointment of ``appointment_type`` is completed."""
    _check_admin(actor)
    if appointment_type.organization_id != actor.organization_id:
        raise PermissionDenied("That appointment type is not available to you.")
    code = code_clean(code)
    modifiers = modifiers_clean(modifiers)
    units = _units(units)
    try:
        with transaction.atomic():
            row = BillableCode.objects.create(
                organization_id=appointment_type.organization_id,
                appointment_type=appointment_type,
                code=code,
                modifiers=modifiers,
                units=units,
            )
    except IntegrityError as exc:
        raise FeeInvalid(
            f"{appointment_type.name} already bills {code}.", extra={"field": "code"}
        ) from exc
    audit_record(
        actor=actor,
        action="billable_code.added",
        obj=row,
        details={"code": code, "type": appointment_type.code},
    )
    return row


@transaction.atomic
def billable_code_remove(*, actor: User, billable: BillableCode) -> None:
    """Stop billing a code for a type (charges already written stay as they are)."""
    _check_admin(actor)
    if billable.organization_id != actor.organization_id:
        raise PermissionDenied("That billable code is not available to you.")
    audit_record(
        actor=actor,
        action="billable_code.removed",
        obj=billable,
        details={"code": billable.code, "type": billable.appointment_type.code},
    )
    billable.delete()
