"""Appointments on the patient's communications timeline (comms.messaging.timeline source)."""

from __future__ import annotations

import datetime

import pytest

from clinic.models import Role
from comms.messaging.timeline import timeline_for
from scheduling.models import AppointmentState
from scheduling.tests.factories import AppointmentFactory, technician

pytestmark = pytest.mark.django_db


def appointments(entries):
    return [e for e in entries if e.kind == "appointment"]


def test_the_patients_appointments_are_on_the_timeline(make_staff, location):
    clerk = make_staff(role=Role.EMPLOYEE, location=location)
    booked = AppointmentFactory(location=location)
    AppointmentFactory(location=location, patient=booked.patient, state=AppointmentState.CANCELLED)
    entries = appointments(timeline_for(user=clerk, patient=booked.patient))
    assert len(entries) == 2
    assert {e.title for e in entries} == {
        f"{booked.type.name} (booked)",
        f"{booked.type.name} (cancelled)",
    }
    assert str(booked.public_id) in {e.url.split("/")[-2] for e in entries}
    assert appointments(timeline_for(user=clerk, patient=booked.patient, kinds=["sms"])) == []


def test_a_technician_sees_only_their_own_visits_and_strangers_see_none(make_staff, location):
    tech = technician(location)
    mine = AppointmentFactory(location=location, technician=tech)
    AppointmentFactory(
        location=location,
        patient=mine.patient,
        starts_at=mine.starts_at + datetime.timedelta(days=1),
    )
    mine.patient.assignments.create(technician=tech) if hasattr(
        mine.patient, "assignments"
    ) else None
    entries = appointments(timeline_for(user=tech, patient=mine.patient))
    assert [e.url.split("/")[-2] for e in entries] == [str(mine.public_id)]
    stranger = make_staff(role=Role.EMPLOYEE)
    assert appointments(timeline_for(user=stranger, patient=mine.patient)) == []
