from __future__ import annotations

import datetime

import pytest

from clinic.models import AuditEvent, OutboxEvent
from clinic.tests.factories import LocationFactory
from equipment.stock.models import (
    MovementKind,
    Reservation,
    ReservationStatus,
    SerialEventKind,
    SerialStatus,
    SerialUnit,
    StockMovement,
)
from equipment.stock.services import (
    LOW_STOCK_EVENT,
    InsufficientStock,
    StockInvalid,
    reorder_point_set,
    reservation_dispense,
    reservation_release,
    serial_numbers_parse,
    serial_repaired,
    serial_retire,
    serial_return,
    serial_send_for_repair,
    stock_adjust,
    stock_dispense,
    stock_receive,
    stock_reserve,
    stock_transfer,
)
from equipment.tests.factories import balance_of, ledger_sum
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _receive(admin, location, item, n=10, **kw):
    return stock_receive(actor=admin, location=location, item=item, quantity=n, **kw)


def test_receive_adds_to_the_balance_with_lot_expiry_and_an_audit_row(admin, location, item):
    (move,) = _receive(admin, location, item, 7, lot="L1", expires_on=datetime.date(2028, 1, 31))
    assert (move.kind, move.on_hand_delta, move.on_hand_after) == (MovementKind.RECEIVE, 7, 7)
    assert (move.lot, move.expires_on) == ("L1", datetime.date(2028, 1, 31))
    assert balance_of(location, item).on_hand == 7
    audit = AuditEvent.objects.get(action="stock.received")
    assert audit.details == {"quantity": 7}
    assert audit.location_id == location.pk


def test_serialized_receive_makes_one_unit_and_one_ledger_row_per_serial(admin, location, device):
    moves = _receive(admin, location, device, 2, serial_numbers=["SN1", "SN2"])
    assert len(moves) == 2 and balance_of(location, device).on_hand == 2
    units = SerialUnit.objects.filter(item=device).order_by("serial_number")
    assert [u.serial_number for u in units] == ["SN1", "SN2"]
    assert all(u.status == SerialStatus.IN_STOCK for u in units)
    assert [e.kind for e in units[0].events.all()] == [SerialEventKind.RECEIVED]


@pytest.mark.parametrize(
    ("quantity", "serials", "field"),
    [
        (2, ["SN1"], "serial_numbers"),
        (2, ["SN1", "SN1"], "serial_numbers"),
        (1, [], "serial_numbers"),
        (1, ["bad serial!"], "serial_numbers"),
        (0, [], "quantity"),
    ],
)
def test_bad_serialized_receipts_are_refused_with_nothing_written(
    admin, location, device, quantity, serials, field
):
    with pytest.raises(StockInvalid) as exc:
        _receive(admin, location, device, quantity, serial_numbers=serials)
    assert exc.value.extra["field"] == field
    assert not StockMovement.objects.exists() and not SerialUnit.objects.exists()


def test_a_serial_number_is_received_only_once(admin, location, device):
    _receive(admin, location, device, 1, serial_numbers=["SN1"])
    with pytest.raises(StockInvalid, match="Already received: SN1"):
        _receive(admin, location, device, 1, serial_numbers=["SN1"])
    assert balance_of(location, device).on_hand == 1


def test_serials_on_a_plain_item_are_refused(admin, location, item):
    with pytest.raises(StockInvalid):
        _receive(admin, location, item, 1, serial_numbers=["SN1"])


def test_serial_numbers_parse_accepts_lines_and_commas():
    assert serial_numbers_parse("A1\nA2, A3;\n\n A4 ") == ["A1", "A2", "A3", "A4"]


def test_transfer_moves_units_between_locations_with_two_ledger_legs(admin, location, item):
    other = LocationFactory(organization=location.organization)
    _receive(admin, location, item, 10)
    transfer_id = stock_transfer(
        actor=admin, from_location=location, to_location=other, item=item, quantity=4
    )
    assert balance_of(location, item).on_hand == 6 and balance_of(other, item).on_hand == 4
    legs = StockMovement.objects.filter(transfer_id=transfer_id)
    assert sorted(m.on_hand_delta for m in legs) == [-4, 4]


def test_transfer_of_serials_moves_the_units(admin, location, device):
    other = LocationFactory(organization=location.organization)
    _receive(admin, location, device, 2, serial_numbers=["SN1", "SN2"])
    stock_transfer(
        actor=admin,
        from_location=location,
        to_location=other,
        item=device,
        quantity=1,
        serial_numbers=["SN2"],
    )
    unit = SerialUnit.objects.get(serial_number="SN2")
    assert unit.location == other
    assert [e.kind for e in unit.events.all()][-1] == SerialEventKind.TRANSFERRED
    assert balance_of(other, device).on_hand == 1 and balance_of(location, device).on_hand == 1


def test_transfer_beyond_available_is_refused_with_nothing_written(admin, location, item):
    other = LocationFactory(organization=location.organization)
    _receive(admin, location, item, 3)
    stock_reserve(actor=admin, location=location, item=item, quantity=2)
    before = StockMovement.objects.count()
    with pytest.raises(InsufficientStock, match="Only 1"):
        stock_transfer(
            actor=admin, from_location=location, to_location=other, item=item, quantity=2
        )
    assert StockMovement.objects.count() == before
    assert balance_of(location, item).on_hand == 3


def test_transfer_to_another_organization_is_refused(admin, location, item):
    _receive(admin, location, item, 3)
    foreign = LocationFactory()
    with pytest.raises(Exception, match="cannot move stock"):
        stock_transfer(
            actor=admin, from_location=location, to_location=foreign, item=item, quantity=1
        )
    assert balance_of(location, item).on_hand == 3


def test_adjust_needs_a_reason_and_cannot_go_below_zero(admin, location, item):
    _receive(admin, location, item, 3)
    move = stock_adjust(actor=admin, location=location, item=item, delta=-2, reason="damaged")
    assert (move.reason, move.on_hand_after) == ("damaged", 1)
    with pytest.raises(InsufficientStock):
        stock_adjust(actor=admin, location=location, item=item, delta=-2, reason="lost")
    with pytest.raises(StockInvalid):
        stock_adjust(actor=admin, location=location, item=item, delta=1, reason="because")
    with pytest.raises(StockInvalid) as exc:
        stock_adjust(actor=admin, location=location, item=item, delta=1, reason="other")
    assert exc.value.extra["field"] == "note"
    assert balance_of(location, item).on_hand == 1
    assert AuditEvent.objects.filter(action="stock.adjusted").count() == 1


def test_adjusting_a_serialized_item_is_refused(admin, location, device):
    with pytest.raises(StockInvalid, match="serial"):
        stock_adjust(actor=admin, location=location, item=device, delta=1, reason="found")


def test_reserve_holds_units_and_dispensing_the_reservation_closes_it(admin, location, item):
    _receive(admin, location, item, 5)
    reservation = stock_reserve(
        actor=admin, location=location, item=item, quantity=3, reference="T-1"
    )
    balance = balance_of(location, item)
    assert (balance.on_hand, balance.reserved, balance.available) == (5, 3, 2)
    with pytest.raises(InsufficientStock):
        stock_dispense(actor=admin, location=location, item=item, quantity=3)
    reservation_dispense(actor=admin, reservation=reservation)
    balance = balance_of(location, item)
    assert (balance.on_hand, balance.reserved) == (2, 0)
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.DISPENSED
    with pytest.raises(StockInvalid, match="already dispensed"):
        reservation_dispense(actor=admin, reservation=reservation)


def test_releasing_a_reservation_frees_the_units(admin, location, item):
    _receive(admin, location, item, 2)
    reservation = stock_reserve(actor=admin, location=location, item=item, quantity=2)
    with pytest.raises(InsufficientStock):
        stock_reserve(actor=admin, location=location, item=item, quantity=1)
    assert Reservation.objects.count() == 1  # the refused one left nothing
    reservation_release(actor=admin, reservation=reservation)
    assert balance_of(location, item).available == 2


def test_dispense_beyond_on_hand_is_refused_with_nothing_written(admin, location, item):
    _receive(admin, location, item, 2)
    with pytest.raises(InsufficientStock):
        stock_dispense(actor=admin, location=location, item=item, quantity=3)
    assert balance_of(location, item).on_hand == 2
    assert not StockMovement.objects.filter(kind=MovementKind.DISPENSE).exists()
    assert not AuditEvent.objects.filter(action="stock.dispensed").exists()


def test_serialized_dispense_assigns_the_unit_to_the_patient(admin, location, device):
    _receive(admin, location, device, 1, serial_numbers=["SN1"])
    patient = PatientFactory(home_location=location)
    with pytest.raises(StockInvalid, match="patient"):
        stock_dispense(
            actor=admin, location=location, item=device, quantity=1, serial_numbers=["SN1"]
        )
    stock_dispense(
        actor=admin,
        location=location,
        item=device,
        quantity=1,
        serial_numbers=["SN1"],
        patient=patient,
    )
    unit = SerialUnit.objects.get()
    assert (unit.status, unit.patient) == (SerialStatus.ASSIGNED, patient)
    audit = AuditEvent.objects.get(action="stock.dispensed")
    assert audit.details["patient"] == str(patient.public_id)
    second = PatientFactory(home_location=location)
    with pytest.raises(StockInvalid, match="Not in stock"):
        stock_dispense(
            actor=admin,
            location=location,
            item=device,
            quantity=1,
            serial_numbers=["SN1"],
            patient=second,
        )
    unit.refresh_from_db()
    assert unit.patient == patient


def test_serial_history_received_assigned_returned_repaired_retired(admin, location, device):
    _receive(admin, location, device, 1, serial_numbers=["SN1"])
    patient = PatientFactory(home_location=location)
    stock_dispense(
        actor=admin,
        location=location,
        item=device,
        quantity=1,
        serial_numbers=["SN1"],
        patient=patient,
    )
    unit = SerialUnit.objects.get()
    serial_return(actor=admin, unit=unit, location=location)
    serial_send_for_repair(actor=admin, unit=unit, note="Motor noise")
    serial_repaired(actor=admin, unit=unit)
    serial_retire(actor=admin, unit=unit, note="End of life")
    unit.refresh_from_db()
    assert unit.status == SerialStatus.RETIRED and unit.patient is None
    assert [e.kind for e in unit.events.all()] == [
        "received",
        "assigned",
        "returned",
        "sent_for_repair",
        "repaired",
        "retired",
    ]
    assert balance_of(location, device).on_hand == 0
    assert ledger_sum(location, device) == 0
    with pytest.raises(StockInvalid, match="retired"):
        serial_send_for_repair(actor=admin, unit=unit)


def test_falling_below_the_reorder_point_records_one_event(admin, location, item):
    _receive(admin, location, item, 5)
    reorder_point_set(actor=admin, location=location, item=item, reorder_point=3)
    stock_dispense(actor=admin, location=location, item=item, quantity=2)  # 3 left: not below
    assert not OutboxEvent.objects.filter(name=LOW_STOCK_EVENT).exists()
    stock_dispense(actor=admin, location=location, item=item, quantity=1)  # 2 < 3: crossed
    stock_dispense(actor=admin, location=location, item=item, quantity=1)  # still below
    events = OutboxEvent.objects.filter(name=LOW_STOCK_EVENT)
    assert events.count() == 1
    assert events.get().payload == {"balance_id": balance_of(location, item).pk, "available": 2}


def test_reorder_point_must_not_be_negative(admin, location, item):
    with pytest.raises(StockInvalid):
        reorder_point_set(actor=admin, location=location, item=item, reorder_point=-1)
