from __future__ import annotations

import pytest

from clinic.errors import PermissionDenied
from clinic.models import AuditEvent
from equipment.catalog.models import Item, ItemKind
from equipment.catalog.services import ItemInvalid, item_create, item_update
from equipment.stock.services import stock_receive

pytestmark = pytest.mark.django_db


def _create(actor, **overrides):
    data = {
        "hcpcs": "a7034",
        "name": "Nasal mask",
        "kind": ItemKind.MASK,
        "manufacturer": "ResMed",
        "model_number": "AirFit N20",
        "size": "Large",
    }
    data.update(overrides)
    return item_create(actor=actor, **data)


def test_admin_adds_an_item_with_normalized_code_and_an_audit_row(admin):
    item = _create(admin)
    assert item.hcpcs == "A7034"
    assert item.organization_id == admin.organization_id
    row = AuditEvent.objects.get(action="equipment.item_created")
    assert row.object_id == str(item.public_id)
    assert row.details == {}


@pytest.mark.parametrize("hcpcs", ["", "7030", "A703", "AA7030", "A70301"])
def test_malformed_hcpcs_code_is_refused(admin, hcpcs):
    with pytest.raises(ItemInvalid) as exc:
        _create(admin, hcpcs=hcpcs)
    assert exc.value.extra["field"] == "hcpcs"
    assert not Item.objects.exists()


def test_unknown_kind_is_refused(admin):
    with pytest.raises(ItemInvalid):
        _create(admin, kind="toaster")


def test_same_name_and_size_twice_is_refused_with_a_message(admin):
    _create(admin)
    with pytest.raises(ItemInvalid) as exc:
        _create(admin, name="NASAL MASK", size="large")
    assert "already" in exc.value.message
    assert Item.objects.count() == 1


@pytest.mark.parametrize("role", ["EMPLOYEE", "FIELD_TECHNICIAN", "CLINICIAN", "SUPPORT"])
def test_only_an_admin_changes_the_catalogue(make_staff, location, role):
    user = make_staff(role=role, location=location)
    with pytest.raises(PermissionDenied):
        _create(user)
    assert not Item.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="equipment.").exists()


def test_update_records_the_changed_fields(admin, item):
    item_update(
        actor=admin,
        item=item,
        hcpcs=item.hcpcs,
        name=item.name,
        kind=item.kind,
        manufacturer=item.manufacturer,
        model_number=item.model_number,
        size="Small",
        serialized=False,
        is_active=False,
    )
    item.refresh_from_db()
    assert item.size == "Small" and not item.is_active
    row = AuditEvent.objects.get(action="equipment.item_changed")
    assert row.details == {"fields": ["size", "is_active"]}


def test_serialized_flag_is_fixed_once_stock_exists(admin, item, location):
    stock_receive(actor=admin, location=location, item=item, quantity=2)
    with pytest.raises(ItemInvalid) as exc:
        item_update(
            actor=admin,
            item=item,
            hcpcs=item.hcpcs,
            name=item.name,
            kind=item.kind,
            serialized=True,
        )
    assert exc.value.extra["field"] == "serialized"
    item.refresh_from_db()
    assert not item.serialized


def test_admin_of_another_organization_cannot_change_an_item(item, make_staff):
    stranger = make_staff(role="ADMIN")
    with pytest.raises(PermissionDenied):
        item_update(actor=stranger, item=item, hcpcs="A7030", name="Taken over", kind="mask")
    item.refresh_from_db()
    assert item.name != "Taken over"
