"""Recurring series: RRULE reading, real rows up to the horizon, per-date conflict reports with
nothing saved, daylight saving, the daily extension, and this / following / all."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from patients.tests.factories import PatientFactory
from scheduling.booking.services import appointment_book
from scheduling.models import Appointment, AppointmentState, RecurringSeries
from scheduling.series.services import (
    HORIZON,
    SeriesConflicts,
    SeriesInvalid,
    occurrences,
    rrule_parse,
    series_cancel,
    series_create,
    series_edit,
    series_extend,
)
from scheduling.tests.outbox import events_dispatch

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("INTERVAL=2", "needs FREQ"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20300101", "COUNT or by UNTIL, never both"),
        ("FREQ=HOURLY", "DAILY, WEEKLY, MONTHLY or YEARLY"),
        ("FREQ=WEEKLY;BYMONTH=3", "BYMONTH is not supported"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY lists days"),
        ("FREQ=WEEKLY;COUNT=0", "COUNT must be a whole number from 1 to 500"),
        ("FREQ=WEEKLY;UNTIL=tomorrow", "UNTIL is a date like"),
        ("FREQ=WEEKLY;BYDAY=1MO", "Numbered days"),
        ("", "Give a repeat rule"),
    ],
)
def test_bad_rules_are_refused_with_a_message(rule, message):
    with pytest.raises(SeriesInvalid, match=message):
        rrule_parse(rule)


def test_a_rule_reads_back_the_same():
    assert rrule_parse("RRULE:freq=weekly;interval=2;byday=MO,TH;count=6").text() == (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=6"
    )


def _series(employee, patient, type_, tech, start, rule, **kw):
    return series_create(
        actor=employee,
        patient=patient,
        type=type_,
        starts_at=start,
        rrule=rule,
        technician=tech,
        **kw,
    )


def test_weekly_series_creates_real_rows_each_booked_through_the_service(
    employee, patient, types, tech, at
):
    follow_up = types["FOLLOW_UP"]
    series, booked = _series(
        employee, patient, follow_up, tech, at(0, "09:00"), "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6"
    )
    assert len(booked) == 6
    starts = [a.starts_at for a in Appointment.objects.filter(series=series)]
    assert starts == [
        at(0, "09:00"),
        at(2, "09:00"),
        at(7, "09:00"),
        at(9, "09:00"),
        at(14, "09:00"),
        at(16, "09:00"),
    ]
    assert all(a.recurrence_id == a.starts_at for a in booked)
    events_dispatch()  # the booked events' handlers plan the reminders
    assert all(a.reminders.count() == 2 for a in booked)


def test_conflicts_are_reported_per_date_and_nothing_is_saved(
    employee, patient, location, types, tech, at
):
    follow_up = types["FOLLOW_UP"]
    appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=follow_up,
        starts_at=at(7, "09:15"),
        technician=tech,
    )
    before = Appointment.objects.count()
    with pytest.raises(SeriesConflicts) as caught:
        _series(employee, patient, follow_up, tech, at(0, "09:00"), "FREQ=DAILY;COUNT=10")
    dates = caught.value.extra["dates"]
    # Day 5 and 6 are a weekend (no hours), day 7 is taken.
    monday = at(0, "09:00").astimezone(ZoneInfo(location.timezone)).date()
    assert [d["date"] for d in dates] == [
        (monday + datetime.timedelta(days=n)).isoformat() for n in (5, 6, 7)
    ]
    assert "not working on Sat" in dates[0]["problems"][0]
    assert "Dana Tech is already booked" in dates[2]["problems"][0]
    assert caught.value.message.startswith("3 of 10 dates cannot be booked, so nothing was saved.")
    assert Appointment.objects.count() == before
    assert not RecurringSeries.objects.exists()


def test_local_time_holds_across_daylight_saving(location):
    zone = ZoneInfo(location.timezone)
    year = timezone.localdate().year + 1
    # The first Sunday of November: US clocks go back an hour that night.
    first_sunday = next(
        datetime.date(year, 11, d) for d in range(1, 8) if datetime.date(year, 11, d).weekday() == 6
    )
    start = datetime.datetime.combine(
        first_sunday - datetime.timedelta(days=7), datetime.time(9), tzinfo=zone
    )
    starts = occurrences(
        rrule_parse("FREQ=WEEKLY;COUNT=3"),
        dtstart=start,
        zone=zone,
        until=start + datetime.timedelta(days=30),
    )
    assert [s.astimezone(zone).hour for s in starts] == [9, 9, 9]
    assert len({s.astimezone(datetime.UTC).hour for s in starts}) == 2


def test_the_daily_job_books_what_comes_inside_the_horizon_once(employee, patient, types, tech, at):
    series, booked = _series(
        employee, patient, types["FOLLOW_UP"], tech, at(0, "09:00"), "FREQ=WEEKLY;BYDAY=TU"
    )
    assert all(a.starts_at <= timezone.now() + HORIZON for a in booked)
    later = timezone.now() + datetime.timedelta(days=14)
    added, skipped = series_extend(series=series, now=later)
    assert added == 2 and skipped == []
    again, _ = series_extend(series=series, now=later)
    assert again == 0
    series.refresh_from_db()
    assert series.generated_until == later + HORIZON
    assert Appointment.objects.filter(series=series).count() == len(booked) + 2


def test_the_daily_job_skips_a_taken_date_and_says_so(employee, patient, location, types, tech, at):
    from clinic.models import AuditEvent

    series, booked = _series(
        employee, patient, types["FOLLOW_UP"], tech, at(0, "09:00"), "FREQ=WEEKLY;BYDAY=MO"
    )
    next_date = booked[-1].starts_at + datetime.timedelta(days=7)
    appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=types["FOLLOW_UP"],
        starts_at=next_date,
        technician=tech,
    )  # booked before the horizon reaches it
    added, skipped = series_extend(series=series, now=timezone.now() + datetime.timedelta(days=7))
    assert added == 0
    assert len(skipped) == 1
    assert AuditEvent.objects.filter(action="series.occurrence_skipped").count() == 1


def test_cancel_this_and_following_ends_the_series(employee, patient, types, tech, at):
    series, booked = _series(
        employee, patient, types["FOLLOW_UP"], tech, at(0, "09:00"), "FREQ=WEEKLY;COUNT=5"
    )
    cancelled = series_cancel(
        actor=employee, appointment=booked[2], scope="following", reason="Moving away"
    )
    assert [a.pk for a in cancelled] == [b.pk for b in booked[2:]]
    states = list(
        Appointment.objects.filter(series=series)
        .order_by("starts_at")
        .values_list("state", flat=True)
    )
    assert states == ["booked", "booked", "cancelled", "cancelled", "cancelled"]
    series.refresh_from_db()
    assert series.ended_at is not None
    assert "UNTIL=" in series.rrule and "COUNT" not in series.rrule
    assert series_extend(series=series)[0] == 0


def test_cancel_all_and_this(employee, patient, types, tech, at):
    series, booked = _series(
        employee, patient, types["FOLLOW_UP"], tech, at(0, "09:00"), "FREQ=WEEKLY;COUNT=3"
    )
    series_cancel(actor=employee, appointment=booked[1], scope="this", reason="Holiday")
    assert Appointment.objects.get(pk=booked[1].pk).state == AppointmentState.CANCELLED
    assert Appointment.objects.get(pk=booked[2].pk).state == AppointmentState.BOOKED
    series_cancel(actor=employee, appointment=booked[0], scope="all", reason="Done")
    assert not Appointment.objects.filter(series=series, state="booked").exists()


def test_edit_all_moves_the_time_of_day_and_the_rule(employee, patient, types, tech, at):
    series, booked = _series(
        employee, patient, types["FOLLOW_UP"], tech, at(0, "09:00"), "FREQ=WEEKLY;COUNT=3"
    )
    moved = series_edit(
        actor=employee,
        appointment=booked[1],
        scope="all",
        expected_version=1,
        starts_at=at(7, "14:00"),
    )
    assert [a.starts_at for a in moved] == [at(0, "14:00"), at(7, "14:00"), at(14, "14:00")]
    series.refresh_from_db()
    assert series.dtstart == at(0, "14:00")
    assert all(a.version == 2 for a in moved)


def test_edit_following_splits_the_series(employee, patient, types, tech, tech2, at):
    series, booked = _series(
        employee, patient, types["FOLLOW_UP"], tech, at(0, "09:00"), "FREQ=WEEKLY;COUNT=4"
    )
    moved = series_edit(
        actor=employee,
        appointment=booked[2],
        scope="following",
        expected_version=1,
        starts_at=at(14, "10:00"),
        technician=tech2,
    )
    assert [a.starts_at for a in moved] == [at(14, "10:00"), at(21, "10:00")]
    assert all(a.technician == tech2 for a in moved)
    new_series = RecurringSeries.objects.exclude(pk=series.pk).get()
    assert new_series.rrule == "FREQ=WEEKLY;COUNT=2"
    assert new_series.technician == tech2
    assert set(Appointment.objects.filter(series=new_series)) == set(moved)
    series.refresh_from_db()
    assert series.ended_at is not None
    first_two = Appointment.objects.filter(series=series).order_by("starts_at")
    assert [a.starts_at for a in first_two] == [at(0, "09:00"), at(7, "09:00")]


def test_edit_conflicts_are_reported_per_date_and_nothing_moves(
    employee, patient, location, types, tech, at
):
    series, booked = _series(
        employee, patient, types["FOLLOW_UP"], tech, at(0, "09:00"), "FREQ=WEEKLY;COUNT=3"
    )
    appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=types["FOLLOW_UP"],
        starts_at=at(14, "11:00"),
        technician=tech,
    )
    with pytest.raises(SeriesConflicts) as caught:
        series_edit(
            actor=employee,
            appointment=booked[0],
            scope="all",
            expected_version=1,
            starts_at=at(0, "11:00"),
        )
    assert len(caught.value.extra["dates"]) == 1
    assert sorted(a.starts_at for a in Appointment.objects.filter(series=series)) == [
        at(0, "09:00"),
        at(7, "09:00"),
        at(14, "09:00"),
    ]


def test_a_series_keeps_its_days(employee, patient, types, tech, at):
    _, booked = _series(
        employee, patient, types["FOLLOW_UP"], tech, at(0, "09:00"), "FREQ=WEEKLY;COUNT=3"
    )
    with pytest.raises(SeriesInvalid, match="keeps its days"):
        series_edit(
            actor=employee,
            appointment=booked[0],
            scope="all",
            expected_version=1,
            starts_at=at(1, "09:00"),
        )
