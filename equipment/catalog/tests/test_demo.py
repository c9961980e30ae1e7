"""The demo catalogue ``make run`` loads (through ``EquipmentConfig.seed_demo``)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from clinic.models import Role
from clinic.tests.factories import LocationFactory
from equipment.catalog.models import Item
from equipment.delivery.models import DeliveryTicket, TicketState
from equipment.demo import CATALOG, demo_deliveries_seed, demo_equipment_seed
from equipment.stock.models import SerialUnit, StockMovement
from equipment.stock.selectors import low_stock_visible_to
from equipment.tests.factories import ledger_sum
from patients.tests.factories import PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


def test_demo_loads_common_cpap_items_with_stock_at_every_location(admin, location):
    second = LocationFactory.create(organization=location.organization)
    demo_equipment_seed(admin=admin, locations=[location, second])
    items = Item.objects.filter(organization=location.organization)
    assert items.count() == len(CATALOG)
    assert {"E0601", "A7030", "A7031", "A7034", "A7032", "A7033", "A7035", "A7036"} <= set(
        items.values_list("hcpcs", flat=True)
    )
    devices = items.filter(serialized=True)
    assert SerialUnit.objects.filter(item__in=devices, location=second).exists()
    for item in items:
        for loc in (location, second):
            balance = item.balances.get(location=loc)
            assert balance.on_hand == ledger_sum(loc, item) > 0
    assert StockMovement.objects.exists()
    assert low_stock_visible_to(admin).exists()  # the demo has something to reorder


def test_demo_schedules_a_delivery_for_the_technician_today(admin, technician, location):
    physician = PhysicianFactory.create(organization=location.organization)
    PatientFactory.create(home_location=location, address_line1="1 Demo Street")
    demo_equipment_seed(admin=admin, locations=[location])
    demo_deliveries_seed(
        admin=admin, locations=[location], users={Role.FIELD_TECHNICIAN: technician}
    )
    ticket = DeliveryTicket.objects.get()
    assert (ticket.state, ticket.technician, ticket.physician) == (
        TicketState.SCHEDULED,
        technician,
        physician,
    )
    assert ticket.date_of_service == timezone.localdate()


def test_demo_deliveries_need_a_technician(admin, location):
    demo_equipment_seed(admin=admin, locations=[location])
    demo_deliveries_seed(admin=admin, locations=[location], users={})
    assert not DeliveryTicket.objects.exists()
