"""The demo organization comes with a working schedule, booked through the services."""

import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.core.management import call_command
from django.utils import timezone

from clinic.models import Role, User
from scheduling.models import (
    ACTIVE_STATES,
    Appointment,
    AvailabilityException,
    RecurringSeries,
    TechnicianProfile,
    WaitlistEntry,
)
from scheduling.tests.outbox import events_dispatch


def test_seed_demo_books_a_week_for_every_location_without_overlaps(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    events_dispatch()  # what the worker does with the events the seed recorded
    technician = User.objects.get(
        email__endswith="@brightwater.example", memberships__role=Role.FIELD_TECHNICIAN
    )
    profile = TechnicianProfile.objects.get(user=technician)
    assert profile.working_hours.count() == 5
    booked = Appointment.objects.filter(state__in=ACTIVE_STATES)
    assert booked.filter(technician=technician).exists()
    for location in technician.organization.locations.all():
        assert booked.filter(location=location).count() >= 10
    assert RecurringSeries.objects.count() == 2
    assert WaitlistEntry.objects.count() == 4
    # Every booking went through the service: each has its audit row and its reminders.
    later = booked.filter(patient__isnull=False, starts_at__gt=timezone.now() + timedelta(days=1))
    assert later.exists()
    assert all(a.reminders.count() == 2 for a in later[:20])


def test_seed_demo_uses_each_locations_date_on_a_us_evening(db, monkeypatch):
    # 2026-12-04 02:30 UTC (a Friday) is Thursday 3 Dec in the evening in every US zone: the
    # seed used to start from the UTC date, a day ahead of the clinics' calendars.
    evening = datetime.datetime(2026, 12, 4, 2, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: evening)
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    entries = WaitlistEntry.objects.select_related("location")
    assert entries.exists()
    for entry in entries:
        assert entry.earliest_date == datetime.date(2026, 12, 3), entry.location.timezone
    offs = AvailabilityException.objects.all()
    assert offs.exists()
    assert {e.date for e in offs} == {datetime.date(2026, 12, 4)}  # the coming Friday, local
    for visit in Appointment.objects.select_related("location")[:200]:
        local = visit.starts_at.astimezone(ZoneInfo(visit.location.timezone))
        assert local.date() >= datetime.date(2026, 12, 3)
        assert local.weekday() < 5
