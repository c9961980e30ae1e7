from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from equipment.fleet.models import PatientEquipment, RentalMonth
from equipment.fleet.services import equipment_record, rental_month_record
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


def tab_url(patient):
    return reverse("equipment:patient_equipment", kwargs={"public_id": patient.public_id})


def test_the_tab_lists_equipment_with_the_rental_month_and_is_audited(
    signed_in, employee, patient, device
):
    record = equipment_record(
        actor=employee,
        patient=patient,
        item=device,
        setup_on=date(2026, 1, 10),
        acquisition="rental",
        settings={"mode": "APAP"},
    )
    rental_month_record(actor=employee, record=record, starts_on=date(2026, 1, 10))
    response = signed_in(employee).get(tab_url(patient))
    assert response.status_code == 200
    body = response.content.decode()
    assert device.name in body and "Period 1, month 1 of 13" in body
    assert 'href="' + tab_url(patient) in body  # the record header shows the tab
    assert AuditEvent.objects.filter(
        action="patient.viewed", object_id=str(patient.public_id), details__tab="equipment"
    ).exists()


def test_staff_records_equipment_through_the_tab(signed_in, employee, patient, item):
    response = signed_in(employee).post(
        tab_url(patient),
        {
            "item": item.pk,
            "setup_on": "2026-02-01",
            "acquisition": "purchase",
            "mask_type": "full_face",
            "size": "M",
        },
    )
    assert response.status_code == 302
    assert PatientEquipment.objects.get().mask_type == "full_face"


def test_bad_settings_json_is_a_400_with_a_message(signed_in, employee, patient, device):
    response = signed_in(employee).post(
        tab_url(patient),
        {
            "item": device.pk,
            "setup_on": "2026-02-01",
            "acquisition": "rental",
            "settings": '{"pressure": 40}',
        },
    )
    assert response.status_code == 400
    assert b"between 4 and 20" in response.content
    assert not PatientEquipment.objects.exists()


def test_a_month_inside_the_last_one_is_a_400_with_a_message(signed_in, employee, patient, device):
    record = equipment_record(
        actor=employee,
        patient=patient,
        item=device,
        setup_on=date(2026, 1, 10),
        acquisition="rental",
    )
    rental_month_record(actor=employee, record=record, starts_on=date(2026, 1, 10))
    url = reverse("equipment:rental_month_add", kwargs={"public_id": record.public_id})
    client = signed_in(employee)
    response = client.post(url, {"starts_on": "2026-01-20"})
    assert response.status_code == 400
    assert b"runs until 09 Feb 2026" in response.content
    assert client.post(url, {"starts_on": "nonsense"}).status_code == 400
    assert RentalMonth.objects.count() == 1
    assert client.post(url, {"starts_on": "2026-02-10"}).status_code == 302
    assert RentalMonth.objects.count() == 2


def test_an_assigned_technician_sees_the_tab_but_no_forms(signed_in, technician, patient):
    patient.assignments.create(technician=technician)
    response = signed_in(technician).get(tab_url(patient))
    assert response.status_code == 200
    assert b"Record equipment" not in response.content


def test_other_staff_get_404_and_nothing_is_written(signed_in, patient, item, location):
    support = staff_user(role=Role.SUPPORT, location=location)
    elsewhere = staff_user(role=Role.EMPLOYEE, location=LocationFactory())
    unassigned = staff_user(role=Role.FIELD_TECHNICIAN, location=location)
    data = {"item": item.pk, "setup_on": "2026-02-01", "acquisition": "purchase"}
    for user in (support, elsewhere, unassigned):
        client = signed_in(user)
        assert client.get(tab_url(patient)).status_code == 404
        assert client.post(tab_url(patient), data).status_code == 404
    assert not PatientEquipment.objects.exists()


def test_the_tab_takes_a_constant_number_of_queries(
    signed_in, employee, patient, device, django_assert_max_num_queries
):
    client = signed_in(employee)
    for n in range(4):
        record = equipment_record(
            actor=employee,
            patient=patient,
            item=device,
            setup_on=date(2026, 1, 1 + n),
            acquisition="rental",
        )
        rental_month_record(actor=employee, record=record, starts_on=date(2026, 1, 1 + n))
    client.get(tab_url(patient))
    with django_assert_max_num_queries(40) as few:
        client.get(tab_url(patient))
    for n in range(6):
        equipment_record(
            actor=employee,
            patient=patient,
            item=device,
            setup_on=date(2026, 2, 1 + n),
            acquisition="rental",
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(tab_url(patient))
