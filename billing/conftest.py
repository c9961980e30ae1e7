"""Fixtures shared by the billing sub-domains' tests."""

from __future__ import annotations

import pytest

from clinic.models import Role
from clinic.tests.factories import staff_user
from patients.clinical.tests.factories import PayerFactory


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
def payer(location):
    return PayerFactory(organization=location.organization, name="Acme Health")
