"""A visit is checked in, started and completed on its own day at its location, not on the UTC
date: on the evening before (already the visit's date in UTC) it is refused with a clear
message; office staff may record it on another day with a reason (kept on the visit, the
override audited); a technician cannot."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from clinic.errors import PermissionDenied
from clinic.models import AuditEvent, OutboxEvent
from scheduling.booking.services import (
    AppointmentNotToday,
    appointment_book,
    appointment_check_in,
    appointment_complete,
    appointment_start,
)
from scheduling.models import AppointmentState

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(employee, patient, setup_type, tech, at, location):
    location.timezone = "America/Chicago"
    location.save()
    return appointment_book(
        actor=employee, patient=patient, type=setup_type, starts_at=at(0, "10:00"), technician=tech
    )


def _evening_before(visit) -> datetime.datetime:
    """20:30 in Chicago the day before the visit: already the visit's date in UTC."""
    zone = ZoneInfo("America/Chicago")
    day = visit.starts_at.astimezone(zone).date() - datetime.timedelta(days=1)
    moment = datetime.datetime.combine(day, datetime.time(20, 30), tzinfo=zone)
    assert moment.astimezone(datetime.UTC).date() == visit.starts_at.date()  # the scenario
    return moment


def _nothing_happened(visit) -> None:
    visit.refresh_from_db()
    assert visit.state == AppointmentState.BOOKED and visit.version == 1
    assert not AuditEvent.objects.filter(action="appointment.checked_in").exists()
    assert not OutboxEvent.objects.filter(name="appointment.state_changed").exists()


def test_check_in_the_evening_before_is_refused_with_a_clear_message(employee, visit, clock_at):
    clock_at(_evening_before(visit))
    day = visit.starts_at.astimezone(ZoneInfo("America/Chicago")).date()
    with pytest.raises(AppointmentNotToday) as refused:
        appointment_check_in(actor=employee, appointment=visit)
    message = refused.value.message
    assert f"This visit is on {day.day} {day:%b %Y}" in message
    assert "it can be checked in on its own day only" in message
    _nothing_happened(visit)


def test_start_and_complete_the_day_after_are_refused(employee, visit, clock_at):
    clock_at(visit.starts_at)
    appointment_check_in(actor=employee, appointment=visit)
    clock_at(visit.starts_at + datetime.timedelta(days=1))
    with pytest.raises(AppointmentNotToday, match="can be started on its own day only"):
        appointment_start(actor=employee, appointment=visit)
    with pytest.raises(AppointmentNotToday, match="can be completed on its own day only"):
        appointment_complete(actor=employee, appointment=visit)
    visit.refresh_from_db()
    assert visit.state == AppointmentState.CHECKED_IN


def test_on_its_day_it_is_checked_in_without_a_reason(employee, visit, clock_at):
    clock_at(visit.starts_at - datetime.timedelta(hours=9))  # 01:00 local, same day
    done = appointment_check_in(actor=employee, appointment=visit)
    assert done.state == AppointmentState.CHECKED_IN
    assert AuditEvent.objects.get(action="appointment.checked_in").details.get("override") is None


def test_office_staff_record_it_on_another_day_with_a_reason_audited(employee, visit, clock_at):
    clock_at(_evening_before(visit))
    with pytest.raises(Exception, match="Say why"):
        appointment_check_in(actor=employee, appointment=visit, override_reason="   ")
    done = appointment_check_in(
        actor=employee, appointment=visit, override_reason="Patient came in a day early"
    )
    assert done.state == AppointmentState.CHECKED_IN
    assert "Patient came in a day early" in done.notes
    assert done.notes.startswith("Checked in on ")
    row = AuditEvent.objects.get(action="appointment.checked_in")
    assert row.actor == employee
    assert row.details["override"] == "not_today"
    assert "early" not in str(row.details)  # free text stays on the visit, not in the audit


def test_a_technician_cannot_override(tech, visit, clock_at):
    clock_at(_evening_before(visit))
    with pytest.raises(PermissionDenied, match="ask the office"):
        appointment_check_in(actor=tech, appointment=visit, override_reason="I was nearby")
    _nothing_happened(visit)
