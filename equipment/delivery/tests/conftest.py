"""Fixtures of the delivery tests: a patient with an address, a physician, stock of a mask and
two serialized devices at the location, and signature images as the phone sends them."""

from __future__ import annotations

from datetime import date

import pytest

from equipment.delivery.services import LineIn, ticket_create
from equipment.stock.services import stock_receive
from equipment.tests.factories import png_data_url
from patients.tests.factories import PatientFactory, PhysicianFactory


@pytest.fixture
def signature() -> str:
    return png_data_url()


@pytest.fixture
def patient(location):
    return PatientFactory(
        home_location=location,
        address_line1="12 Harbor Road",
        city="Mystic",
        state="CT",
        postal_code="06355",
    )


@pytest.fixture
def physician(location):
    return PhysicianFactory(organization=location.organization)


@pytest.fixture
def stocked(admin, location, item, device):
    stock_receive(actor=admin, location=location, item=item, quantity=5)
    stock_receive(
        actor=admin, location=location, item=device, quantity=2, serial_numbers=["SN1", "SN2"]
    )


@pytest.fixture
def ticket(stocked, employee, location, patient, physician, item, device, technician):
    return ticket_create(
        actor=employee,
        location=location,
        patient=patient,
        physician=physician,
        date_of_service=date.today(),
        method="home",
        technician=technician,
        lines=[
            LineIn(item=item, quantity=2),
            LineIn(item=device, quantity=1, acquisition="rental"),
        ],
    )
