"""Fixtures for scheduling tests: a location with an employee, technicians with weekly hours
(Monday to Friday, 8:00-17:00 in the location's time zone), the organization's appointment types,
a patient, and ``at(day, "10:00")`` for aware times on a weekday well ahead of today."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from clinic import times
from clinic.models import Role
from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401
from clinic.tests.factories import staff_user
from patients.tests.factories import PatientFactory
from scheduling.booking.services import appointment_types_ensure
from scheduling.models import AppointmentKind, AppointmentType
from scheduling.tests.factories import technician


def next_monday(weeks_ahead: int = 2) -> datetime.date:
    today = datetime.date.today()
    return today + datetime.timedelta(days=7 * weeks_ahead - today.weekday())


@pytest.fixture
def employee(location):
    return staff_user(role=Role.EMPLOYEE, location=location, full_name="Erin Employee")


@pytest.fixture
def tech(location):
    return technician(location, full_name="Dana Tech")


@pytest.fixture
def tech2(location):
    return technician(location, full_name="Eli Tech")


@pytest.fixture
def types(location) -> dict[str, AppointmentType]:
    appointment_types_ensure(actor=None, organization=location.organization)
    return {t.code: t for t in AppointmentType.objects.filter(organization=location.organization)}


@pytest.fixture
def setup_type(types) -> AppointmentType:
    return types[AppointmentKind.EQUIPMENT_SETUP]  # 60 minutes, needs a technician


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location, phone_mobile="+18605550142")


@pytest.fixture
def monday() -> datetime.date:
    return next_monday()


@pytest.fixture
def at(location, monday):
    """at(day_offset, "HH:MM") -> aware UTC datetime at the location, from the test Monday."""
    zone = ZoneInfo(location.timezone)

    def make(day: int, hhmm: str) -> datetime.datetime:
        h, m = (int(x) for x in hhmm.split(":"))
        local = datetime.datetime.combine(
            monday + datetime.timedelta(days=day), datetime.time(h, m), tzinfo=zone
        )
        return local.astimezone(datetime.UTC)

    return make


@pytest.fixture
def clock_at(monkeypatch):
    """clock_at(moment): "today" at every location (clinic.times.local_now) is read from
    ``moment``, so a visit ahead of the real date can be checked in on its own day."""

    def set_clock(moment: datetime.datetime) -> None:
        monkeypatch.setattr(
            times, "local_now", lambda where: moment.astimezone(times.zone_for(where))
        )

    return set_clock
