"""Many technicians dispense the last units at the same moment, each on their own database
connection: exactly as many succeed as there were units, the rest are told how many are left,
on hand ends at zero and the ledger adds up to the balance."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from clinic.models import Role
from clinic.tests.factories import staff_user
from equipment.stock.models import SerialStatus, SerialUnit, StockMovement
from equipment.stock.services import (
    InsufficientStock,
    StockInvalid,
    stock_dispense,
    stock_receive,
    stock_reserve,
)
from equipment.tests.factories import balance_of, ledger_sum
from patients.tests.factories import PatientFactory

ATTEMPTS = 40
UNITS = 10


def race(attempt, n: int = ATTEMPTS) -> tuple[list, list]:
    """Run ``attempt(i)`` in ``n`` threads released together; (results, errors)."""
    barrier = threading.Barrier(n)
    results: list = []
    errors: list = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait()
            value = attempt(i)
            with lock:
                results.append(value)
        except Exception as exc:  # collected and asserted on by the caller
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_forty_technicians_dispense_the_last_ten_units_exactly_ten_succeed(location, item):
    admin = staff_user(role=Role.ADMIN, location=location)
    techs = [staff_user(role=Role.FIELD_TECHNICIAN, location=location) for _ in range(ATTEMPTS)]
    stock_receive(actor=admin, location=location, item=item, quantity=UNITS)

    won, refused = race(
        lambda i: stock_dispense(actor=techs[i], location=location, item=item, quantity=1)
    )

    assert len(won) == UNITS
    assert len(refused) == ATTEMPTS - UNITS
    assert all(isinstance(e, InsufficientStock) for e in refused), {type(e) for e in refused}
    assert balance_of(location, item).on_hand == 0
    assert ledger_sum(location, item) == 0
    assert StockMovement.objects.filter(kind="dispense").count() == UNITS


@pytest.mark.django_db(transaction=True)
def test_dispenses_and_reservations_together_never_overcommit(location, item):
    admin = staff_user(role=Role.ADMIN, location=location)
    stock_receive(actor=admin, location=location, item=item, quantity=UNITS)

    def attempt(i: int):
        if i % 2:
            return stock_reserve(actor=admin, location=location, item=item, quantity=1)
        return stock_dispense(actor=admin, location=location, item=item, quantity=1)

    won, refused = race(attempt)

    assert len(won) == UNITS
    assert all(isinstance(e, InsufficientStock) for e in refused)
    balance = balance_of(location, item)
    assert balance.available == 0
    assert 0 <= balance.reserved <= balance.on_hand


@pytest.mark.django_db(transaction=True)
def test_one_serial_dispensed_to_many_patients_at_once_goes_to_exactly_one(location, device):
    admin = staff_user(role=Role.ADMIN, location=location)
    stock_receive(actor=admin, location=location, item=device, quantity=1, serial_numbers=["SN1"])
    patients = [PatientFactory(home_location=location) for _ in range(20)]

    won, refused = race(
        lambda i: stock_dispense(
            actor=admin,
            location=location,
            item=device,
            quantity=1,
            serial_numbers=["SN1"],
            patient=patients[i],
        ),
        n=20,
    )

    assert len(won) == 1
    assert all(isinstance(e, StockInvalid | InsufficientStock) for e in refused)
    unit = SerialUnit.objects.get()
    assert unit.status == SerialStatus.ASSIGNED
    assert unit.patient_id == won[0][0].patient_id
    assert balance_of(location, device).on_hand == 0
