"""Availability: weekly hours, dated exceptions (bulk), capacity and skills; the slot finder and
the best-technician suggestion with its reason."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.models import AuditEvent
from clinic.tests.factories import LocationFactory
from patients.tests.factories import PatientFactory
from scheduling.availability.services import (
    AvailabilityInvalid,
    availability_exceptions_clear,
    availability_exceptions_set,
    slots_find,
    technician_profile_set,
    technician_suggest,
    working_hours_set,
)
from scheduling.booking.services import appointment_book
from scheduling.models import AvailabilityException, Skill, WorkingHours
from scheduling.tests.factories import technician

pytestmark = pytest.mark.django_db
T = datetime.time


def _book(employee, location, type_, tech, when):
    return appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=type_,
        starts_at=when,
        technician=tech,
    )


def test_slots_are_inside_hours_on_the_grid_and_skip_booked_time(
    employee, location, setup_type, tech, monday, at
):
    _book(employee, location, setup_type, tech, at(0, "10:00"))
    slots = slots_find(
        appointment_type=setup_type, location=location, date_from=monday, date_to=monday
    )
    starts = [s.starts_at for s in slots]
    assert starts[0] == at(0, "08:00")
    assert starts[-1] == at(0, "16:00")  # the last hour-long visit that ends by 17:00
    assert at(0, "09:00") in starts  # ends exactly when the booking starts
    assert at(0, "11:00") in starts  # starts exactly when it ends
    for blocked in ("09:15", "10:00", "10:45"):
        assert at(0, blocked) not in starts
    assert all(s.technician == tech for s in slots)
    assert len(starts) == len(set(starts))


def test_slots_respect_skills_exceptions_and_capacity(employee, location, setup_type, monday, at):
    no_skill = technician(location, full_name="Sam Supplies", skills=[Skill.SUPPLIES])
    off = technician(location, full_name="Olive Off")
    full = technician(location, full_name="Fay Full", capacity=1)
    availability_exceptions_set(
        actor=employee, profile=off.technician_profile, kind="UNAVAILABLE", dates=[monday]
    )
    _book(employee, location, setup_type, full, at(0, "08:00"))
    slots = slots_find(
        appointment_type=setup_type, location=location, date_from=monday, date_to=monday
    )
    assert not slots  # nobody left: no skill, day off, day full
    tuesday = slots_find(
        appointment_type=setup_type,
        location=location,
        date_from=monday + datetime.timedelta(days=1),
        date_to=monday + datetime.timedelta(days=1),
    )
    assert {s.technician for s in tuesday} == {off, full}
    assert no_skill not in {s.technician for s in tuesday}


def test_partial_exceptions_cut_and_extra_hours_add(
    employee, location, setup_type, tech, monday, at
):
    availability_exceptions_set(
        actor=employee,
        profile=tech.technician_profile,
        kind="UNAVAILABLE",
        dates=[monday],
        starts=T(12),
        ends=T(17),
    )
    saturday = monday + datetime.timedelta(days=5)
    availability_exceptions_set(
        actor=employee,
        profile=tech.technician_profile,
        kind="AVAILABLE",
        dates=[saturday],
        starts=T(9),
        ends=T(11),
    )
    monday_slots = [
        s.starts_at
        for s in slots_find(
            appointment_type=setup_type, location=location, date_from=monday, date_to=monday
        )
    ]
    assert monday_slots[-1] == at(0, "11:00")
    saturday_slots = [
        s.starts_at
        for s in slots_find(
            appointment_type=setup_type, location=location, date_from=saturday, date_to=saturday
        )
    ]
    assert saturday_slots == [at(5, "09:00"), at(5, "09:15"), at(5, "09:30"), at(5, "09:45"),
                              at(5, "10:00")]  # fmt: skip


def test_the_slot_finder_reads_a_fixed_number_of_queries(employee, location, setup_type, monday):
    technician(location, full_name="One")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            slots_find(
                appointment_type=setup_type,
                location=location,
                date_from=monday,
                date_to=monday + datetime.timedelta(days=6),
            )
        return len(ctx.captured_queries)

    few = count()
    for n in range(6):
        technician(location, full_name=f"More {n}")
    assert count() == few


def test_bulk_exceptions_over_a_range_on_chosen_weekdays_replace_earlier_ones(
    employee, tech, monday
):
    profile = tech.technician_profile
    rows = availability_exceptions_set(
        actor=employee,
        profile=profile,
        kind="UNAVAILABLE",
        date_from=monday,
        date_to=monday + datetime.timedelta(days=27),
        weekdays=[0, 2],
        reason="school run",
    )
    assert len(rows) == 8
    assert {r.date.weekday() for r in rows} == {0, 2}
    again = availability_exceptions_set(
        actor=employee,
        profile=profile,
        kind="UNAVAILABLE",
        dates=[monday],
        starts=T(8),
        ends=T(10),
    )
    assert len(again) == 1
    assert AvailabilityException.objects.filter(technician=profile).count() == 8
    assert AvailabilityException.objects.get(technician=profile, date=monday).starts == T(8)
    cleared = availability_exceptions_clear(
        actor=employee, profile=profile, date_from=monday, date_to=monday + datetime.timedelta(6)
    )
    assert cleared == 2
    audit = AuditEvent.objects.filter(action="technician.exceptions_set").first()
    assert audit.details["dates"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dates": []}, "at least one date"),
        ({"date_from": datetime.date(2030, 1, 2)}, "both the first and the last"),
        ({"dates": [datetime.date(2030, 1, 1)], "starts": T(10)}, "both a start and an end"),
        ({"dates": [datetime.date(2030, 1, 1)], "starts": T(10), "ends": T(9)}, "after the start"),
        ({"dates": [datetime.date(2030, 1, 1)], "kind": "AVAILABLE"}, "which hours"),
        (
            {"date_from": datetime.date(2030, 1, 1), "date_to": datetime.date(2032, 1, 1)},
            "at most 366",
        ),
    ],
)
def test_bad_exceptions_are_refused_and_nothing_is_written(employee, tech, kwargs, message):
    kwargs = {"kind": "UNAVAILABLE", **kwargs}
    with pytest.raises(AvailabilityInvalid, match=message):
        availability_exceptions_set(actor=employee, profile=tech.technician_profile, **kwargs)
    assert not AvailabilityException.objects.exists()


def test_weekly_hours_replace_and_refuse_overlaps(employee, tech):
    profile = tech.technician_profile
    working_hours_set(
        actor=employee,
        profile=profile,
        week={0: [(T(8), T(12)), (T(13), T(17))], 5: [(T(9), T(13))]},
    )
    assert WorkingHours.objects.filter(technician=profile).count() == 3
    with pytest.raises(AvailabilityInvalid, match="hours on Monday overlap"):
        working_hours_set(
            actor=employee, profile=profile, week={0: [(T(8), T(12)), (T(11), T(17))]}
        )
    assert WorkingHours.objects.filter(technician=profile).count() == 3


def test_profile_set_refuses_another_organizations_location(employee, tech):
    with pytest.raises(AvailabilityInvalid, match="not in your organization"):
        technician_profile_set(
            actor=employee,
            user=tech,
            home_location=LocationFactory(),
            skills=[Skill.SUPPLIES],
            capacity_per_day=4,
        )


def test_best_technician_is_the_lightest_available_and_the_reason_says_why(
    employee, location, setup_type, at
):
    busy = technician(location, full_name="Bea Busy")
    light = technician(location, full_name="Lee Light")
    unskilled = technician(location, full_name="Una Unskilled", skills=[Skill.SUPPLIES])
    _book(employee, location, setup_type, busy, at(0, "08:00"))
    _book(employee, location, setup_type, busy, at(0, "13:00"))
    _book(employee, location, setup_type, light, at(1, "13:00"))  # same week, other day

    suggestion = technician_suggest(
        appointment_type=setup_type, location=location, starts_at=at(0, "10:00")
    )
    assert suggestion is not None
    assert suggestion.technician == light
    assert suggestion.technician != unskilled
    assert suggestion.reason == (
        "Lee Light has the skill “Equipment setup and fitting”, works 08:00\u201317:00 that day "
        "and is free then; 0 of 8 visits booked that day and 1 this week — the lightest load "
        "of 2 available technicians."
    )


def test_week_workload_breaks_a_tie_on_the_day(employee, location, setup_type, at):
    a = technician(location, full_name="Ada")
    b = technician(location, full_name="Bob")
    _book(employee, location, setup_type, a, at(1, "09:00"))
    _book(employee, location, setup_type, a, at(2, "09:00"))
    _book(employee, location, setup_type, b, at(1, "09:00"))
    best = technician_suggest(
        appointment_type=setup_type, location=location, starts_at=at(0, "10:00")
    )
    assert best is not None and best.technician == b


def test_no_suggestion_when_nobody_can(employee, location, setup_type, tech, at):
    _book(employee, location, setup_type, tech, at(0, "10:00"))
    assert (
        technician_suggest(appointment_type=setup_type, location=location, starts_at=at(0, "10:30"))
        is None
    )
