from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from equipment.catalog.models import Item
from equipment.tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


def test_admin_adds_an_item_through_the_portal(signed_in, admin):
    client = signed_in(admin)
    response = client.post(
        reverse("equipment:item_new"),
        {"hcpcs": "A7037", "name": "Tubing 6 ft", "kind": "tubing", "manufacturer": "ResMed"},
    )
    assert response.status_code == 302
    item = Item.objects.get()
    assert (item.hcpcs, item.kind, item.serialized) == ("A7037", "tubing", False)
    listing = client.get(reverse("equipment:items"))
    assert b"Tubing 6 ft" in listing.content


def test_bad_input_shows_a_message_not_an_error(signed_in, admin):
    client = signed_in(admin)
    response = client.post(reverse("equipment:item_new"), {"hcpcs": "X1", "name": "", "kind": "x"})
    assert response.status_code == 400
    assert b"HCPCS" in response.content
    assert not Item.objects.exists()


def test_duplicate_is_shown_on_the_form(signed_in, admin, item):
    client = signed_in(admin)
    response = client.post(
        reverse("equipment:item_new"),
        {"hcpcs": "A7030", "name": item.name, "kind": "mask", "size": item.size},
    )
    assert response.status_code == 400
    assert b"already has an item" in response.content


def test_admin_edits_an_item(signed_in, admin, item):
    client = signed_in(admin)
    url = reverse("equipment:item_edit", kwargs={"public_id": item.public_id})
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"hcpcs": "A7030", "name": "Renamed mask", "kind": "mask", "is_active": "on"}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.name == "Renamed mask"


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.FIELD_TECHNICIAN, Role.CLINICIAN])
def test_staff_see_the_catalogue_but_cannot_change_it(signed_in, make_staff, location, item, role):
    client = signed_in(make_staff(role=role, location=location))
    listing = client.get(reverse("equipment:items"))
    assert listing.status_code == 200
    assert item.name.encode() in listing.content
    assert b"Add an item" not in listing.content
    assert client.get(reverse("equipment:item_new")).status_code == 404
    edit = reverse("equipment:item_edit", kwargs={"public_id": item.public_id})
    assert client.post(edit, {"hcpcs": "A7030", "name": "x", "kind": "mask"}).status_code == 404
    item.refresh_from_db()
    assert item.name != "x"
    assert not AuditEvent.objects.filter(action__startswith="equipment.").exists()


def test_support_has_no_catalogue(signed_in, make_staff, location):
    client = signed_in(make_staff(role=Role.SUPPORT, location=location))
    assert client.get(reverse("equipment:items")).status_code == 404


def test_another_organizations_item_is_not_found(signed_in, admin):
    other = ItemFactory(name="Foreign mask")
    client = signed_in(admin)
    assert b"Foreign mask" not in client.get(reverse("equipment:items")).content
    url = reverse("equipment:item_edit", kwargs={"public_id": other.public_id})
    assert client.get(url).status_code == 404
