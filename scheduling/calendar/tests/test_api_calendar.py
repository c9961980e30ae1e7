"""The calendar's JSON API: events in a range (scoped, local times, constant queries) and the
move a drag or resize proposes (re-validated by the move service, refusals explained)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, OutboxEvent, Role
from clinic.tests.factories import LocationFactory
from scheduling.models import Appointment, AppointmentKind, AppointmentState
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory, technician

pytestmark = pytest.mark.django_db

EVENTS = reverse("scheduling:api_events")


def next_monday(location, hour, minute=0):
    zone = ZoneInfo(location.timezone)
    today = datetime.datetime.now(zone).date()
    monday = today + datetime.timedelta(days=7 - today.weekday())
    return datetime.datetime.combine(monday, datetime.time(hour, minute), tzinfo=zone)


@pytest.fixture
def location():
    return LocationFactory(timezone="America/Chicago")


@pytest.fixture
def clerk(make_staff, location):
    return make_staff(role=Role.EMPLOYEE, location=location)


@pytest.fixture
def tech(location):
    return technician(location, full_name="Terry Tech")


@pytest.fixture
def setup_type(location):
    return AppointmentTypeFactory(
        organization=location.organization, code=AppointmentKind.EQUIPMENT_SETUP
    )


def book(location, tech, setup_type, start, **kw):
    return AppointmentFactory(
        location=location, type=setup_type, technician=tech, starts_at=start, **kw
    )


def week_of(location, start):
    monday = start.date()
    return {
        "location": str(location.public_id),
        "start": monday.isoformat(),
        "end": (monday + datetime.timedelta(days=7)).isoformat(),
    }


# ---------------------------------------------------------------- events


def test_events_of_the_week_come_in_the_locations_local_time(
    signed_in, clerk, location, tech, setup_type
):
    start = next_monday(location, 9)
    appt = book(location, tech, setup_type, start)
    book(location, tech, setup_type, start + datetime.timedelta(hours=2), state="cancelled")
    response = signed_in(clerk).get(EVENTS, week_of(location, start))
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "America/Chicago"
    assert [e["id"] for e in body["events"]] == [str(appt.public_id)]  # cancelled are hidden
    event = body["events"][0]
    assert event["start"] == start.replace(tzinfo=None).isoformat()
    assert event["color"] == setup_type.color
    assert event["technician"] == str(tech.public_id)
    assert event["editable"] is True
    assert appt.patient.last_name in event["title"]


def test_events_filter_by_technician_and_type(
    signed_in, clerk, location, tech, setup_type, make_staff
):
    start = next_monday(location, 9)
    other_tech = technician(location, full_name="Olive Other")
    follow_up = AppointmentTypeFactory(
        organization=location.organization, code=AppointmentKind.FOLLOW_UP
    )
    mine = book(location, tech, setup_type, start)
    theirs = book(location, other_tech, follow_up, start)
    unassigned = book(location, None, setup_type, start + datetime.timedelta(hours=3))
    client = signed_in(clerk)

    def ids(**params):
        response = client.get(EVENTS, {**week_of(location, start), **params})
        assert response.status_code == 200
        return {e["id"] for e in response.json()["events"]}

    assert ids(technician=str(tech.public_id)) == {str(mine.public_id)}
    assert ids(type=str(follow_up.public_id)) == {str(theirs.public_id)}
    assert ids(technician="none") == {str(unassigned.public_id)}


def test_events_page_runs_the_same_queries_for_two_or_twenty_appointments(
    signed_in, clerk, location, tech, setup_type, django_assert_num_queries
):
    start = next_monday(location, 8)
    client = signed_in(clerk)
    client.get(EVENTS, week_of(location, start))  # warm the session
    for n in range(2):
        book(location, tech, setup_type, start + datetime.timedelta(hours=n))
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(EVENTS, week_of(location, start)).json()["events"]) == 2
    for n in range(2, 20):
        book(location, None, setup_type, start + datetime.timedelta(days=n % 5, hours=n % 8))
    with django_assert_num_queries(len(few)):
        assert len(client.get(EVENTS, week_of(location, start)).json()["events"]) == 20


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_roles_without_the_location_calendar_get_404(signed_in, make_staff, location, role):
    user = make_staff(role=role, location=location)
    response = signed_in(user).get(EVENTS, week_of(location, next_monday(location, 9)))
    assert response.status_code == 404
    assert "error" in response.json()


def test_another_organizations_location_is_404(signed_in, make_staff, location, tech, setup_type):
    start = next_monday(location, 9)
    book(location, tech, setup_type, start)
    outsider = make_staff(role=Role.ADMIN)
    response = signed_in(outsider).get(EVENTS, week_of(location, start))
    assert response.status_code == 404
    assert str(location.public_id) not in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday", "end": "2030-01-08"},
        {"start": "2030-01-08", "end": "2030-01-01"},
        {"start": "2030-01-01", "end": "2030-06-01"},
        {"location": "not-a-uuid"},
        {"technician": "someone"},
    ],
)
def test_bad_event_queries_get_a_readable_400(signed_in, clerk, location, params):
    query = {"location": str(location.public_id), "start": "2030-01-01", "end": "2030-01-08"}
    response = signed_in(clerk).get(EVENTS, {**query, **params})
    assert response.status_code == 400
    assert response.json()["error"]["message"]


# ---------------------------------------------------------------- move


def move_url(appointment):
    return reverse("scheduling:api_move", kwargs={"public_id": appointment.public_id})


def test_a_drag_moves_the_appointment_and_publishes_the_change(
    signed_in, clerk, location, tech, setup_type
):
    start = next_monday(location, 9)
    appt = book(location, tech, setup_type, start)
    later = start + datetime.timedelta(hours=2)
    response = signed_in(clerk).post(
        move_url(appt),
        {
            "start": later.replace(tzinfo=None).isoformat(),
            "end": (later + datetime.timedelta(minutes=60)).replace(tzinfo=None).isoformat(),
            "version": appt.version,
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    appt.refresh_from_db()
    assert appt.starts_at == later
    assert response.json()["version"] == appt.version == 2
    assert OutboxEvent.objects.filter(
        name="appointment.moved", aggregate_id=str(appt.public_id)
    ).exists()


def test_a_drag_onto_a_busy_technician_is_refused_with_who_and_when(
    signed_in, clerk, location, tech, setup_type
):
    start = next_monday(location, 9)
    busy = book(location, tech, setup_type, start)
    appt = book(location, tech, setup_type, start + datetime.timedelta(hours=3))
    response = signed_in(clerk).post(
        move_url(appt),
        {
            "start": start.replace(tzinfo=None).isoformat(),
            "end": (start + datetime.timedelta(hours=1)).replace(tzinfo=None).isoformat(),
            "version": appt.version,
        },
        content_type="application/json",
    )
    assert response.status_code == 409
    message = response.json()["error"]["message"]
    assert "Terry Tech" in message
    appt.refresh_from_db()
    assert appt.starts_at == start + datetime.timedelta(hours=3)  # unchanged
    assert busy.state == AppointmentState.BOOKED


def test_a_move_based_on_an_old_version_is_refused(signed_in, clerk, location, tech, setup_type):
    start = next_monday(location, 9)
    appt = book(location, tech, setup_type, start)
    Appointment.objects.filter(pk=appt.pk).update(version=3)
    response = signed_in(clerk).post(
        move_url(appt),
        {"start": "2099-01-05T10:00:00", "end": "2099-01-05T11:00:00", "version": 1},
        content_type="application/json",
    )
    assert response.status_code == 409
    appt.refresh_from_db()
    assert (appt.starts_at, appt.version) == (start, 3)


def test_a_clinician_may_look_but_not_move(signed_in, make_staff, location, tech, setup_type):
    start = next_monday(location, 9)
    appt = book(location, tech, setup_type, start)
    clinician = make_staff(role=Role.CLINICIAN, location=location)
    before = AuditEvent.objects.count()
    response = signed_in(clinician).post(
        move_url(appt),
        {"start": "2099-01-05T10:00:00", "end": "2099-01-05T11:00:00", "version": 1},
        content_type="application/json",
    )
    assert response.status_code == 403
    appt.refresh_from_db()
    assert appt.starts_at == start
    assert AuditEvent.objects.count() == before
    assert not OutboxEvent.objects.filter(name="appointment.moved").exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"start": "soon", "end": "later", "version": 1},
        {"start": "2099-01-05T10:00:00", "end": "2099-01-05T11:00:00", "version": "x"},
        {
            "start": "2099-01-05T10:00:00",
            "end": "2099-01-05T11:00:00",
            "version": 1,
            "technician": "nobody",
        },
    ],
)
def test_bad_move_input_gets_a_readable_400_and_changes_nothing(
    signed_in, clerk, location, tech, setup_type, body
):
    start = next_monday(location, 9)
    appt = book(location, tech, setup_type, start)
    response = signed_in(clerk).post(move_url(appt), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    appt.refresh_from_db()
    assert appt.starts_at == start
