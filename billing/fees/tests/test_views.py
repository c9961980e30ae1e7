"""Fee schedule pages: every billing user reads them; only an ADMIN's forms are shown and
accepted; bad input is a 400 with the message and nothing written."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing.fees.models import BillableCode, FeeLine, FeeSchedule
from billing.fees.services import fee_schedule_create
from clinic.models import Role
from clinic.tests.factories import staff_user
from scheduling.tests.factories import AppointmentTypeFactory


def test_admin_adds_a_schedule_and_a_line(signed_in, admin, payer):
    client = signed_in(admin)
    response = client.post(reverse("billing:fee_schedules"), {"payer": str(payer.public_id)})
    schedule = FeeSchedule.objects.get(payer=payer)
    assert response.status_code == 302
    url = reverse("billing:fee_schedule", args=[schedule.public_id])
    response = client.post(
        url,
        {
            "code": "95810",
            "purchase_price": "1400",
            "allowed_amount": "1100.5",
            "units": "1",
            "effective_from": "2026-01-01",
        },
    )
    assert response.status_code == 302
    body = client.get(url).content.decode()
    assert "1400.00" in body and "1100.50" in body


def test_a_bad_line_is_a_400_with_the_message_and_nothing_written(signed_in, admin):
    schedule = fee_schedule_create(actor=admin, payer=None)
    url = reverse("billing:fee_schedule", args=[schedule.public_id])
    response = signed_in(admin).post(
        url, {"code": "ABC", "purchase_price": "10", "units": "1", "effective_from": "2026-01-01"}
    )
    assert response.status_code == 400
    assert "CPT code" in response.content.decode()
    response = signed_in(admin).post(
        url, {"code": "95810", "units": "1", "effective_from": "2026-01-01"}
    )
    assert response.status_code == 400
    assert "Enter a purchase price or a rental price." in response.content.decode()
    assert not FeeLine.objects.exists()


def test_an_employee_reads_but_cannot_change(signed_in, admin, location, payer):
    schedule = fee_schedule_create(actor=admin, payer=None)
    client = signed_in(staff_user(role=Role.EMPLOYEE, location=location))
    list_page = client.get(reverse("billing:fee_schedules"))
    assert list_page.status_code == 200
    assert "Add a fee schedule" not in list_page.content.decode()
    detail = reverse("billing:fee_schedule", args=[schedule.public_id])
    assert client.get(detail).status_code == 200
    assert client.post(reverse("billing:fee_schedules"), {"payer": ""}).status_code == 404
    assert (
        client.post(
            detail, {"code": "95810", "purchase_price": "1", "effective_from": "2026-01-01"}
        ).status_code
        == 404
    )
    assert FeeSchedule.objects.count() == 1
    assert not FeeLine.objects.exists()


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.CLINICIAN, Role.SUPPORT])
def test_other_roles_do_not_see_fee_schedules(signed_in, admin, location, role):
    schedule = fee_schedule_create(actor=admin, payer=None)
    client = signed_in(staff_user(role=role, location=location))
    assert client.get(reverse("billing:fee_schedules")).status_code == 404
    assert client.get(reverse("billing:fee_schedule", args=[schedule.public_id])).status_code == 404
    assert client.get(reverse("billing:billable_codes")).status_code == 404


def test_admin_makes_a_type_billable_and_stops_it(signed_in, admin, location):
    appt_type = AppointmentTypeFactory(organization=location.organization)
    client = signed_in(admin)
    response = client.post(
        reverse("billing:billable_codes"),
        {"appointment_type": str(appt_type.public_id), "code": "95810", "units": "1"},
    )
    assert response.status_code == 302
    row = BillableCode.objects.get()
    bad = client.post(
        reverse("billing:billable_codes"),
        {"appointment_type": str(appt_type.public_id), "code": "95810", "units": "1"},
    )
    assert bad.status_code == 400
    assert "already bills 95810" in bad.content.decode()
    client.post(reverse("billing:billable_code_remove", args=[row.public_id]))
    assert not BillableCode.objects.exists()
