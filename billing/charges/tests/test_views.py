"""The charges pages: who sees them (ADMIN everywhere, EMPLOYEE at their locations, nobody
else), filters with a 400 and a message on bad input, the held queue, the record's tab, and
an audit row for every view."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing.charges.services import charges_create_for_appointment
from billing.tests.factories import completed_visit, schedule_with_line, study_type
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, MembershipFactory, staff_user
from patients.clinical.tests.factories import InsurancePolicyFactory
from patients.tests.factories import PatientFactory
from scheduling.models import AppointmentKind, AppointmentType


@pytest.fixture
def charged(admin, location, payer):
    schedule_with_line(admin, payer, price="1400.00")
    appt_type = study_type(admin, location)
    insured = PatientFactory(home_location=location, last_name="Pricewell")
    InsurancePolicyFactory(patient=insured, payer=payer)
    charges_create_for_appointment(
        actor=None, appointment=completed_visit(location, appt_type, patient=insured)
    )
    held_patient = PatientFactory(home_location=location, last_name="Heldover")
    charges_create_for_appointment(
        actor=None, appointment=completed_visit(location, appt_type, patient=held_patient)
    )
    return {"insured": insured, "held": held_patient}


def test_admin_and_employee_see_the_charges_with_two_decimals(signed_in, admin, employee, charged):
    for user in (admin, employee):
        response = signed_in(user).get(reverse("billing:charges"))
        assert response.status_code == 200
        body = response.content.decode()
        assert "1400.00" in body
        assert "Pricewell" in body
    assert AuditEvent.objects.filter(action="charges.viewed").count() == 2


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.CLINICIAN, Role.SUPPORT])
def test_other_roles_see_no_money(signed_in, location, charged, role):
    client = signed_in(staff_user(role=role, location=location))
    for name in ("billing:charges", "billing:held_charges", "billing:fee_schedules"):
        assert client.get(reverse(name)).status_code == 404
    patient_tab = reverse("billing:patient_charges", args=[charged["insured"].public_id])
    assert client.get(patient_tab).status_code == 404
    assert not AuditEvent.objects.filter(action__in=["charges.viewed", "patient.viewed"]).exists()


def test_an_employee_sees_only_their_locations_charges(signed_in, location, charged):
    elsewhere = LocationFactory(organization=location.organization)
    employee = staff_user(role=Role.EMPLOYEE, location=elsewhere)
    MembershipFactory(user=employee, location=location, role=Role.FIELD_TECHNICIAN)
    body = signed_in(employee).get(reverse("billing:charges")).content.decode()
    assert "Pricewell" not in body
    assert "No charges match." in body


def test_bad_filters_are_a_400_with_a_message(signed_in, admin, charged):
    client = signed_in(admin)
    response = client.get(reverse("billing:charges"), {"date_from": "soon"})
    assert response.status_code == 400
    assert "Enter a date like 2026-12-04." in response.content.decode()
    response = client.get(reverse("billing:charges"), {"location": "not-mine"})
    assert response.status_code == 400
    assert "Choose one of your locations." in response.content.decode()
    response = client.get(
        reverse("billing:charges"), {"date_from": "2026-12-05", "date_to": "2026-12-01"}
    )
    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()


def test_filters_narrow_the_list(signed_in, admin, location, charged):
    client = signed_in(admin)
    held = client.get(reverse("billing:charges"), {"status": "held"}).content.decode()
    assert "Heldover" in held and "Pricewell" not in held
    later = client.get(reverse("billing:charges"), {"date_from": "2026-12-05"}).content.decode()
    assert "No charges match." in later


def test_the_held_queue_lists_held_charges_with_their_reason(signed_in, employee, charged):
    body = signed_in(employee).get(reverse("billing:held_charges")).content.decode()
    assert "Heldover" in body
    assert "Self-pay has no fee schedule (needed for 95810 on 2026-12-04)." in body
    assert "Pricewell" not in body


def test_the_record_tab_shows_the_patients_charges_and_is_audited(signed_in, admin, charged):
    patient = charged["insured"]
    response = signed_in(admin).get(reverse("billing:patient_charges", args=[patient.public_id]))
    assert response.status_code == 200
    assert "1400.00" in response.content.decode()
    assert AuditEvent.objects.filter(
        action="patient.viewed", object_id=str(patient.public_id), details__tab="charges"
    ).exists()


def test_the_charges_list_takes_the_same_queries_however_many_rows(
    signed_in, admin, location, charged, django_assert_max_num_queries
):
    client = signed_in(admin)
    client.get(reverse("billing:charges"))  # warm the session
    with django_assert_max_num_queries(20) as few:
        client.get(reverse("billing:charges"))
    appt_type = AppointmentType.objects.get(
        organization=location.organization, code=AppointmentKind.DIAGNOSTIC_STUDY
    )
    for _ in range(5):
        visit = completed_visit(location, appt_type, patient=PatientFactory(home_location=location))
        charges_create_for_appointment(actor=None, appointment=visit)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("billing:charges"))


def test_the_billing_nav_entry_and_record_tab_show_for_billing_staff_only(
    signed_in, admin, location, charged
):
    patient_url = reverse("patients:detail", args=[charged["insured"].public_id])
    page = signed_in(admin).get(patient_url).content.decode()
    assert reverse("billing:patient_charges", args=[charged["insured"].public_id]) in page
    assert reverse("billing:charges") in page
    tech = staff_user(role=Role.FIELD_TECHNICIAN, location=location)
    assert reverse("billing:charges") not in signed_in(tech).get("/").content.decode()


def test_a_clinician_with_the_full_record_sees_no_charges_tab_that_would_404(
    signed_in, location, charged
):
    clinician = signed_in(staff_user(role=Role.CLINICIAN, location=location))
    patient = charged["insured"]
    page = clinician.get(reverse("patients:detail", args=[patient.public_id])).content.decode()
    assert reverse("patients:insurance", args=[patient.public_id]) in page  # the tabs are there
    assert reverse("billing:patient_charges", args=[patient.public_id]) not in page
