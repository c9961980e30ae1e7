"""Factories of the equipment app, and its rows for the cross-app tenant walk."""

from __future__ import annotations

import base64
import io
from datetime import date
from typing import Any

import factory
from PIL import Image

from clinic.models import Location, Role
from clinic.tests.factories import OrganizationFactory, staff_user
from equipment.catalog.models import Item, ItemKind
from equipment.delivery.services import (
    LineIn,
    ticket_create,
    ticket_deliver,
    ticket_dispatch,
    ticket_schedule,
)
from equipment.fleet.services import equipment_record, rental_month_record
from equipment.stock.models import StockBalance, StockMovement
from equipment.stock.services import (
    reorder_point_set,
    serial_send_for_repair,
    stock_dispense,
    stock_receive,
    stock_reserve,
)
from patients.tests.factories import PatientFactory, PhysicianFactory


class ItemFactory(factory.django.DjangoModelFactory[Item]):
    class Meta:
        model = Item

    organization = factory.SubFactory(OrganizationFactory)
    hcpcs = "A7030"
    name = factory.Sequence(lambda n: f"Full face mask {n}")
    manufacturer = "ResMed"
    model_number = "AirFit F20"
    kind = ItemKind.MASK
    size = "Medium"
    serialized = False


class DeviceFactory(ItemFactory):
    hcpcs = "E0601"
    name = factory.Sequence(lambda n: f"AutoSet CPAP {n}")
    model_number = "AirSense 11"
    kind = ItemKind.DEVICE
    size = ""
    serialized = True


def balance_of(location: Location, item: Item) -> StockBalance:
    return StockBalance.objects.get(location=location, item=item)


def ledger_sum(location: Location, item: Item) -> int:
    return sum(
        StockMovement.objects.filter(location=location, item=item).values_list(
            "on_hand_delta", flat=True
        )
    )


def png_data_url(width: int = 40, height: int = 20) -> str:
    """A signature image as the phone's signature pad sends it."""
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 0, 0, 255)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def equipment_rows_for_tenant_walk(location: Location) -> dict[str, Any]:
    """One row of every equipment model at ``location`` (tests/test_tenant_isolation.py):
    an item and a device, a balance with a reorder point, ledger rows, a reservation, and
    serial units (one with a patient, one in repair) with their history; the patient's rented
    device with one counted month; a delivered ticket with its lines and proof."""
    admin = staff_user(role=Role.ADMIN, location=location, full_name="Quinn Alphastock")
    item = ItemFactory.create(organization=location.organization, name=f"Alphamask {location.pk}")
    device = DeviceFactory.create(
        organization=location.organization, name=f"Alphadevice {location.pk}"
    )
    stock_receive(actor=admin, location=location, item=item, quantity=5, lot="ALPHALOT1")
    reorder_point_set(actor=admin, location=location, item=item, reorder_point=5)
    reservation = stock_reserve(
        actor=admin, location=location, item=item, quantity=1, reference="ALPHA-T1"
    )
    stock_receive(
        actor=admin,
        location=location,
        item=device,
        quantity=2,
        serial_numbers=["ALPHASN0001", "ALPHASN0002"],
    )
    patient = PatientFactory.create(
        home_location=location, first_name="Alma", last_name="Alphaequip"
    )
    stock_dispense(
        actor=admin,
        location=location,
        item=device,
        quantity=1,
        serial_numbers=["ALPHASN0001"],
        patient=patient,
    )
    rented = equipment_record(
        actor=admin,
        patient=patient,
        item=device,
        serial=device.serials.get(serial_number="ALPHASN0001"),
        setup_on=date(2026, 1, 5),
        acquisition="rental",
        settings={"mode": "APAP", "min_pressure": 6},
    )
    rental_month_record(actor=admin, record=rented, starts_on=date(2026, 1, 5))
    repair = device.serials.get(serial_number="ALPHASN0002")
    serial_send_for_repair(actor=admin, unit=repair, note="Alpha fan noise")
    technician = staff_user(
        role=Role.FIELD_TECHNICIAN, location=location, full_name="Tess Alphadrive"
    )
    stock_receive(
        actor=admin, location=location, item=device, quantity=1, serial_numbers=["ALPHASN0003"]
    )
    ticket = ticket_create(
        actor=admin,
        location=location,
        patient=patient,
        physician=PhysicianFactory.create(organization=location.organization),
        date_of_service=date(2026, 2, 1),
        method="home",
        address="1 Alpha Way",
        technician=technician,
        lines=[LineIn(item=item, quantity=1), LineIn(item=device, quantity=1)],
    )
    ticket_schedule(actor=admin, ticket=ticket)
    ticket_dispatch(actor=technician, ticket=ticket)
    ticket_deliver(
        actor=technician,
        ticket=ticket,
        recipient_name="Alma Alphaequip",
        relationship="self",
        signature_data_url=png_data_url(),
        serial_numbers={ticket.lines.get(item=device).pk: ["ALPHASN0003"]},
    )
    return {
        "item": item,
        "ticket": ticket,
        "device": device,
        "reservation": reservation,
        "patient": patient,
        "serial": device.serials.get(serial_number="ALPHASN0001"),
        "patient_equipment": rented,
    }
