"""The database itself refuses double bookings (exclusion constraints over half-open ranges)."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, transaction

from clinic.tests.factories import LocationFactory
from patients.tests.factories import PatientFactory
from scheduling.models import AppointmentKind, AppointmentState
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    RoomFactory,
    technician,
)

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2030, 3, 4, 14, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def location():
    return LocationFactory()


def _book(location, **kw):
    kw.setdefault("starts_at", T0)
    kw.setdefault("ends_at", kw["starts_at"] + HOUR)
    return AppointmentFactory(location=location, **kw)


def test_overlapping_appointments_for_one_technician_are_refused_by_the_database(location):
    tech = technician(location)
    _book(location, technician=tech)
    with pytest.raises(IntegrityError, match="no_technician_overlap"), transaction.atomic():
        _book(location, technician=tech, starts_at=T0 + HOUR / 2)


def test_back_to_back_appointments_touch_without_overlapping(location):
    tech = technician(location)
    room = RoomFactory(location=location)
    patient = PatientFactory(home_location=location)
    _book(location, technician=tech, room=room, patient=patient)
    second = _book(location, technician=tech, room=room, patient=patient, starts_at=T0 + HOUR)
    assert second.pk


def test_room_and_patient_overlaps_are_refused_by_the_database(location):
    room = RoomFactory(location=location)
    patient = PatientFactory(home_location=location)
    _book(location, room=room)
    _book(location, patient=patient, starts_at=T0 + 3 * HOUR)
    with pytest.raises(IntegrityError, match="appointment_no_room_overlap"), transaction.atomic():
        _book(location, room=room, starts_at=T0 + HOUR / 4)
    with pytest.raises(IntegrityError, match="no_patient_overlap"), transaction.atomic():
        _book(location, patient=patient, starts_at=T0 + 3 * HOUR)


def test_cancelled_appointments_free_their_time(location):
    tech = technician(location)
    first = _book(location, technician=tech)
    first.state = AppointmentState.CANCELLED
    first.save()
    assert _book(location, technician=tech).pk


def test_an_appointment_must_end_after_it_starts(location):
    with pytest.raises(IntegrityError, match="appointment_ends_after_start"), transaction.atomic():
        _book(location, ends_at=T0)


def test_type_factory_gives_one_type_per_code_and_organization(location):
    a = AppointmentTypeFactory(organization=location.organization, code=AppointmentKind.REFERRAL)
    b = AppointmentTypeFactory(organization=location.organization, code=AppointmentKind.REFERRAL)
    assert a.pk == b.pk
    assert a.duration_minutes == 45
