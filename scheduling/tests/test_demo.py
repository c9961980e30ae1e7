"""The demo organization comes with a working schedule, booked through the services."""

from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from clinic.models import Role, User
from scheduling.models import (
    ACTIVE_STATES,
    Appointment,
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
