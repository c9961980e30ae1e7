"""Who may move stock where. Every denied case also checks that nothing changed."""

from __future__ import annotations

import pytest

from clinic.errors import PermissionDenied
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, MembershipFactory
from equipment.stock.models import StockMovement
from equipment.stock.permissions import can_dispense_at, can_manage_stock_at, can_use_stock
from equipment.stock.services import (
    reorder_point_set,
    stock_adjust,
    stock_dispense,
    stock_receive,
    stock_reserve,
)
from equipment.tests.factories import ItemFactory, balance_of

pytestmark = pytest.mark.django_db


def _nothing_changed(before: int) -> None:
    assert StockMovement.objects.count() == before
    assert (
        not AuditEvent.objects.filter(action__startswith="stock.", actor__isnull=False)
        .exclude(action="stock.received")
        .exists()
    )


@pytest.mark.parametrize(
    ("role", "manage", "dispense", "use"),
    [
        (Role.ADMIN, True, True, True),
        (Role.EMPLOYEE, True, True, True),
        (Role.FIELD_TECHNICIAN, False, True, True),
        (Role.CLINICIAN, False, False, False),
        (Role.SUPPORT, False, False, False),
    ],
)
def test_role_matrix_at_own_location(make_staff, location, role, manage, dispense, use):
    user = make_staff(role=role, location=location)
    assert can_manage_stock_at(user, location) is manage
    assert can_dispense_at(user, location) is dispense
    assert can_use_stock(user) is use


def test_employee_cannot_manage_another_location_of_the_organization(employee, location):
    other = LocationFactory(organization=location.organization)
    assert not can_manage_stock_at(employee, other)
    assert not can_dispense_at(employee, other)


def test_admin_manages_every_location_of_the_organization_only(admin, location):
    other = LocationFactory(organization=location.organization)
    assert can_manage_stock_at(admin, other)
    assert not can_manage_stock_at(admin, LocationFactory())


def test_inactive_location_takes_no_stock(admin, location):
    location.is_active = False
    location.save()
    assert not can_manage_stock_at(admin, location)


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.CLINICIAN, Role.SUPPORT])
def test_non_office_roles_cannot_receive_adjust_reserve_or_set_reorder_points(
    make_staff, location, item, admin, role
):
    stock_receive(actor=admin, location=location, item=item, quantity=5)
    user = make_staff(role=role, location=location)
    before = StockMovement.objects.count()
    calls = [
        lambda: stock_receive(actor=user, location=location, item=item, quantity=1),
        lambda: stock_adjust(actor=user, location=location, item=item, delta=-1, reason="lost"),
        lambda: stock_reserve(actor=user, location=location, item=item, quantity=1),
        lambda: reorder_point_set(actor=user, location=location, item=item, reorder_point=1),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    _nothing_changed(before)
    assert balance_of(location, item).reorder_point is None


def test_technician_dispenses_at_own_location_but_not_elsewhere(technician, location, item, admin):
    other = LocationFactory(organization=location.organization)
    stock_receive(actor=admin, location=location, item=item, quantity=2)
    stock_receive(actor=admin, location=other, item=item, quantity=2)
    stock_dispense(actor=technician, location=location, item=item, quantity=1)
    before = StockMovement.objects.count()
    with pytest.raises(PermissionDenied):
        stock_dispense(actor=technician, location=other, item=item, quantity=1)
    assert StockMovement.objects.count() == before
    assert balance_of(other, item).on_hand == 2


def test_clinician_cannot_dispense(make_staff, location, item, admin):
    stock_receive(actor=admin, location=location, item=item, quantity=2)
    clinician = make_staff(role=Role.CLINICIAN, location=location)
    with pytest.raises(PermissionDenied):
        stock_dispense(actor=clinician, location=location, item=item, quantity=1)
    assert balance_of(location, item).on_hand == 2


def test_item_of_another_organization_is_refused(admin, location):
    foreign = ItemFactory()
    with pytest.raises(PermissionDenied):
        stock_receive(actor=admin, location=location, item=foreign, quantity=1)
    assert not StockMovement.objects.exists()


def test_a_second_membership_widens_what_an_employee_manages(employee, location):
    other = LocationFactory(organization=location.organization)
    MembershipFactory(user=employee, location=other, role=Role.EMPLOYEE)
    employee = type(employee).objects.get(pk=employee.pk)  # fresh memberships cache
    assert can_manage_stock_at(employee, other)
