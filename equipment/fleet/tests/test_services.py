from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError

from clinic.errors import PermissionDenied
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from equipment.fleet.models import PatientEquipment, RentalMonth
from equipment.fleet.services import (
    EquipmentInvalid,
    device_settings_parse,
    device_settings_validate,
    equipment_record,
    equipment_remove,
    equipment_settings_set,
    rental_month_record,
)
from equipment.stock.services import stock_dispense, stock_receive
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


@pytest.fixture
def rented(employee, patient, device):
    return equipment_record(
        actor=employee,
        patient=patient,
        item=device,
        setup_on=date(2026, 1, 10),
        acquisition="rental",
        settings={"mode": "APAP", "min_pressure": 6, "max_pressure": 14},
    )


def test_a_dispensed_device_is_recorded_with_its_serial_and_settings(
    admin, employee, patient, device, location
):
    stock_receive(actor=admin, location=location, item=device, quantity=1, serial_numbers=["S1"])
    stock_dispense(
        actor=admin,
        location=location,
        item=device,
        quantity=1,
        serial_numbers=["S1"],
        patient=patient,
    )
    unit = device.serials.get()
    record = equipment_record(
        actor=employee,
        patient=patient,
        item=device,
        serial=unit,
        setup_on=date(2026, 1, 10),
        acquisition="purchase",
        settings={"mode": "CPAP", "pressure": 9, "humidity": 4},
    )
    assert record.device_settings == {"mode": "CPAP", "pressure": 9.0, "humidity": 4}
    assert AuditEvent.objects.filter(action="patient_equipment.recorded").count() == 1


def test_a_serial_not_dispensed_to_the_patient_is_refused(
    admin, employee, patient, device, location
):
    stock_receive(actor=admin, location=location, item=device, quantity=1, serial_numbers=["S1"])
    with pytest.raises(EquipmentInvalid, match="not been dispensed"):
        equipment_record(
            actor=employee,
            patient=patient,
            item=device,
            serial=device.serials.get(),
            setup_on=date(2026, 1, 10),
            acquisition="purchase",
        )
    assert not PatientEquipment.objects.exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"pressure": 30}, "between 4 and 20"),
        ({"pressure": "9"}, "must be a number"),
        ({"humidity": 2.5}, "must be a number"),
        ({"mode": "turbo"}, "must be one of"),
        ({"colour": "red"}, "Unknown setting"),
        ({"min_pressure": 12, "max_pressure": 8}, "minimum pressure is above"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(EquipmentInvalid, match=message):
        device_settings_validate(settings)


def test_settings_text_that_is_not_json_is_refused():
    with pytest.raises(EquipmentInvalid, match="JSON object"):
        device_settings_parse("{mode: APAP")
    assert device_settings_parse('{"epr": 2}') == {"epr": 2}


def test_refused_settings_write_nothing(employee, patient, device):
    with pytest.raises(EquipmentInvalid):
        equipment_record(
            actor=employee,
            patient=patient,
            item=device,
            setup_on=date(2026, 1, 1),
            acquisition="rental",
            settings={"pressure": 99},
        )
    assert not PatientEquipment.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="patient_equipment").exists()


def test_a_mask_has_no_settings_but_a_mask_type(employee, patient, item):
    with pytest.raises(EquipmentInvalid, match="Only a device"):
        equipment_record(
            actor=employee,
            patient=patient,
            item=item,
            setup_on=date(2026, 1, 1),
            acquisition="purchase",
            settings={"pressure": 9},
        )
    record = equipment_record(
        actor=employee,
        patient=patient,
        item=item,
        setup_on=date(2026, 1, 1),
        acquisition="purchase",
        mask_type="full_face",
    )
    assert record.size == item.size


def test_rental_months_count_and_a_long_gap_starts_a_new_period(employee, rented):
    months = [
        rental_month_record(actor=employee, record=rented, starts_on=d)
        for d in (date(2026, 1, 10), date(2026, 2, 10), date(2026, 5, 10))
    ]
    # Month 2 ends on 10 Mar; 10 May is 61 days later.
    assert [(m.period, m.month) for m in months] == [(1, 1), (1, 2), (2, 1)]


def test_a_refused_month_writes_nothing(employee, rented):
    rental_month_record(actor=employee, record=rented, starts_on=date(2026, 1, 10))
    audits = AuditEvent.objects.count()
    with pytest.raises(EquipmentInvalid, match="runs until"):
        rental_month_record(actor=employee, record=rented, starts_on=date(2026, 1, 20))
    assert RentalMonth.objects.count() == 1
    assert AuditEvent.objects.count() == audits


def test_the_database_refuses_a_fourteenth_month(rented):
    with pytest.raises(IntegrityError):
        RentalMonth.objects.create(
            organization_id=rented.organization_id,
            equipment=rented,
            period=1,
            month=14,
            starts_on=date(2026, 1, 1),
        )


def test_a_purchase_has_no_rental_months(employee, patient, item):
    record = equipment_record(
        actor=employee,
        patient=patient,
        item=item,
        setup_on=date(2026, 1, 1),
        acquisition="purchase",
    )
    with pytest.raises(EquipmentInvalid, match="bought"):
        rental_month_record(actor=employee, record=record, starts_on=date(2026, 1, 1))


def test_a_technician_does_not_count_rental_months(technician, rented, patient):
    patient.assignments.create(technician=technician)
    with pytest.raises(PermissionDenied):
        rental_month_record(actor=technician, record=rented, starts_on=date(2026, 1, 10))
    assert not RentalMonth.objects.exists()


def test_staff_elsewhere_cannot_record(patient, device):
    other = staff_user(role=Role.EMPLOYEE, location=LocationFactory())
    with pytest.raises(PermissionDenied):
        equipment_record(
            actor=other,
            patient=patient,
            item=device,
            setup_on=date(2026, 1, 1),
            acquisition="purchase",
        )
    assert not PatientEquipment.objects.exists()


def test_settings_change_and_removal(employee, rented):
    equipment_settings_set(actor=employee, record=rented, settings={"mode": "CPAP", "pressure": 8})
    rented.refresh_from_db()
    assert rented.device_settings == {"mode": "CPAP", "pressure": 8.0}
    with pytest.raises(EquipmentInvalid, match="before the setup"):
        equipment_remove(actor=employee, record=rented, removed_on=date(2025, 1, 1))
    equipment_remove(actor=employee, record=rented, removed_on=date(2026, 6, 1))
    rented.refresh_from_db()
    assert not rented.is_current
