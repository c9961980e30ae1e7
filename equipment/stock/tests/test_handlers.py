"""Stock that falls below its reorder point notifies the people who reorder, once, live."""

from __future__ import annotations

import pytest

from clinic.events.services import event_dispatch
from clinic.models import Notification, OutboxEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from equipment.stock.services import (
    LOW_STOCK_EVENT,
    reorder_point_set,
    stock_dispense,
    stock_receive,
)

pytestmark = pytest.mark.django_db


def test_low_stock_notifies_admins_and_the_locations_office_staff(admin, employee, location, item):
    technician = staff_user(role=Role.FIELD_TECHNICIAN, location=location)
    elsewhere = staff_user(
        role=Role.EMPLOYEE, location=LocationFactory(organization=location.organization)
    )
    stranger = staff_user(role=Role.ADMIN)
    stock_receive(actor=admin, location=location, item=item, quantity=4)
    reorder_point_set(actor=admin, location=location, item=item, reorder_point=3)
    stock_dispense(actor=technician, location=location, item=item, quantity=2)

    event = OutboxEvent.objects.get(name=LOW_STOCK_EVENT)
    assert event_dispatch(event_id=event.pk)
    assert not event_dispatch(event_id=event.pk)  # dispatched once

    notes = Notification.objects.filter(kind="equipment.low_stock")
    assert {n.recipient_id for n in notes} == {admin.pk, employee.pk}
    assert technician.pk not in {n.recipient_id for n in notes}
    assert {elsewhere.pk, stranger.pk}.isdisjoint({n.recipient_id for n in notes})
    note = notes.first()
    assert note is not None
    assert item.hcpcs in note.title and location.name in note.title
    assert "2 available, reorder point 3" in note.body
    assert note.url == "/equipment/stock/low"
