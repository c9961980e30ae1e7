"""The catalogue in the Django admin: organization ADMINs add and edit their own items."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import AuditEvent
from equipment.catalog.models import Item
from equipment.stock.models import StockMovement
from equipment.stock.services import stock_receive
from equipment.tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


def test_org_admin_adds_an_item_in_the_admin_for_their_organization(signed_in, admin):
    client = signed_in(admin)
    response = client.post(
        reverse("admin:equipment_item_add"),
        {"hcpcs": "A7046", "name": "Water chamber", "kind": "chamber", "is_active": "on"},
    )
    assert response.status_code == 302, response.content[:500]
    item = Item.objects.get()
    assert item.organization_id == admin.organization_id
    assert AuditEvent.objects.filter(object_id=str(item.public_id)).exists()


def test_admin_lists_only_own_items_and_ledger_is_read_only(signed_in, admin, location, item):
    foreign = ItemFactory(name="Foreign chamber")
    stock_receive(actor=admin, location=location, item=item, quantity=1)
    client = signed_in(admin)
    listing = client.get(reverse("admin:equipment_item_changelist")).content
    assert item.name.encode() in listing and b"Foreign chamber" not in listing
    url = reverse("admin:equipment_item_change", args=[foreign.pk])
    assert client.get(url).status_code == 404
    move = StockMovement.objects.get()
    change = reverse("admin:equipment_stockmovement_change", args=[move.pk])
    assert client.post(change, {"on_hand_delta": "99"}).status_code == 403
    assert client.get(reverse("admin:equipment_stockmovement_add")).status_code == 403
