"""Calendar pages: the calendar and the dispatch board shells, one appointment with its state
actions and cancel, and the patient record's Appointments tab."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, OutboxEvent, Role
from scheduling.calendar.realtime import calendar_stream_name
from scheduling.calendar.tests.test_api_calendar import next_monday
from scheduling.models import AppointmentState
from scheduling.tests.factories import AppointmentFactory, technician

pytestmark = pytest.mark.django_db

CALENDAR = reverse("scheduling:calendar")
DISPATCH = reverse("scheduling:dispatch")


@pytest.fixture
def clerk(make_staff, location):
    return make_staff(role=Role.EMPLOYEE, location=location)


def test_calendar_page_follows_its_locations_stream_and_offers_booking(signed_in, clerk, location):
    response = signed_in(clerk).get(CALENDAR, {"location": str(location.public_id)})
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-stream="{calendar_stream_name(location)}"' in page
    assert 'data-can-edit="true"' in page
    assert "Book an appointment" in page
    # FullCalendar's injected stylesheet gets this response's CSP nonce.
    nonce = response.wsgi_request.csp_nonce
    assert f'content="{nonce}"' in page
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]
    assert AuditEvent.objects.filter(action="calendar.viewed", actor=clerk).exists()


def test_a_clinician_sees_the_calendar_read_only(signed_in, make_staff, location):
    clinician = make_staff(role=Role.CLINICIAN, location=location)
    page = signed_in(clinician).get(CALENDAR).content.decode()
    assert 'data-can-edit="false"' in page
    assert "Book an appointment" not in page


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_technicians_and_support_have_no_location_calendar(signed_in, make_staff, location, role):
    user = make_staff(role=role, location=location)
    client = signed_in(user)
    assert client.get(CALENDAR).status_code == 404
    assert client.get(DISPATCH).status_code == 404


def test_another_organizations_location_is_404(signed_in, clerk, make_staff):
    other = make_staff(role=Role.ADMIN)
    foreign = other.memberships.get().location
    assert signed_in(clerk).get(CALENDAR, {"location": str(foreign.public_id)}).status_code == 404


def test_dispatch_board_has_a_column_per_technician_and_one_for_nobody(signed_in, clerk, location):
    technician(location, full_name="Ada Alpha")
    technician(location, full_name="Bo Beta")
    response = signed_in(clerk).get(DISPATCH, {"location": str(location.public_id)})
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("data-dispatch-column") == 3
    columns = [page.index(f'aria-label="{n}"') for n in ("Ada Alpha", "Bo Beta", "No technician")]
    assert columns == sorted(columns)


def test_dispatch_board_queries_do_not_grow_with_technicians(
    signed_in, clerk, location, django_assert_num_queries
):
    client = signed_in(clerk)
    technician(location)
    client.get(DISPATCH)
    with CaptureQueriesContext(connection) as one:
        client.get(DISPATCH)
    for _ in range(5):
        technician(location)
    with django_assert_num_queries(len(one)):
        client.get(DISPATCH)


# ---------------------------------------------------------------- one appointment


@pytest.fixture
def appointment(location):
    tech = technician(location, full_name="Terry Tech")
    start = next_monday(location, 9)
    return AppointmentFactory(location=location, technician=tech, starts_at=start)


def url(name, appointment, **kw):
    return reverse(f"scheduling:{name}", kwargs={"public_id": appointment.public_id, **kw})


def test_appointment_page_shows_it_in_local_time_and_audits_the_patient_view(
    signed_in, clerk, appointment
):
    page = signed_in(clerk).get(url("appointment", appointment)).content.decode()
    assert "09:00" in page
    assert appointment.patient.last_name in page
    assert "Check in" in page
    assert AuditEvent.objects.filter(
        action="patient.viewed", object_id=str(appointment.patient.public_id)
    ).exists()


def test_cancel_needs_a_reason_and_then_frees_the_slot(signed_in, clerk, appointment):
    client = signed_in(clerk)
    refused = client.post(url("appointment_cancel", appointment), {"reason": ""}, follow=True)
    assert "Say why" in refused.content.decode()
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.BOOKED

    done = client.post(
        url("appointment_cancel", appointment), {"reason": "Patient asked"}, follow=True
    )
    assert done.status_code == 200
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.CANCELLED
    assert OutboxEvent.objects.filter(name="appointment.cancelled").count() == 1


def test_check_in_then_complete_through_the_state_actions(signed_in, clerk, appointment, clock_at):
    clock_at(appointment.starts_at)  # the visit's own day
    client = signed_in(clerk)
    client.post(url("appointment_action", appointment, action="check-in"))
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.CHECKED_IN
    client.post(url("appointment_action", appointment, action="complete"))
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.FULFILLED
    # Completing again is refused with a message, not a 500.
    again = client.post(url("appointment_action", appointment, action="complete"), follow=True)
    assert again.status_code == 200
    assert "messages" in again.content.decode()


def test_a_clinician_cannot_act_on_an_appointment(
    signed_in, make_staff, location, appointment, clock_at
):
    clock_at(appointment.starts_at)
    clinician = make_staff(role=Role.CLINICIAN, location=location)
    client = signed_in(clinician)
    assert client.post(url("appointment_action", appointment, action="check-in")).status_code == 404
    response = client.post(url("appointment_cancel", appointment), {"reason": "x"})
    assert response.status_code == 404
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.BOOKED
    assert not OutboxEvent.objects.filter(name__startswith="appointment.").exists()
    # The positive control: the same request from an employee there checks the visit in.
    clerk = make_staff(role=Role.EMPLOYEE, location=location)
    checked_in = signed_in(clerk).post(url("appointment_action", appointment, action="check-in"))
    assert checked_in.status_code == 302
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.CHECKED_IN


def test_unknown_action_is_404(signed_in, clerk, appointment):
    response = signed_in(clerk).post(url("appointment_action", appointment, action="explode"))
    assert response.status_code == 404


# ---------------------------------------------------------------- patient record tab


def test_patient_tab_lists_upcoming_and_past_with_constant_queries(
    signed_in, clerk, location, appointment, django_assert_num_queries
):
    patient = appointment.patient
    tab = reverse("scheduling:patient_appointments", kwargs={"public_id": patient.public_id})
    client = signed_in(clerk)
    AppointmentFactory(
        location=location,
        patient=patient,
        starts_at=next_monday(location, 9) - datetime.timedelta(days=30),
        state=AppointmentState.FULFILLED,
    )
    client.get(tab)
    with CaptureQueriesContext(connection) as few:
        page = client.get(tab).content.decode()
    assert "Upcoming" in page and "Past" in page
    assert page.count("state-badge") == 2
    assert 'aria-current="page">Appointments' in page
    for n in range(1, 6):
        AppointmentFactory(
            location=location,
            patient=patient,
            starts_at=next_monday(location, 9) + datetime.timedelta(days=n),
        )
    with django_assert_num_queries(len(few)):
        page = client.get(tab).content.decode()
    assert page.count("state-badge") == 7
    assert AuditEvent.objects.filter(
        action="patient.viewed", details__tab="appointments", actor=clerk
    ).exists()


def test_patient_tab_of_someone_elses_patient_is_404(signed_in, make_staff, appointment):
    outsider = make_staff(role=Role.EMPLOYEE)
    tab = reverse(
        "scheduling:patient_appointments", kwargs={"public_id": appointment.patient.public_id}
    )
    assert signed_in(outsider).get(tab).status_code == 404
    assert not AuditEvent.objects.filter(action="patient.viewed", actor=outsider).exists()


def test_staff_check_in_a_visit_of_another_day_only_with_a_reason(signed_in, clerk, appointment):
    client = signed_in(clerk)
    page = client.get(url("appointment", appointment)).content.decode()
    assert 'id="not-today-check-in"' in page and 'name="reason"' in page
    refused = client.post(url("appointment_action", appointment, action="check-in"), follow=True)
    assert "on its own day only" in refused.content.decode()
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.BOOKED
    no_reason = client.post(
        url("appointment_action", appointment, action="check-in"),
        {"not_today": "1", "reason": ""},
        follow=True,
    )
    assert "Say why." in no_reason.content.decode()
    client.post(
        url("appointment_action", appointment, action="check-in"),
        {"not_today": "1", "reason": "Seen early at the patient's request"},
    )
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.CHECKED_IN
    assert "Seen early" in appointment.notes
    assert AuditEvent.objects.get(action="appointment.checked_in").details["override"] == (
        "not_today"
    )
