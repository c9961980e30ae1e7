"""Factories for scheduling. Build on clinic's and patients' (LocationFactory, staff_user,
PatientFactory). Rows made here skip the services: use them to set the scene, and call the
services for the behaviour under test."""

from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from clinic.models import Location, Role, User
from clinic.tests.factories import LocationFactory, staff_user
from patients.tests.factories import PatientFactory
from scheduling.booking.services import DEFAULT_TYPES, default_type_fields
from scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentType,
    AvailabilityException,
    Reminder,
    Room,
    Skill,
    TechnicianProfile,
    WaitlistEntry,
    WorkingHours,
)


class AppointmentTypeFactory(factory.django.DjangoModelFactory[AppointmentType]):
    class Meta:
        model = AppointmentType
        django_get_or_create = ("organization", "code")

    organization = factory.SubFactory("clinic.tests.factories.OrganizationFactory")
    code = AppointmentKind.EQUIPMENT_SETUP
    name = factory.LazyAttribute(lambda o: default_type_fields(o.code)["name"])
    duration_minutes = factory.LazyAttribute(lambda o: DEFAULT_TYPES[o.code][0])
    color = factory.LazyAttribute(lambda o: DEFAULT_TYPES[o.code][1])
    skill = factory.LazyAttribute(lambda o: DEFAULT_TYPES[o.code][2])
    needs_technician = factory.LazyAttribute(lambda o: DEFAULT_TYPES[o.code][3])
    needs_room = factory.LazyAttribute(lambda o: DEFAULT_TYPES[o.code][4])
    billing_codes = factory.LazyAttribute(lambda o: list(DEFAULT_TYPES[o.code][5]))


class RoomFactory(factory.django.DjangoModelFactory[Room]):
    class Meta:
        model = Room

    location = factory.SubFactory(LocationFactory)
    organization = factory.SelfAttribute("location.organization")
    name = factory.Sequence(lambda n: f"Room {n}")


def technician(
    location: Location,
    *,
    skills: list[str] | None = None,
    capacity: int = 8,
    hours: tuple[datetime.time, datetime.time] | None = (datetime.time(8), datetime.time(17)),
    weekdays: range | list[int] = range(5),
    **user_fields: object,
) -> User:
    """A FIELD_TECHNICIAN at ``location`` with a profile (every skill by default) and, unless
    ``hours`` is None, weekly hours on ``weekdays`` (Monday to Friday, 8:00-17:00)."""
    user = staff_user(role=Role.FIELD_TECHNICIAN, location=location, **user_fields)
    profile = TechnicianProfile.objects.create(
        organization=location.organization,
        user=user,
        home_location=location,
        skills=list(Skill.values) if skills is None else skills,
        capacity_per_day=capacity,
    )
    if hours:
        WorkingHours.objects.bulk_create(
            WorkingHours(technician=profile, weekday=d, starts=hours[0], ends=hours[1])
            for d in weekdays
        )
    return user


class AppointmentFactory(factory.django.DjangoModelFactory[Appointment]):
    """An appointment row as the booking service would leave it (no checks, no events)."""

    class Meta:
        model = Appointment

    location = factory.SubFactory(LocationFactory)
    organization = factory.SelfAttribute("location.organization")
    patient = factory.SubFactory(PatientFactory, home_location=factory.SelfAttribute("..location"))
    type = factory.SubFactory(
        AppointmentTypeFactory, organization=factory.SelfAttribute("..organization")
    )
    technician = None
    starts_at = factory.LazyFunction(
        lambda: (timezone.now() + datetime.timedelta(days=1)).replace(
            minute=0, second=0, microsecond=0
        )
    )
    ends_at = factory.LazyAttribute(
        lambda o: o.starts_at + datetime.timedelta(minutes=o.type.duration_minutes)
    )


class WaitlistEntryFactory(factory.django.DjangoModelFactory[WaitlistEntry]):
    class Meta:
        model = WaitlistEntry

    location = factory.SubFactory(LocationFactory)
    organization = factory.SelfAttribute("location.organization")
    patient = factory.SubFactory(PatientFactory, home_location=factory.SelfAttribute("..location"))
    type = factory.SubFactory(
        AppointmentTypeFactory, organization=factory.SelfAttribute("..organization")
    )
    earliest_date = factory.LazyFunction(lambda: timezone.localdate())
    latest_date = factory.LazyAttribute(lambda o: o.earliest_date + datetime.timedelta(days=14))


def scheduling_rows_for_tenant_walk(location: Location) -> Appointment:
    """One row of every scheduling model at ``location`` (tests/test_tenant_isolation.py)."""
    from scheduling.models import RecurringSeries, WaitlistOffer

    org = location.organization
    tech = technician(location, full_name="Tobias Alphatech")
    profile = tech.technician_profile
    AvailabilityException.objects.create(
        technician=profile, date=datetime.date(2030, 1, 2), kind="UNAVAILABLE", reason="pto"
    )
    room = RoomFactory(location=location, name="Alpha Fitting Room")
    # A name of its own: the kind's label ("Follow-up") is a choice every organization sees.
    appt_type = AppointmentTypeFactory(
        organization=org, code=AppointmentKind.FOLLOW_UP, name="Alpha compliance visit"
    )
    patient = PatientFactory(home_location=location, first_name="Amadeus", last_name="Alphawait")
    start = datetime.datetime(2030, 1, 7, 15, 0, tzinfo=datetime.UTC)
    series = RecurringSeries.objects.create(
        organization=org,
        location=location,
        patient=patient,
        type=appt_type,
        technician=tech,
        rrule="FREQ=WEEKLY;COUNT=2",
        dtstart=start,
        duration_minutes=30,
        timezone=location.timezone,
    )
    appointment: Appointment = AppointmentFactory.create(
        location=location,
        patient=patient,
        type=appt_type,
        technician=tech,
        room=room,
        starts_at=start,
        series=series,
        recurrence_id=start,
    )
    Reminder.objects.create(
        organization=org,
        appointment=appointment,
        offset_minutes=1440,
        channel=Reminder.Channel.SMS,
        send_at=start - datetime.timedelta(days=1),
    )
    entry = WaitlistEntryFactory(location=location, patient=patient, type=appt_type)
    WaitlistOffer.objects.create(
        organization=org,
        entry=entry,
        location=location,
        technician=tech,
        starts_at=start + datetime.timedelta(days=1),
        ends_at=start + datetime.timedelta(days=1, minutes=30),
        window_ends_at=start + datetime.timedelta(days=1, minutes=30),
        slot_key="alpha-slot",
        expires_at=start,
    )
    return appointment
