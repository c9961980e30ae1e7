"""The waitlist page: add a patient (with clear messages for bad input), the list in order, the
offers a freed slot makes, accepted or declined from the page, expired offers, and scoping."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory
from patients.tests.factories import PatientFactory
from scheduling.booking.services import appointment_book, appointment_cancel
from scheduling.models import Appointment, AppointmentState, WaitlistEntry, WaitlistOffer
from scheduling.tests.outbox import events_dispatch
from scheduling.waitlist.services import waitlist_add

pytestmark = pytest.mark.django_db

PAGE = reverse("scheduling:waitlist")


def _page(location) -> str:
    return f"{PAGE}?location={location.public_id}"


def _form(patient, type_, monday, **extra):
    return {
        "patient": str(patient.public_id),
        "type": str(type_.public_id),
        "earliest_date": monday.isoformat(),
        "latest_date": (monday + datetime.timedelta(days=7)).isoformat(),
        "earliest_time": "",
        "latest_time": "",
        **extra,
    }


def _wait(employee, location, type_, monday, **patient):
    return waitlist_add(
        actor=employee,
        patient=PatientFactory(home_location=location, **patient),
        type=type_,
        location=location,
        earliest_date=monday,
        latest_date=monday + datetime.timedelta(days=7),
    )


def test_adding_a_patient_puts_them_at_the_end_of_the_list(
    signed_in, employee, location, setup_type, monday
):
    _wait(employee, location, setup_type, monday, first_name="Ann", last_name="First")
    patient = PatientFactory(home_location=location, first_name="Bo", last_name="Second")
    client = signed_in(employee)
    form = _form(patient, setup_type, monday, earliest_time="09:00", latest_time="12:00")
    response = client.post(_page(location), form)
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get(patient=patient)
    assert (entry.earliest_time, entry.latest_time) == (datetime.time(9), datetime.time(12))
    page = client.get(_page(location)).content.decode()
    assert page.index("First, Ann") < page.index("Second, Bo")
    assert "from 09:00 until 12:00" in page
    assert AuditEvent.objects.filter(action="waitlist.viewed").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"patient": ""}, "Find and pick the patient first."),
        ({"patient": "nope"}, "Pick a patient from the list."),
        ({"type": "x"}, "Choose an appointment type from the list."),
        ({"earliest_date": ""}, "Give the first date."),
        ({"latest_date": "31/31/2031"}, "Give a date."),
        ({"latest_date": "2001-01-01", "earliest_date": "2000-12-01"}, "Those dates have passed."),
        ({"latest_date": "2000-01-01"}, "The last date is before the first."),
        ({"earliest_time": "12:00", "latest_time": "09:00"}, "must be later than"),
        ({"earliest_time": "99:00"}, "Give a time like 09:00."),
    ],
)
def test_bad_input_is_explained_and_nothing_is_added(
    signed_in, employee, location, setup_type, patient, monday, extra, message
):
    response = signed_in(employee).post(
        _page(location), {**_form(patient, setup_type, monday), **extra}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_a_patient_already_waiting_or_of_another_organization_is_refused(
    signed_in, employee, location, setup_type, patient, monday
):
    client = signed_in(employee)
    assert client.post(_page(location), _form(patient, setup_type, monday)).status_code == 302
    again = client.post(_page(location), _form(patient, setup_type, monday))
    assert again.status_code == 400
    assert "already waiting" in again.content.decode()
    stranger = PatientFactory(home_location=LocationFactory())
    other = client.post(_page(location), _form(stranger, setup_type, monday))
    assert other.status_code == 400 and "Pick a patient from the list." in other.content.decode()
    assert WaitlistEntry.objects.count() == 1


@pytest.fixture
def offered(employee, location, setup_type, tech, at, monday):
    """Two waiting patients, then a cancelled visit: its time is offered to both."""
    for name in ("Ann", "Bo"):
        _wait(employee, location, setup_type, monday, first_name=name, last_name="Waiting")
    booked = appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=setup_type,
        starts_at=at(0, "10:00"),
        technician=tech,
    )
    appointment_cancel(actor=employee, appointment=booked, reason="Patient ill")
    events_dispatch()  # the cancelled event's handler makes the offers
    return list(WaitlistOffer.objects.order_by("rank"))


def test_offers_are_shown_and_the_one_accepted_books_the_slot(
    signed_in, employee, location, offered, at
):
    client = signed_in(employee)
    page = client.get(_page(location)).content.decode()
    assert page.count(">Accept</button>") == 2 and "min left" in page
    accept = reverse("scheduling:waitlist_offer_accept", kwargs={"public_id": offered[1].public_id})
    response = client.post(accept, follow=True)
    assert "Accepted: booked for" in response.content.decode()
    appointment = Appointment.objects.get(state=AppointmentState.BOOKED)
    assert appointment.patient == offered[1].entry.patient and appointment.starts_at == at(
        0, "10:00"
    )
    # The other offer was withdrawn; accepting it now is refused with the reason.
    late = reverse("scheduling:waitlist_offer_accept", kwargs={"public_id": offered[0].public_id})
    response = client.post(late, follow=True)
    assert "Someone else took this slot first." in response.content.decode()
    assert Appointment.objects.filter(state=AppointmentState.BOOKED).count() == 1


def test_declining_an_offer(signed_in, employee, location, offered):
    decline = reverse(
        "scheduling:waitlist_offer_decline", kwargs={"public_id": offered[0].public_id}
    )
    response = signed_in(employee).post(decline, follow=True)
    assert "Declined." in response.content.decode()
    offered[0].refresh_from_db()
    assert offered[0].state == WaitlistOffer.State.DECLINED


def test_an_expired_offer_shows_as_expired_and_cannot_be_accepted(
    signed_in, employee, location, offered
):
    WaitlistOffer.objects.update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    client = signed_in(employee)
    page = client.get(_page(location)).content.decode()
    assert ">Accept</button>" not in page and "Expired" in page
    accept = reverse("scheduling:waitlist_offer_accept", kwargs={"public_id": offered[0].public_id})
    assert "This offer has expired." in client.post(accept, follow=True).content.decode()
    assert not Appointment.objects.filter(state=AppointmentState.BOOKED).exists()


def test_taking_a_patient_off_the_waitlist(signed_in, employee, location, setup_type, monday):
    entry = _wait(employee, location, setup_type, monday)
    remove = reverse("scheduling:waitlist_remove", kwargs={"public_id": entry.public_id})
    assert signed_in(employee).post(remove).status_code == 302
    entry.refresh_from_db()
    assert entry.state == WaitlistEntry.State.REMOVED


def test_the_page_runs_the_same_queries_for_one_or_six_waiting(
    signed_in, employee, location, setup_type, monday, offered
):
    client = signed_in(employee)
    client.get(_page(location))
    with CaptureQueriesContext(connection) as few:
        client.get(_page(location))
    for _ in range(4):
        _wait(employee, location, setup_type, monday)
    with CaptureQueriesContext(connection) as many:
        page = client.get(_page(location)).content.decode()
    assert page.count('class="wait-place"') == 6
    assert len(many) == len(few)


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_roles_that_do_not_book_get_404(signed_in, make_staff, location, role, offered):
    client = signed_in(make_staff(role=role, location=location))
    assert client.get(_page(location)).status_code == 404
    accept = reverse("scheduling:waitlist_offer_accept", kwargs={"public_id": offered[0].public_id})
    assert client.post(accept).status_code == 404
    assert not Appointment.objects.filter(state=AppointmentState.BOOKED).exists()


def test_another_organizations_staff_see_nothing(signed_in, make_staff, location, offered):
    stranger = make_staff(role=Role.EMPLOYEE, location=LocationFactory())
    client = signed_in(stranger)
    assert client.get(_page(location)).status_code == 404  # not one of their locations
    page = client.get(PAGE).content.decode()
    assert "Waiting, Ann" not in page and "Nobody is waiting" in page
    for name in ("waitlist_offer_accept", "waitlist_offer_decline"):
        url = reverse(f"scheduling:{name}", kwargs={"public_id": offered[0].public_id})
        assert client.post(url).status_code == 404
    remove = reverse("scheduling:waitlist_remove", kwargs={"public_id": offered[0].entry.public_id})
    assert client.post(remove).status_code == 404
    assert WaitlistOffer.objects.filter(state=WaitlistOffer.State.PENDING).count() == 2
    assert WaitlistEntry.objects.filter(state=WaitlistEntry.State.WAITING).count() == 2


def test_waiting_since_is_the_date_at_the_location(
    signed_in, employee, location, setup_type, monday
):
    # 2026-12-04 02:30 UTC is 3 Dec 20:30 in Chicago: the page used to say "waiting since 4 Dec".
    location.timezone = "America/Chicago"
    location.save()
    entry = _wait(employee, location, setup_type, monday, first_name="Ann", last_name="Evening")
    evening = datetime.datetime(2026, 12, 4, 2, 30, tzinfo=datetime.UTC)
    WaitlistEntry.objects.filter(pk=entry.pk).update(created_at=evening)
    page = signed_in(employee).get(_page(location)).content.decode()
    assert (
        'waiting since <time datetime="2026-12-04T02:30:00+00:00" title="America/Chicago">' in page
    )
    assert "3 Dec 2026</time>" in page
