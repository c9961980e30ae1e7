"""Recurring series in the portal: the booking form's repeat part shows every date and its
conflicts before anything is saved, then books the series on confirmation; an appointment of a
series is changed or cancelled for this / this and following / all visits."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory
from scheduling.booking.tests import test_views_booking as booking_tests
from scheduling.models import Appointment, AppointmentState, RecurringSeries
from scheduling.series.services import series_create
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

# The booking form's own fixtures: a Chicago location, its clerk, Terry and Penny.
location, clerk, scene = booking_tests.location, booking_tests.clerk, booking_tests.scene

BOOK = reverse("scheduling:book")


def at(scene, days: int, hour: int = 10) -> datetime.datetime:
    day = scene["monday"] + datetime.timedelta(days=days)
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=scene["zone"])


def series_form(location, scene, **extra):
    return {
        "location": str(location.public_id),
        "type": str(scene["type"].public_id),
        "date": scene["monday"].isoformat(),
        "patient": str(scene["patient"].public_id),
        "slot": f"{scene['monday'].isoformat()}T10:00|{scene['terry'].public_id}",
        "repeat": "WEEKLY",
        "interval": "1",
        "byday": ["MO", "WE"],
        "ends": "count",
        "count": "4",
        **extra,
    }


def _confirm_key(page: str) -> str:
    found = re.search(r'name="confirm_series" value="([0-9a-f]+)"', page)
    assert found, "the page offers no confirmation"
    return found.group(1)


def test_a_series_is_previewed_date_by_date_and_nothing_is_saved(signed_in, clerk, location, scene):
    response = signed_in(clerk).post(BOOK, series_form(location, scene))
    assert response.status_code == 200
    page = response.content.decode()
    assert "4 dates, all free" in page
    assert page.count('class="ok"') == 4
    assert "Book these 4 visits" in page
    assert not Appointment.objects.exists() and not RecurringSeries.objects.exists()


def test_confirming_the_previewed_series_books_every_date(signed_in, clerk, location, scene):
    client = signed_in(clerk)
    key = _confirm_key(client.post(BOOK, series_form(location, scene)).content.decode())
    response = client.post(BOOK, series_form(location, scene, confirm_series=key))
    assert response.status_code == 302
    series = RecurringSeries.objects.get()
    assert series.rrule == "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"
    starts = list(Appointment.objects.order_by("starts_at").values_list("starts_at", flat=True))
    assert starts == [at(scene, 0), at(scene, 2), at(scene, 7), at(scene, 9)]


def test_a_confirmation_of_another_plan_only_shows_the_preview_again(
    signed_in, clerk, location, scene
):
    client = signed_in(clerk)
    key = _confirm_key(client.post(BOOK, series_form(location, scene)).content.decode())
    changed = series_form(location, scene, count="6", confirm_series=key)
    response = client.post(BOOK, changed)
    assert response.status_code == 200
    assert "6 dates, all free" in response.content.decode()
    assert not Appointment.objects.exists()


def test_a_taken_date_is_reported_with_its_reason_and_nothing_is_saved(
    signed_in, clerk, location, scene
):
    AppointmentFactory(location=location, technician=scene["terry"], starts_at=at(scene, 7))
    client = signed_in(clerk)
    page = client.post(BOOK, series_form(location, scene)).content.decode()
    assert "1 of 4 dates cannot be booked" in page
    assert page.count('class="bad"') == 1 and "Terry Tech" in page
    assert "Book these" not in page
    # A forged confirmation is checked again by the service: still nothing saved.
    from scheduling.booking.views import _plan_key

    form = series_form(location, scene)
    key = _plan_key(
        "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4",
        form["slot"],
        scene["patient"].public_id,
        scene["type"].public_id,
        location.public_id,
    )
    response = client.post(BOOK, {**form, "confirm_series": key})
    assert response.status_code == 400
    assert "cannot be booked, so nothing was saved" in response.content.decode()
    assert Appointment.objects.count() == 1 and not RecurringSeries.objects.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"count": ""}, "Say how many visits, or choose an end date."),
        ({"ends": "until", "until": ""}, "Give the last date, or choose a number of visits."),
        ({"repeat": "DAILY"}, "Days of the week go with a weekly repeat."),
        ({"interval": "0"}, "Every 1 to 99."),
        ({"count": "9999"}, "From 1 to 500 visits."),
        ({"repeat": "HOURLY"}, "Select a valid choice"),
        ({"byday": ["XX"]}, "Select a valid choice"),
        ({"ends": "until", "count": "", "until": "2001-01-01"}, "no dates in the next 90 days"),
        ({"until": "not a date", "ends": "until"}, "Enter a valid date"),
    ],
)
def test_bad_repeat_input_is_explained_and_nothing_is_saved(
    signed_in, clerk, location, scene, extra, message
):
    response = signed_in(clerk).post(BOOK, series_form(location, scene, **extra))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Appointment.objects.exists() and not RecurringSeries.objects.exists()


# ---------------------------------------------------------------- an appointment of a series


@pytest.fixture
def series(clerk, location, scene):
    _series, booked = series_create(
        actor=clerk,
        patient=scene["patient"],
        type=scene["type"],
        location=location,
        starts_at=at(scene, 0),
        technician=scene["terry"],
        rrule="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4",
    )
    return booked


def _url(name, appointment):
    return reverse(f"scheduling:{name}", kwargs={"public_id": appointment.public_id})


def _states(series):
    return [Appointment.objects.get(pk=a.pk).state for a in series]


def test_the_appointment_page_of_a_series_offers_the_scopes(signed_in, clerk, series):
    page = signed_in(clerk).get(_url("appointment", series[1])).content.decode()
    assert "Every week on Mon, Wed, 4 visits" in page
    assert "This and the following visits" in page and "All visits still ahead" in page
    assert "Change the series" in page


@pytest.mark.parametrize(
    "scope, expected",
    [
        ("this", ["booked", "cancelled", "booked", "booked"]),
        ("following", ["booked", "cancelled", "cancelled", "cancelled"]),
        ("all", ["cancelled"] * 4),
    ],
)
def test_cancelling_this_following_or_all(signed_in, clerk, series, scope, expected):
    response = signed_in(clerk).post(
        _url("appointment_cancel", series[1]), {"reason": "Moving away", "scope": scope}
    )
    assert response.status_code == 302
    assert _states(series) == expected


def test_a_bad_scope_is_refused_and_nothing_changes(signed_in, clerk, series):
    client = signed_in(clerk)
    response = client.post(
        _url("appointment_cancel", series[1]), {"reason": "x", "scope": "everything"}, follow=True
    )
    assert "Choose this visit, this and following, or all." in response.content.decode()
    assert _states(series) == [AppointmentState.BOOKED] * 4


def test_changing_the_time_of_this_and_the_following_visits(signed_in, clerk, series, scene):
    data = {"time": "14:00", "duration": "45", "scope": "following", "version": "1"}
    response = signed_in(clerk).post(_url("appointment_series_edit", series[2]), data)
    assert response.status_code == 302
    rows = list(Appointment.objects.order_by("recurrence_id"))
    assert [r.starts_at for r in rows] == [
        at(scene, 0),
        at(scene, 2),
        at(scene, 7, 14),
        at(scene, 9, 14),
    ]
    assert rows[3].ends_at - rows[3].starts_at == datetime.timedelta(minutes=45)


def test_a_series_change_into_a_taken_date_lists_it_and_saves_nothing(
    signed_in, clerk, series, scene, location
):
    AppointmentFactory(location=location, technician=scene["terry"], starts_at=at(scene, 9, 14))
    data = {"time": "14:00", "duration": "60", "scope": "all", "version": "1"}
    response = signed_in(clerk).post(_url("appointment_series_edit", series[0]), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Not changed" in page and "cannot be booked" in page and 'class="bad"' in page
    assert [a.starts_at for a in Appointment.objects.filter(series__isnull=False)] == [
        at(scene, 0), at(scene, 2), at(scene, 7), at(scene, 9)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "data, message",
    [
        ({"time": "25:00", "duration": "60", "scope": "all"}, "Give a time like 09:30."),
        ({"time": "10:00", "duration": "0", "scope": "all"}, "From 5 to 480 minutes."),
        ({"time": "10:00", "duration": "60", "scope": ""}, "Choose this visit, this and"),
        ({"time": "10:00", "duration": "60", "scope": "all", "technician": "x"}, "Select a valid"),
    ],
)
def test_bad_series_change_input_is_explained(signed_in, clerk, series, data, message):
    response = signed_in(clerk).post(
        _url("appointment_series_edit", series[0]), {**data, "version": "1"}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert all(a.version == 1 for a in Appointment.objects.all())


def test_a_stale_version_is_refused_with_the_current_one(signed_in, clerk, series):
    Appointment.objects.filter(pk=series[0].pk).update(version=2)
    data = {"time": "14:00", "duration": "60", "scope": "all", "version": "1"}
    response = signed_in(clerk).post(_url("appointment_series_edit", series[0]), data)
    assert response.status_code == 400
    assert "Not changed" in response.content.decode()
    assert Appointment.objects.filter(starts_at__hour=20).count() == 0  # 14:00 CST = 20:00 UTC


@pytest.mark.parametrize("who", ["clinician", "stranger"])
def test_who_may_not_book_gets_404_and_nothing_changes(
    signed_in, make_staff, series, location, who
):
    if who == "clinician":
        user = make_staff(role=Role.CLINICIAN, location=location)
    else:
        user = make_staff(role=Role.EMPLOYEE, location=LocationFactory())
    client = signed_in(user)
    before = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    data = {"time": "14:00", "duration": "60", "scope": "all", "version": "1"}
    assert client.post(_url("appointment_series_edit", series[0]), data).status_code == 404
    cancel = {"reason": "x", "scope": "all"}
    assert client.post(_url("appointment_cancel", series[0]), cancel).status_code == 404
    assert _states(series) == [AppointmentState.BOOKED] * 4
    written = AuditEvent.objects.filter(pk__gt=before).values_list("action", flat=True)
    assert not [a for a in written if a.startswith(("appointment.", "series."))]
