"""Demo equipment for ``manage.py seed_demo``: a catalogue of common CPAP items, stock at each
demo location (serialized devices with serial numbers) and reorder points, all through the
services an ADMIN would use, so the ledger and the audit log are real; and a delivery ticket
for today for the demo technician."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from clinic.models import Role
from equipment.catalog.models import Item, ItemKind
from equipment.catalog.services import item_create
from equipment.delivery.models import DeliveryMethod
from equipment.delivery.services import LineIn, ticket_create, ticket_schedule
from equipment.fleet.models import Acquisition
from equipment.stock.services import reorder_point_set, stock_receive
from patients.models import Patient, Physician

if TYPE_CHECKING:
    from clinic.models import Location, User


@dataclass(frozen=True)
class DemoItem:
    hcpcs: str
    name: str
    kind: str
    manufacturer: str = ""
    model_number: str = ""
    size: str = ""
    serialized: bool = False
    stock: int = 0
    reorder_point: int | None = None


CATALOG = [
    DemoItem(
        "E0601",
        "AirSense 11 AutoSet CPAP",
        ItemKind.DEVICE,
        "ResMed",
        "AirSense 11",
        serialized=True,
        stock=4,
        reorder_point=2,
    ),
    DemoItem(
        "E0601",
        "DreamStation 2 Auto CPAP",
        ItemKind.DEVICE,
        "Philips Respironics",
        "DreamStation 2",
        serialized=True,
        stock=2,
        reorder_point=1,
    ),
    DemoItem(
        "A7030",
        "AirFit F20 full face mask",
        ItemKind.MASK,
        "ResMed",
        "AirFit F20",
        size="Medium",
        stock=12,
        reorder_point=5,
    ),
    DemoItem(
        "A7030",
        "AirFit F20 full face mask",
        ItemKind.MASK,
        "ResMed",
        "AirFit F20",
        size="Small",
        stock=6,
        reorder_point=3,
    ),
    DemoItem(
        "A7031",
        "AirFit F20 full face cushion",
        ItemKind.CUSHION,
        "ResMed",
        "AirFit F20",
        size="Medium",
        stock=20,
        reorder_point=8,
    ),
    DemoItem(
        "A7034",
        "AirFit N20 nasal mask",
        ItemKind.MASK,
        "ResMed",
        "AirFit N20",
        size="Medium",
        stock=10,
        reorder_point=4,
    ),
    DemoItem(
        "A7032",
        "AirFit N20 nasal cushion",
        ItemKind.CUSHION,
        "ResMed",
        "AirFit N20",
        size="Medium",
        stock=18,
        reorder_point=8,
    ),
    DemoItem(
        "A7033",
        "AirFit P10 nasal pillows",
        ItemKind.PILLOWS,
        "ResMed",
        "AirFit P10",
        size="Medium",
        stock=16,
        reorder_point=6,
    ),
    DemoItem(
        "A7035",
        "AirFit F20 headgear",
        ItemKind.HEADGEAR,
        "ResMed",
        "AirFit F20",
        size="Standard",
        stock=8,
        reorder_point=3,
    ),
    DemoItem(
        "A7036",
        "Adjustable chinstrap",
        ItemKind.CHINSTRAP,
        "ResMed",
        size="Standard",
        stock=5,
        reorder_point=2,
    ),
    DemoItem(
        "A7037",
        "SlimLine tubing 6 ft",
        ItemKind.TUBING,
        "ResMed",
        "SlimLine",
        stock=15,
        reorder_point=6,
    ),
    DemoItem(
        "A4604",
        "ClimateLineAir heated tubing",
        ItemKind.TUBING,
        "ResMed",
        "ClimateLineAir 11",
        stock=9,
        reorder_point=4,
    ),
    DemoItem(
        "A7038",
        "Disposable fine filter (2 pack)",
        ItemKind.FILTER,
        "ResMed",
        stock=40,
        reorder_point=20,
    ),
    DemoItem(
        "A7039",
        "Non-disposable pollen filter",
        ItemKind.FILTER,
        "Philips Respironics",
        stock=3,
        reorder_point=5,
    ),
    DemoItem(
        "A7046",
        "HumidAir water chamber",
        ItemKind.CHAMBER,
        "ResMed",
        "HumidAir 11",
        stock=7,
        reorder_point=3,
    ),
]


def demo_equipment_seed(*, admin: User, locations: list[Location]) -> None:
    for n, spec in enumerate(CATALOG):
        item = item_create(
            actor=admin,
            hcpcs=spec.hcpcs,
            name=spec.name,
            kind=spec.kind,
            manufacturer=spec.manufacturer,
            model_number=spec.model_number,
            size=spec.size,
            serialized=spec.serialized,
        )
        for index, location in enumerate(locations):
            quantity = spec.stock if index == 0 else max(spec.stock // 2, 1)
            serials = (
                [f"{spec.model_number[:4].upper()}{n:02d}{index}{k:04d}" for k in range(quantity)]
                if spec.serialized
                else []
            )
            stock_receive(
                actor=admin,
                location=location,
                item=item,
                quantity=quantity,
                serial_numbers=serials,
                lot="" if spec.serialized else f"LOT{2600 + n}",
                expires_on=None if spec.serialized else date(2028, 6, 30),
            )
            if spec.reorder_point is not None:
                reorder_point_set(
                    actor=admin, location=location, item=item, reorder_point=spec.reorder_point
                )


def demo_deliveries_seed(*, admin: User, locations: list[Location], users: dict[str, Any]) -> None:
    """A delivery ticket for today, scheduled for the demo technician at the first location they
    work at (a rented CPAP and a mask), when the demo has a technician, a patient and a
    physician there."""
    technician = users.get(Role.FIELD_TECHNICIAN)
    if technician is None:
        return
    where = set(
        technician.memberships.filter(role=Role.FIELD_TECHNICIAN).values_list(
            "location_id", flat=True
        )
    )
    location = next((loc for loc in locations if loc.pk in where), None)
    if location is None:
        return
    patient = Patient.objects.filter(home_location=location).order_by("id").first()
    physician = Physician.objects.filter(organization=location.organization).order_by("id").first()
    items = Item.objects.filter(organization=location.organization)
    device = items.filter(hcpcs="E0601").order_by("id").first()
    mask = items.filter(hcpcs="A7030").order_by("id").first()
    if not (patient and physician and device and mask):
        return
    ticket = ticket_create(
        actor=admin,
        location=location,
        patient=patient,
        physician=physician,
        date_of_service=timezone.localdate(),
        method=DeliveryMethod.HOME,
        technician=technician,
        address=location.name if not patient.address_line1 else "",
        lines=[
            LineIn(item=device, quantity=1, acquisition=Acquisition.RENTAL),
            LineIn(item=mask, quantity=1),
        ],
    )
    ticket_schedule(actor=admin, ticket=ticket)
