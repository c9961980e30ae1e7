"""Writes of stock: receive, transfer, adjust, reserve, dispense, serial units, reorder points.

Every write goes through ``balance_move``: one conditional UPDATE of the balance row that
succeeds only if on hand and reserved stay within bounds (the row lock of the UPDATE orders
concurrent writers, and PostgreSQL re-checks the condition on the row as the winner left it),
then one ledger row. The CHECK constraints of ``StockBalance`` are the backstop. A write that
makes the available figure cross below the reorder point records ``stock.below_reorder_point``
in the outbox; ``equipment.stock.handlers`` turns it into notifications after commit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, Conflict, PermissionDenied
from clinic.events.services import event_record
from equipment.catalog.models import Item

from .models import (
    AdjustReason,
    MovementKind,
    Reservation,
    ReservationStatus,
    SerialEvent,
    SerialEventKind,
    SerialStatus,
    SerialUnit,
    StockBalance,
    StockMovement,
)
from .permissions import can_dispense_at, can_manage_stock_at

if TYPE_CHECKING:
    from clinic.models import Location, User
    from patients.models import Patient

LOW_STOCK_EVENT = "stock.below_reorder_point"
MAX_QUANTITY = 100_000
_SERIAL_SPLIT = re.compile(r"[\s,;]+")
_SERIAL_TEXT = re.compile(r"^[A-Za-z0-9._/-]{1,60}$")


class StockInvalid(ApplicationError):
    code = "stock_invalid"


class InsufficientStock(Conflict):
    code = "insufficient_stock"


def serial_numbers_parse(text: str) -> list[str]:
    """Serial numbers typed or scanned one per line (or separated by commas)."""
    return [s for s in _SERIAL_SPLIT.split(text or "") if s]


# ------------------------------------------------------------------------- the one write path


@dataclass(frozen=True)
class BalanceAfter:
    balance_id: int
    on_hand: int
    reserved: int
    reorder_point: int | None


_MOVE_SQL = """
    UPDATE equipment_stockbalance
       SET on_hand = on_hand + %(dh)s, reserved = reserved + %(dr)s, updated_at = now()
     WHERE location_id = %(location)s AND item_id = %(item)s
       AND on_hand + %(dh)s >= 0 AND reserved + %(dr)s >= 0
       AND reserved + %(dr)s <= on_hand + %(dh)s
 RETURNING id, on_hand, reserved, reorder_point
"""


def _balance_ensure(location: Location, item: Item) -> None:
    StockBalance.objects.bulk_create(
        [StockBalance(organization_id=location.organization_id, location=location, item=item)],
        ignore_conflicts=True,
    )


def balance_move(
    *,
    actor: User | None,
    location: Location,
    item: Item,
    kind: str,
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    **fields: Any,
) -> StockMovement:
    """Change one balance and write its ledger row, in the caller's transaction, or raise
    ``InsufficientStock`` with nothing written. Callers check permissions first."""
    _balance_ensure(location, item)
    params = {
        "dh": on_hand_delta,
        "dr": reserved_delta,
        "location": location.pk,
        "item": item.pk,
    }
    with connection.cursor() as cur:
        cur.execute(_MOVE_SQL, params)
        row = cur.fetchone()
    if row is None:
        balance = StockBalance.objects.get(location=location, item=item)
        raise InsufficientStock(
            f"Only {max(balance.available, 0)} of {item.name} available at {location.name}.",
            extra={"field": "quantity", "available": balance.available},
        )
    after = BalanceAfter(*row)
    movement = StockMovement.objects.create(
        organization_id=location.organization_id,
        location=location,
        item=item,
        kind=kind,
        on_hand_delta=on_hand_delta,
        reserved_delta=reserved_delta,
        on_hand_after=after.on_hand,
        reserved_after=after.reserved,
        actor=actor if actor is not None and actor.pk else None,
        **fields,
    )
    _low_stock_check(location, item, after, on_hand_delta - reserved_delta)
    return movement


def _low_stock_check(location: Location, item: Item, after: BalanceAfter, change: int) -> None:
    if after.reorder_point is None or change >= 0:
        return
    available = after.on_hand - after.reserved
    before = available - change
    if before >= after.reorder_point > available:
        event_record(
            name=LOW_STOCK_EVENT,
            organization=location.organization,
            payload={"balance_id": after.balance_id, "available": available},
        )


# ------------------------------------------------------------------------- checks


def _check_scope(actor: User, location: Location, item: Item, *, dispense: bool = False) -> None:
    allowed = can_dispense_at(actor, location) if dispense else can_manage_stock_at(actor, location)
    if not allowed or item.organization_id != actor.organization_id:
        raise PermissionDenied("You cannot change stock at that location.")


def _check_quantity(quantity: int) -> int:
    if not isinstance(quantity, int) or quantity <= 0:
        raise StockInvalid("Enter a quantity of at least 1.", extra={"field": "quantity"})
    if quantity > MAX_QUANTITY:
        raise StockInvalid("That quantity is too large.", extra={"field": "quantity"})
    return quantity


def _check_serials(item: Item, serial_numbers: Sequence[str], quantity: int) -> list[str]:
    serials = [s.strip() for s in serial_numbers if s and s.strip()]
    if not item.serialized:
        if serials:
            raise StockInvalid(
                f"{item.name} is not serialized: leave the serial numbers empty.",
                extra={"field": "serial_numbers"},
            )
        return []
    if len(serials) != quantity:
        raise StockInvalid(
            f"{item.name} is serialized: give one serial number per unit "
            f"({quantity} expected, {len(serials)} given).",
            extra={"field": "serial_numbers"},
        )
    if len(set(serials)) != len(serials):
        raise StockInvalid("A serial number is listed twice.", extra={"field": "serial_numbers"})
    bad = [s for s in serials if not _SERIAL_TEXT.match(s)]
    if bad:
        raise StockInvalid(
            "Serial numbers are letters, digits, dots, dashes and slashes (at most 60).",
            extra={"field": "serial_numbers"},
        )
    return serials


def _check_patient(actor: User, patient: Patient | None, item: Item) -> None:
    if patient is None:
        if item.serialized:
            raise StockInvalid(
                f"{item.name} is serialized: choose the patient who receives it.",
                extra={"field": "patient"},
            )
        return
    if patient.organization_id != actor.organization_id:
        raise PermissionDenied("That patient is not available to you.")


def _audit(actor: User, action: str, item: Item, location: Location, **details: Any) -> None:
    audit_record(actor=actor, action=action, obj=item, location=location, details=details)


def _serials_take(
    item: Item, location: Location, serials: Iterable[str], status: str
) -> list[SerialUnit]:
    """Lock the named units of ``item`` that are in ``status`` at ``location``, or refuse."""
    serials = list(serials)
    units = list(
        SerialUnit.objects.select_for_update()
        .filter(item=item, location=location, status=status, serial_number__in=serials)
        .order_by("pk")
    )
    found = {u.serial_number for u in units}
    missing = [s for s in serials if s not in found]
    if missing:
        shown = ", ".join(missing[:5])
        raise StockInvalid(f"Not in stock here: {shown}.", extra={"field": "serial_numbers"})
    return units


def _serial_event(
    unit: SerialUnit,
    kind: str,
    actor: User | None,
    *,
    patient: Patient | None = None,
    note: str = "",
) -> None:
    SerialEvent.objects.create(
        organization_id=unit.organization_id,
        serial=unit,
        kind=kind,
        location_id=unit.location_id,
        patient=patient,
        actor=actor if actor is not None and actor.pk else None,
        note=note,
    )


# ------------------------------------------------------------------------- receive, move


@transaction.atomic
def stock_receive(
    *,
    actor: User,
    location: Location,
    item: Item,
    quantity: int,
    serial_numbers: Sequence[str] = (),
    lot: str = "",
    expires_on: date | None = None,
) -> list[StockMovement]:
    """Receive units into ``location``: one ledger row per serial unit, or one for the lot."""
    _check_scope(actor, location, item)
    if not item.is_active:
        raise StockInvalid(f"{item.name} is no longer in the catalogue.", extra={"field": "item"})
    quantity = _check_quantity(quantity)
    serials = _check_serials(item, serial_numbers, quantity)
    lot = (lot or "").strip()[:60]
    movements: list[StockMovement] = []
    if serials:
        taken = set(
            SerialUnit.objects.filter(item=item, serial_number__in=serials).values_list(
                "serial_number", flat=True
            )
        )
        if taken:
            raise StockInvalid(
                f"Already received: {', '.join(sorted(taken)[:5])}.",
                extra={"field": "serial_numbers"},
            )
        for serial in serials:
            try:
                with transaction.atomic():
                    unit = SerialUnit.objects.create(
                        organization_id=location.organization_id,
                        item=item,
                        location=location,
                        serial_number=serial,
                        lot=lot,
                        expires_on=expires_on,
                    )
            except IntegrityError as exc:  # received at the same moment by someone else
                raise StockInvalid(
                    f"Already received: {serial}.", extra={"field": "serial_numbers"}
                ) from exc
            movements.append(
                balance_move(
                    actor=actor,
                    location=location,
                    item=item,
                    kind=MovementKind.RECEIVE,
                    on_hand_delta=1,
                    serial=unit,
                    lot=lot,
                    expires_on=expires_on,
                )
            )
            _serial_event(unit, SerialEventKind.RECEIVED, actor)
    else:
        movements.append(
            balance_move(
                actor=actor,
                location=location,
                item=item,
                kind=MovementKind.RECEIVE,
                on_hand_delta=quantity,
                lot=lot,
                expires_on=expires_on,
            )
        )
    _audit(actor, "stock.received", item, location, quantity=quantity)
    return movements


@transaction.atomic
def stock_transfer(
    *,
    actor: User,
    from_location: Location,
    to_location: Location,
    item: Item,
    quantity: int,
    serial_numbers: Sequence[str] = (),
) -> uuid.UUID:
    """Move available units between two locations of the organization; returns the transfer id
    shared by both legs in the ledger."""
    _check_scope(actor, from_location, item)
    if to_location.organization_id != from_location.organization_id or not to_location.is_active:
        raise PermissionDenied("You cannot move stock to that location.")
    if to_location.pk == from_location.pk:
        raise StockInvalid(
            "Choose a different location to transfer to.", extra={"field": "to_location"}
        )
    quantity = _check_quantity(quantity)
    serials = _check_serials(item, serial_numbers, quantity)
    transfer_id = uuid.uuid4()
    units = _serials_take(item, from_location, serials, SerialStatus.IN_STOCK) if serials else []
    # Both balances are locked in location order, so two opposite transfers cannot deadlock.
    legs = sorted(
        [
            (from_location, MovementKind.TRANSFER_OUT, -1),
            (to_location, MovementKind.TRANSFER_IN, 1),
        ],
        key=lambda leg: leg[0].pk,
    )
    for location, kind, sign in legs:
        if units:
            for unit in units:
                balance_move(
                    actor=actor,
                    location=location,
                    item=item,
                    kind=kind,
                    on_hand_delta=sign,
                    serial=unit,
                    transfer_id=transfer_id,
                )
        else:
            balance_move(
                actor=actor,
                location=location,
                item=item,
                kind=kind,
                on_hand_delta=sign * quantity,
                transfer_id=transfer_id,
            )
    for unit in units:
        unit.location = to_location
        unit.save(update_fields=["location", "updated_at"])
        _serial_event(unit, SerialEventKind.TRANSFERRED, actor)
    _audit(
        actor,
        "stock.transferred",
        item,
        from_location,
        quantity=quantity,
        to_location=str(to_location.public_id),
    )
    return transfer_id


@transaction.atomic
def stock_adjust(
    *,
    actor: User,
    location: Location,
    item: Item,
    delta: int,
    reason: str,
    note: str = "",
) -> StockMovement:
    """Correct the on-hand count of a non-serialized item, with a reason."""
    _check_scope(actor, location, item)
    if item.serialized:
        raise StockInvalid(
            f"{item.name} is counted by serial number: receive or retire units instead.",
            extra={"field": "item"},
        )
    if not isinstance(delta, int) or delta == 0:
        raise StockInvalid("Enter a change other than 0.", extra={"field": "delta"})
    if abs(delta) > MAX_QUANTITY:
        raise StockInvalid("That change is too large.", extra={"field": "delta"})
    if reason not in AdjustReason.values:
        raise StockInvalid("Choose a reason.", extra={"field": "reason"})
    note = (note or "").strip()
    if reason == AdjustReason.OTHER and not note:
        raise StockInvalid("Say why in the note.", extra={"field": "note"})
    try:
        movement = balance_move(
            actor=actor,
            location=location,
            item=item,
            kind=MovementKind.ADJUST,
            on_hand_delta=delta,
            reason=reason,
            note=note[:200],
        )
    except InsufficientStock as exc:
        raise InsufficientStock(
            exc.message + " An adjustment cannot take more than that.",
            extra={"field": "delta"},
        ) from exc
    _audit(actor, "stock.adjusted", item, location, delta=delta, reason=reason)
    return movement


# ------------------------------------------------------------------------- reserve, dispense


@transaction.atomic
def stock_reserve(
    *,
    actor: User,
    location: Location,
    item: Item,
    quantity: int,
    reference: str = "",
    needed_on: date | None = None,
) -> Reservation:
    """Hold available units for a scheduled delivery."""
    _check_scope(actor, location, item)
    quantity = _check_quantity(quantity)
    reservation = Reservation.objects.create(
        organization_id=location.organization_id,
        location=location,
        item=item,
        quantity=quantity,
        reference=(reference or "").strip()[:64],
        needed_on=needed_on,
        created_by=actor,
    )
    balance_move(
        actor=actor,
        location=location,
        item=item,
        kind=MovementKind.RESERVE,
        reserved_delta=quantity,
        reservation=reservation,
    )
    _audit(actor, "stock.reserved", item, location, quantity=quantity)
    return reservation


def _reservation_lock(reservation: Reservation) -> Reservation:
    locked = (
        Reservation.objects.select_for_update()
        .select_related("item", "location")
        .get(pk=reservation.pk)
    )
    if locked.status != ReservationStatus.ACTIVE:
        raise StockInvalid(f"This reservation is already {locked.get_status_display().lower()}.")
    return locked


@transaction.atomic
def reservation_release(*, actor: User, reservation: Reservation) -> Reservation:
    """Give the held units back to the available figure. Whoever may dispense the reservation
    may release it (a technician whose delivery failed brings the units back)."""
    _check_scope(actor, reservation.location, reservation.item, dispense=True)
    reservation = _reservation_lock(reservation)
    balance_move(
        actor=actor,
        location=reservation.location,
        item=reservation.item,
        kind=MovementKind.RELEASE,
        reserved_delta=-reservation.quantity,
        reservation=reservation,
    )
    reservation.status = ReservationStatus.RELEASED
    reservation.save(update_fields=["status", "updated_at"])
    _audit(actor, "stock.reservation_released", reservation.item, reservation.location)
    return reservation


def _dispense(
    *,
    actor: User,
    location: Location,
    item: Item,
    quantity: int,
    serial_numbers: Sequence[str],
    patient: Patient | None,
    reservation: Reservation | None,
) -> list[StockMovement]:
    _check_patient(actor, patient, item)
    serials = _check_serials(item, serial_numbers, quantity)
    reserved_delta = -1 if reservation is not None else 0
    movements: list[StockMovement] = []
    if serials:
        for unit in _serials_take(item, location, serials, SerialStatus.IN_STOCK):
            movements.append(
                balance_move(
                    actor=actor,
                    location=location,
                    item=item,
                    kind=MovementKind.DISPENSE,
                    on_hand_delta=-1,
                    reserved_delta=reserved_delta,
                    serial=unit,
                    patient=patient,
                    reservation=reservation,
                )
            )
            unit.status = SerialStatus.ASSIGNED
            unit.patient = patient
            unit.save(update_fields=["status", "patient", "updated_at"])
            _serial_event(unit, SerialEventKind.ASSIGNED, actor, patient=patient)
    else:
        movements.append(
            balance_move(
                actor=actor,
                location=location,
                item=item,
                kind=MovementKind.DISPENSE,
                on_hand_delta=-quantity,
                reserved_delta=reserved_delta * quantity,
                patient=patient,
                reservation=reservation,
            )
        )
    _audit(
        actor,
        "stock.dispensed",
        item,
        location,
        quantity=quantity,
        patient=str(patient.public_id) if patient is not None else None,
    )
    return movements


@transaction.atomic
def stock_dispense(
    *,
    actor: User,
    location: Location,
    item: Item,
    quantity: int,
    serial_numbers: Sequence[str] = (),
    patient: Patient | None = None,
) -> list[StockMovement]:
    """Hand out available units (to ``patient`` when given; serialized units always go to a
    patient, who then holds them). Refused with nothing written when too few are available."""
    _check_scope(actor, location, item, dispense=True)
    quantity = _check_quantity(quantity)
    return _dispense(
        actor=actor,
        location=location,
        item=item,
        quantity=quantity,
        serial_numbers=serial_numbers,
        patient=patient,
        reservation=None,
    )


@transaction.atomic
def reservation_dispense(
    *,
    actor: User,
    reservation: Reservation,
    serial_numbers: Sequence[str] = (),
    patient: Patient | None = None,
) -> list[StockMovement]:
    """Dispense the units a reservation holds, and close it."""
    _check_scope(actor, reservation.location, reservation.item, dispense=True)
    reservation = _reservation_lock(reservation)
    movements = _dispense(
        actor=actor,
        location=reservation.location,
        item=reservation.item,
        quantity=reservation.quantity,
        serial_numbers=serial_numbers,
        patient=patient,
        reservation=reservation,
    )
    reservation.status = ReservationStatus.DISPENSED
    reservation.save(update_fields=["status", "updated_at"])
    return movements


# ------------------------------------------------------------------------- serial units


def _serial_lock(unit: SerialUnit, *statuses: str) -> SerialUnit:
    locked = (
        SerialUnit.objects.select_for_update().select_related("item", "location").get(pk=unit.pk)
    )
    if locked.status not in statuses:
        raise StockInvalid(f"This unit is {locked.get_status_display().lower()}.")
    return locked


@transaction.atomic
def serial_return(*, actor: User, unit: SerialUnit, location: Location) -> SerialUnit:
    """A patient's unit comes back into stock at ``location``."""
    _check_scope(actor, location, unit.item, dispense=True)
    unit = _serial_lock(unit, SerialStatus.ASSIGNED)
    patient_id = unit.patient_id
    unit.status = SerialStatus.IN_STOCK
    unit.patient = None
    unit.location = location
    unit.save(update_fields=["status", "patient", "location", "updated_at"])
    balance_move(
        actor=actor,
        location=location,
        item=unit.item,
        kind=MovementKind.RETURN,
        on_hand_delta=1,
        serial=unit,
        patient_id=patient_id,
    )
    _serial_event(unit, SerialEventKind.RETURNED, actor)
    _audit(actor, "serial.returned", unit.item, location, serial=str(unit.public_id))
    return unit


@transaction.atomic
def serial_send_for_repair(*, actor: User, unit: SerialUnit, note: str = "") -> SerialUnit:
    _check_scope(actor, unit.location, unit.item)
    unit = _serial_lock(unit, SerialStatus.IN_STOCK)
    balance_move(
        actor=actor,
        location=unit.location,
        item=unit.item,
        kind=MovementKind.REPAIR_OUT,
        on_hand_delta=-1,
        serial=unit,
        note=(note or "").strip()[:200],
    )
    unit.status = SerialStatus.IN_REPAIR
    unit.save(update_fields=["status", "updated_at"])
    _serial_event(unit, SerialEventKind.SENT_FOR_REPAIR, actor, note=(note or "").strip()[:200])
    _audit(actor, "serial.sent_for_repair", unit.item, unit.location, serial=str(unit.public_id))
    return unit


@transaction.atomic
def serial_repaired(*, actor: User, unit: SerialUnit, note: str = "") -> SerialUnit:
    _check_scope(actor, unit.location, unit.item)
    unit = _serial_lock(unit, SerialStatus.IN_REPAIR)
    balance_move(
        actor=actor,
        location=unit.location,
        item=unit.item,
        kind=MovementKind.REPAIR_IN,
        on_hand_delta=1,
        serial=unit,
        note=(note or "").strip()[:200],
    )
    unit.status = SerialStatus.IN_STOCK
    unit.save(update_fields=["status", "updated_at"])
    _serial_event(unit, SerialEventKind.REPAIRED, actor, note=(note or "").strip()[:200])
    _audit(actor, "serial.repaired", unit.item, unit.location, serial=str(unit.public_id))
    return unit


@transaction.atomic
def serial_retire(*, actor: User, unit: SerialUnit, note: str = "") -> SerialUnit:
    """Take a unit out of service for good (from stock or from repair)."""
    _check_scope(actor, unit.location, unit.item)
    unit = _serial_lock(unit, SerialStatus.IN_STOCK, SerialStatus.IN_REPAIR)
    note = (note or "").strip()[:200]
    if unit.status == SerialStatus.IN_STOCK:
        balance_move(
            actor=actor,
            location=unit.location,
            item=unit.item,
            kind=MovementKind.RETIRE,
            on_hand_delta=-1,
            serial=unit,
            note=note,
        )
    unit.status = SerialStatus.RETIRED
    unit.save(update_fields=["status", "updated_at"])
    _serial_event(unit, SerialEventKind.RETIRED, actor, note=note)
    _audit(actor, "serial.retired", unit.item, unit.location, serial=str(unit.public_id))
    return unit


# ------------------------------------------------------------------------- reorder points


@transaction.atomic
def reorder_point_set(
    *, actor: User, location: Location, item: Item, reorder_point: int | None
) -> StockBalance:
    """Set (or clear, with None) the level below which ``item`` at ``location`` is low."""
    _check_scope(actor, location, item)
    if reorder_point is not None and (reorder_point < 0 or reorder_point > MAX_QUANTITY):
        raise StockInvalid("Enter a reorder point of 0 or more.", extra={"field": "reorder_point"})
    _balance_ensure(location, item)
    balance = StockBalance.objects.select_for_update().get(location=location, item=item)
    balance.reorder_point = reorder_point
    balance.save(update_fields=["reorder_point", "updated_at"])
    _audit(actor, "stock.reorder_point_set", item, location, reorder_point=reorder_point)
    return balance
