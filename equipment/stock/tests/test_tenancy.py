"""Stock is scoped like everything else: the user's organization, then their locations."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import LocationFactory, staff_user
from equipment.stock.models import SerialUnit
from equipment.stock.selectors import (
    balances_visible_to,
    low_stock_visible_to,
    movements_visible_to,
    reservations_visible_to,
    serials_visible_to,
    stock_dispense_locations,
    stock_manage_locations,
)
from equipment.tests.factories import equipment_rows_for_tenant_walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_locations_and_a_stranger(location):
    other = LocationFactory(organization=location.organization)
    foreign = LocationFactory()
    equipment_rows_for_tenant_walk(location)
    equipment_rows_for_tenant_walk(other)
    equipment_rows_for_tenant_walk(foreign)
    return location, other, foreign


SELECTORS = [
    balances_visible_to,
    low_stock_visible_to,
    movements_visible_to,
    reservations_visible_to,
    serials_visible_to,
]


@pytest.mark.parametrize("selector", SELECTORS)
def test_employee_sees_only_own_location(two_locations_and_a_stranger, selector):
    location, _, _ = two_locations_and_a_stranger
    employee = staff_user(role=Role.EMPLOYEE, location=location)
    rows = list(selector(employee))
    assert rows
    assert {r.location_id for r in rows} == {location.pk}


@pytest.mark.parametrize("selector", SELECTORS)
def test_admin_sees_every_location_of_the_organization_and_nothing_else(
    two_locations_and_a_stranger, selector
):
    location, other, _ = two_locations_and_a_stranger
    admin = staff_user(role=Role.ADMIN, location=location)
    assert {r.location_id for r in selector(admin)} == {location.pk, other.pk}


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.SUPPORT])
@pytest.mark.parametrize("selector", SELECTORS)
def test_roles_without_stock_see_nothing(two_locations_and_a_stranger, selector, role):
    location, _, _ = two_locations_and_a_stranger
    assert not selector(staff_user(role=role, location=location)).exists()


def test_form_locations_follow_the_roles(two_locations_and_a_stranger):
    location, other, _ = two_locations_and_a_stranger
    tech = staff_user(role=Role.FIELD_TECHNICIAN, location=location)
    assert not stock_manage_locations(tech).exists()
    assert list(stock_dispense_locations(tech)) == [location]
    admin = staff_user(role=Role.ADMIN, location=location)
    assert set(stock_manage_locations(admin)) == {location, other}


def test_other_organizations_serial_page_is_not_found(two_locations_and_a_stranger, signed_in):
    location, _, foreign = two_locations_and_a_stranger
    client = signed_in(staff_user(role=Role.ADMIN, location=location))
    unit = SerialUnit.objects.filter(location=foreign).first()
    assert unit is not None
    url = reverse("equipment:serial_detail", kwargs={"public_id": unit.public_id})
    assert client.get(url).status_code == 404
    retire = reverse(
        "equipment:serial_action", kwargs={"public_id": unit.public_id, "action": "retire"}
    )
    assert client.post(retire).status_code == 404
    unit.refresh_from_db()
    assert unit.status != "retired"
    page = client.get(reverse("equipment:stock")).content.decode()
    assert "Alphamask" in page  # own rows shown
    assert foreign.name not in page
