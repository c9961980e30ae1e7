"""The guarantees the database keeps by itself, whatever the code above it does."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, ProgrammingError, transaction
from django.db.models import F

from equipment.stock.models import (
    SerialEvent,
    SerialStatus,
    SerialUnit,
    StockBalance,
    StockMovement,
)
from equipment.stock.services import stock_receive
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(admin, location, device, item):
    stock_receive(actor=admin, location=location, item=item, quantity=3)
    stock_receive(actor=admin, location=location, item=device, quantity=1, serial_numbers=["SN1"])


def test_ledger_rows_cannot_be_updated_or_deleted(received):
    move = StockMovement.objects.first()
    assert move is not None
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        StockMovement.objects.filter(pk=move.pk).update(on_hand_delta=100)
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        StockMovement.objects.filter(pk=move.pk).delete()
    move.refresh_from_db()
    assert move.on_hand_delta != 100


def test_serial_history_cannot_be_rewritten(received):
    event = SerialEvent.objects.get()
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        SerialEvent.objects.filter(pk=event.pk).update(note="rewritten")
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        SerialEvent.objects.filter(pk=event.pk).delete()


def test_database_refuses_negative_on_hand_and_overreservation(received, location, item):
    balance = StockBalance.objects.filter(location=location, item=item)
    with pytest.raises(IntegrityError), transaction.atomic():
        balance.update(on_hand=F("on_hand") - 4)
    with pytest.raises(IntegrityError), transaction.atomic():
        balance.update(reserved=4)
    assert balance.get().on_hand == 3


def test_database_refuses_a_patient_on_a_unit_that_is_not_assigned(received, location):
    unit = SerialUnit.objects.get()
    patient = PatientFactory(home_location=location)
    with pytest.raises(IntegrityError), transaction.atomic():
        SerialUnit.objects.filter(pk=unit.pk).update(patient=patient)
    with pytest.raises(IntegrityError), transaction.atomic():
        SerialUnit.objects.filter(pk=unit.pk).update(status=SerialStatus.ASSIGNED)
