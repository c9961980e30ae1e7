"""A field technician's pages: my day (own visits only, in order, contact and map link, check in
and complete through the services) and my availability (weekly hours, exceptions)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.models import AuditEvent, OutboxEvent, Role
from patients.tests.factories import PatientFactory
from scheduling.models import AppointmentState, AvailabilityException
from scheduling.tests.factories import AppointmentFactory, technician

pytestmark = pytest.mark.django_db

MY_DAY = reverse("scheduling:my_day")
MY_HOURS = reverse("scheduling:my_availability")


@pytest.fixture
def tech(location):
    return technician(location, full_name="Terry Tech")


def today_at(location, hour):
    zone = ZoneInfo(location.timezone)
    return datetime.datetime.combine(
        timezone.now().astimezone(zone).date(), datetime.time(hour), tzinfo=zone
    )


def visit(location, tech, hour, **kw):
    return AppointmentFactory(
        location=location, technician=tech, starts_at=today_at(location, hour), **kw
    )


def test_my_day_lists_only_my_visits_in_order_with_contact_and_map(signed_in, location, tech):
    patient = PatientFactory(
        home_location=location,
        address_line1="12 Elm St",
        city="Springfield",
        phone_mobile="+15555550123",
    )
    late = visit(location, tech, 14)
    early = visit(location, tech, 9, patient=patient)
    colleague = technician(location)
    theirs = visit(location, colleague, 10)
    visit(location, tech, 11, state=AppointmentState.CANCELLED)

    page = signed_in(tech).get(MY_DAY).content.decode()
    assert page.index(str(early.public_id)) < page.index(str(late.public_id))
    assert str(theirs.public_id) not in page
    assert page.count("data-visit=") == 2
    assert "12 Elm St" in page
    assert "https://www.google.com/maps/search/?api=1&amp;query=12+Elm+St" in page
    assert 'href="tel:+15555550123"' in page
    assert AuditEvent.objects.filter(
        action="patient.viewed", actor=tech, object_id=str(patient.public_id)
    ).exists()


def test_my_day_queries_do_not_grow_with_visits(
    signed_in, location, tech, django_assert_num_queries
):
    client = signed_in(tech)
    visit(location, tech, 8)
    client.get(MY_DAY)
    with CaptureQueriesContext(connection) as one:
        client.get(MY_DAY)
    audits_one = 1
    for hour in (10, 12, 14, 16):
        visit(location, tech, hour)
    # The page itself is constant; each shown patient adds its one audit row (insert).
    with django_assert_num_queries(len(one) + 4 * audits_one):
        client.get(MY_DAY)


def test_check_in_and_complete_from_my_day(signed_in, location, tech):
    appointment = visit(location, tech, 9)
    client = signed_in(tech)
    check_in = reverse(
        "scheduling:my_day_action",
        kwargs={"public_id": appointment.public_id, "action": "check-in"},
    )
    complete = reverse(
        "scheduling:my_day_action",
        kwargs={"public_id": appointment.public_id, "action": "complete"},
    )
    assert client.post(check_in).status_code == 302
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.CHECKED_IN
    client.post(complete)
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.FULFILLED
    assert OutboxEvent.objects.filter(name="appointment.state_changed").count() == 2


def test_a_technician_cannot_act_on_someone_elses_visit(signed_in, location, tech):
    colleague = technician(location)
    theirs = visit(location, colleague, 9)
    url = reverse(
        "scheduling:my_day_action", kwargs={"public_id": theirs.public_id, "action": "check-in"}
    )
    assert signed_in(tech).post(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == AppointmentState.BOOKED
    assert not OutboxEvent.objects.filter(name="appointment.state_changed").exists()
    # The positive control: the visit's own technician can.
    assert signed_in(colleague).post(url).status_code == 302
    theirs.refresh_from_db()
    assert theirs.state == AppointmentState.CHECKED_IN


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.SUPPORT])
def test_office_roles_have_no_technician_pages(signed_in, make_staff, location, role):
    client = signed_in(make_staff(role=role, location=location))
    assert client.get(MY_DAY).status_code == 404
    assert client.get(MY_HOURS).status_code == 404


# ---------------------------------------------------------------- my availability


def hours_post(**days):
    data = {"form": "hours"}
    for weekday in range(7):
        starts, ends = days.get(f"d{weekday}", ("", ""))
        data[f"d{weekday}-starts"], data[f"d{weekday}-ends"] = starts, ends
    return data


def test_weekly_hours_are_replaced_through_the_service(signed_in, tech):
    response = signed_in(tech).post(
        MY_HOURS, hours_post(d0=("07:00", "15:00"), d5=("09:00", "12:00"))
    )
    assert response.status_code == 302
    rows = {
        (h.weekday, h.starts.hour, h.ends.hour) for h in tech.technician_profile.working_hours.all()
    }
    assert rows == {(0, 7, 15), (5, 9, 12)}
    assert AuditEvent.objects.filter(action="technician.hours_changed", actor=tech).exists()


@pytest.mark.parametrize("day", [("09:00", ""), ("15:00", "09:00"), ("nine", "five")])
def test_bad_hours_are_refused_and_nothing_changes(signed_in, tech, day):
    before = list(tech.technician_profile.working_hours.values_list("weekday", "starts", "ends"))
    response = signed_in(tech).post(MY_HOURS, hours_post(d0=day))
    assert response.status_code == 200
    assert "has-error" in response.content.decode()
    after = list(tech.technician_profile.working_hours.values_list("weekday", "starts", "ends"))
    assert after == before


def test_days_off_over_a_range_then_one_removed(signed_in, tech):
    client = signed_in(tech)
    first = timezone.now().date() + datetime.timedelta(days=10)
    response = client.post(
        MY_HOURS,
        {
            "form": "exception",
            "date": first.isoformat(),
            "until": (first + datetime.timedelta(days=2)).isoformat(),
            "kind": AvailabilityException.Kind.UNAVAILABLE,
            "reason": "pto",
        },
    )
    assert response.status_code == 302
    rows = AvailabilityException.objects.filter(technician=tech.technician_profile)
    assert rows.count() == 3
    page = client.get(MY_HOURS).content.decode()
    assert page.count("(whole day)") == 3

    remove = reverse("scheduling:exception_remove", kwargs={"public_id": rows.first().public_id})
    client.post(remove)
    assert rows.count() == 2


def test_extra_hours_need_times(signed_in, tech):
    response = signed_in(tech).post(
        MY_HOURS,
        {
            "form": "exception",
            "date": (timezone.now().date() + datetime.timedelta(days=3)).isoformat(),
            "kind": AvailabilityException.Kind.AVAILABLE,
        },
    )
    assert response.status_code == 200
    assert "Extra hours need a start and an end time." in response.content.decode()
    assert not AvailabilityException.objects.exists()


def test_someone_elses_exception_cannot_be_removed(signed_in, location, tech):
    colleague = technician(location)
    theirs = AvailabilityException.objects.create(
        technician=colleague.technician_profile,
        date=timezone.now().date() + datetime.timedelta(days=5),
        kind=AvailabilityException.Kind.UNAVAILABLE,
    )
    url = reverse("scheduling:exception_remove", kwargs={"public_id": theirs.public_id})
    assert signed_in(tech).post(url).status_code == 404
    assert AvailabilityException.objects.filter(pk=theirs.pk).exists()


def test_a_visit_of_another_day_offers_no_check_in_and_is_refused(signed_in, location, tech):
    tomorrow = visit(location, tech, 9)
    tomorrow.starts_at += datetime.timedelta(days=1)
    tomorrow.ends_at += datetime.timedelta(days=1)
    tomorrow.save()
    client = signed_in(tech)
    day = tomorrow.starts_at.astimezone(ZoneInfo(location.timezone)).date()
    page = client.get(MY_DAY, {"date": day.isoformat()}).content.decode()
    assert str(tomorrow.public_id) in page
    assert "Check in</button>" not in page
    assert "open on the visit's day" in page
    check_in = reverse(
        "scheduling:my_day_action", kwargs={"public_id": tomorrow.public_id, "action": "check-in"}
    )
    followed = client.post(check_in, {"not_today": "1", "reason": "nearby"}, follow=True)
    assert "ask the office" in followed.content.decode()
    tomorrow.refresh_from_db()
    assert tomorrow.state == AppointmentState.BOOKED
    # The positive control: today's visit offers the button.
    visit(location, tech, 10)
    assert "Check in</button>" in client.get(MY_DAY).content.decode()
