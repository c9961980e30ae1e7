"""Fixtures shared by the equipment sub-domains' tests."""

from __future__ import annotations

import pytest

from clinic.models import Role
from clinic.tests.factories import staff_user
from equipment.tests.factories import DeviceFactory, ItemFactory


@pytest.fixture
def admin(location):
    return staff_user(role=Role.ADMIN, location=location)


@pytest.fixture
def employee(location):
    return staff_user(role=Role.EMPLOYEE, location=location)


@pytest.fixture
def technician(location):
    return staff_user(role=Role.FIELD_TECHNICIAN, location=location)


@pytest.fixture
def item(location):
    return ItemFactory(organization=location.organization)


@pytest.fixture
def device(location):
    return DeviceFactory(organization=location.organization)
