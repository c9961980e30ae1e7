"""Writes of patient equipment: record what a patient has, change a device's settings, mark an
item removed, and count a rental's months (``rental_month_next`` is the rule, pure and tested at
its boundaries; ``rental_month_record`` writes it).

The delivery sub-domain calls ``equipment_record`` inside its proof-of-delivery transaction, so
what was delivered is on the patient's Equipment tab in the same commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta
from django.db import transaction

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, PermissionDenied
from equipment.catalog.models import Item, ItemKind
from equipment.stock.models import SerialStatus, SerialUnit

from .models import RENTAL_CAP_MONTHS, Acquisition, MaskType, PatientEquipment, RentalMonth
from .permissions import can_manage_equipment, can_record_equipment

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient

NEW_PERIOD_GAP_DAYS = 60


class EquipmentInvalid(ApplicationError):
    code = "equipment_invalid"


# ------------------------------------------------------------------------- device settings

# key -> (kind, minimum, maximum); "choice" keys list their values instead.
_NUMBERS: dict[str, tuple[type, float, float]] = {
    "pressure": (float, 4, 20),  # cmH2O, fixed CPAP
    "min_pressure": (float, 4, 20),
    "max_pressure": (float, 4, 25),
    "ipap": (float, 4, 25),
    "epap": (float, 4, 25),
    "ramp_minutes": (int, 0, 45),
    "humidity": (int, 0, 8),
    "epr": (int, 0, 3),
}
_CHOICES: dict[str, frozenset[str]] = {
    "mode": frozenset({"CPAP", "APAP", "BiPAP"}),
    "ramp": frozenset({"off", "on", "auto"}),
}
SETTINGS_KEYS = sorted([*_NUMBERS, *_CHOICES])


def device_settings_parse(text: str) -> dict[str, Any]:
    """Settings typed as a JSON object (the form's text area), checked by the rule below."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise EquipmentInvalid(
            'Settings must be a JSON object, e.g. {"mode": "APAP", "min_pressure": 6}.',
            extra={"field": "settings"},
        ) from exc
    return device_settings_validate(value)


def device_settings_validate(value: Any) -> dict[str, Any]:
    """Known keys only, each of the right type and in range; returns a clean copy."""
    if not isinstance(value, dict):
        raise EquipmentInvalid("Settings must be a JSON object.", extra={"field": "settings"})
    clean: dict[str, Any] = {}
    for key, raw in value.items():
        if key in _CHOICES:
            if raw not in _CHOICES[key]:
                allowed = ", ".join(sorted(_CHOICES[key]))
                raise EquipmentInvalid(
                    f"Setting {key!s:.20} must be one of {allowed}.", extra={"field": "settings"}
                )
            clean[key] = raw
        elif key in _NUMBERS:
            kind, low, high = _NUMBERS[key]
            number_ok = isinstance(raw, int | float) and not isinstance(raw, bool)
            if not number_ok or (kind is int and not float(raw).is_integer()):
                raise EquipmentInvalid(
                    f"Setting {key} must be a number.", extra={"field": "settings"}
                )
            if not low <= raw <= high:
                raise EquipmentInvalid(
                    f"Setting {key} must be between {low:g} and {high:g}.",
                    extra={"field": "settings"},
                )
            clean[key] = kind(raw)
        else:
            raise EquipmentInvalid(
                f"Unknown setting {str(key)[:20]!r}; known: {', '.join(SETTINGS_KEYS)}.",
                extra={"field": "settings"},
            )
    low_p, high_p = clean.get("min_pressure"), clean.get("max_pressure")
    if low_p is not None and high_p is not None and low_p > high_p:
        raise EquipmentInvalid(
            "The minimum pressure is above the maximum.", extra={"field": "settings"}
        )
    if "ipap" in clean and "epap" in clean and clean["epap"] > clean["ipap"]:
        raise EquipmentInvalid("EPAP must not exceed IPAP.", extra={"field": "settings"})
    return clean


# ------------------------------------------------------------------------- records


def _check(actor: User, patient: Patient, *, manage: bool = True) -> None:
    allowed = (can_manage_equipment if manage else can_record_equipment)(actor, patient)
    if not allowed:
        raise PermissionDenied("You cannot change this patient's equipment.")


@transaction.atomic
def equipment_record(
    *,
    actor: User,
    patient: Patient,
    item: Item,
    setup_on: date,
    acquisition: str,
    serial: SerialUnit | None = None,
    settings: dict[str, Any] | None = None,
    mask_type: str = "",
    size: str = "",
    delivery_ticket_id: int | None = None,
) -> PatientEquipment:
    """Record that ``patient`` has ``item`` since ``setup_on``."""
    _check(actor, patient, manage=False)
    if item.organization_id != patient.organization_id:
        raise PermissionDenied("That item is not in your catalogue.")
    if acquisition not in Acquisition.values:
        raise EquipmentInvalid("Choose purchase or rental.", extra={"field": "acquisition"})
    if mask_type and mask_type not in MaskType.values:
        raise EquipmentInvalid("Choose a mask type.", extra={"field": "mask_type"})
    if mask_type and item.kind != ItemKind.MASK:
        raise EquipmentInvalid("Only a mask has a mask type.", extra={"field": "mask_type"})
    if serial is not None:
        if serial.item_id != item.pk:
            raise EquipmentInvalid(
                "That serial number belongs to another item.", extra={"field": "serial"}
            )
        if serial.status != SerialStatus.ASSIGNED or serial.patient_id != patient.pk:
            raise EquipmentInvalid(
                "That unit has not been dispensed to this patient.", extra={"field": "serial"}
            )
    clean = device_settings_validate(settings or {})
    if clean and item.kind != ItemKind.DEVICE:
        raise EquipmentInvalid("Only a device has settings.", extra={"field": "settings"})
    record = PatientEquipment.objects.create(
        organization_id=patient.organization_id,
        patient=patient,
        item=item,
        serial=serial,
        setup_on=setup_on,
        device_settings=clean,
        mask_type=mask_type,
        size=(size or item.size or "").strip()[:40],
        acquisition=acquisition,
        delivery_ticket_id=delivery_ticket_id,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="patient_equipment.recorded",
        obj=record,
        details={"patient": str(patient.public_id), "item": str(item.public_id)},
    )
    return record


def _lock(record: PatientEquipment) -> PatientEquipment:
    return (
        PatientEquipment.objects.select_for_update()
        .select_related("patient", "item")
        .get(pk=record.pk)
    )


@transaction.atomic
def equipment_settings_set(
    *, actor: User, record: PatientEquipment, settings: dict[str, Any]
) -> PatientEquipment:
    _check(actor, record.patient)
    record = _lock(record)
    if record.item.kind != ItemKind.DEVICE:
        raise EquipmentInvalid("Only a device has settings.", extra={"field": "settings"})
    record.device_settings = device_settings_validate(settings)
    record.save(update_fields=["device_settings", "updated_at"])
    audit_record(
        actor=actor,
        action="patient_equipment.settings_changed",
        obj=record,
        details={"keys": sorted(record.device_settings)},
    )
    return record


@transaction.atomic
def equipment_remove(
    *, actor: User, record: PatientEquipment, removed_on: date
) -> PatientEquipment:
    _check(actor, record.patient)
    record = _lock(record)
    if record.removed_on is not None:
        raise EquipmentInvalid("This item is already marked removed.")
    if removed_on < record.setup_on:
        raise EquipmentInvalid(
            "The removal date is before the setup date.", extra={"field": "removed_on"}
        )
    record.removed_on = removed_on
    record.save(update_fields=["removed_on", "updated_at"])
    audit_record(actor=actor, action="patient_equipment.removed", obj=record)
    return record


# ------------------------------------------------------------------------- rental months


@dataclass(frozen=True)
class RentalStep:
    period: int
    month: int


def rental_month_next(last: RentalMonth | None, starts_on: date) -> RentalStep:
    """The period and month of a rental month starting on ``starts_on``, after ``last``.

    A month covers ``[starts_on, starts_on + 1 month)``. A gap of 60 days or more between the
    end of the last month and the new one starts a new period at month 1; otherwise the count
    goes on. After month 13 the rental is complete (the patient owns the item): refused.
    """
    if last is None:
        return RentalStep(period=1, month=1)
    if last.month >= RENTAL_CAP_MONTHS:
        raise EquipmentInvalid(
            f"This rental is complete: all {RENTAL_CAP_MONTHS} months were billed.",
            extra={"field": "starts_on"},
        )
    last_ends = last.starts_on + relativedelta(months=1)
    if starts_on < last_ends:
        raise EquipmentInvalid(
            f"Month {last.month} runs until {last_ends - relativedelta(days=1):%d %b %Y}; "
            "the next month starts after it.",
            extra={"field": "starts_on"},
        )
    if (starts_on - last_ends).days >= NEW_PERIOD_GAP_DAYS:
        return RentalStep(period=last.period + 1, month=1)
    return RentalStep(period=last.period, month=last.month + 1)


@transaction.atomic
def rental_month_record(*, actor: User, record: PatientEquipment, starts_on: date) -> RentalMonth:
    """Count one more month of a rental (the equipment row is locked, so two clerks cannot
    record the same month; the unique constraint is the backstop)."""
    _check(actor, record.patient)
    record = _lock(record)
    if record.acquisition != Acquisition.RENTAL:
        raise EquipmentInvalid("This item was bought, not rented.")
    if starts_on < record.setup_on:
        raise EquipmentInvalid(
            "A rental month cannot start before the setup date.", extra={"field": "starts_on"}
        )
    last = record.rental_months.order_by("-period", "-month").first()
    step = rental_month_next(last, starts_on)
    month = RentalMonth.objects.create(
        organization_id=record.organization_id,
        equipment=record,
        period=step.period,
        month=step.month,
        starts_on=starts_on,
        actor=actor,
    )
    audit_record(
        actor=actor,
        action="patient_equipment.rental_month_recorded",
        obj=record,
        details={"period": step.period, "month": step.month},
    )
    return month
