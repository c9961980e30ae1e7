"""Demo schedule for ``manage.py seed_demo``: appointment types, rooms, technicians with weekly
hours at each demo location, and the coming week of appointments, booked through the same
services the portal uses (so conflicts, reminders, patient status and assignments are real).
Extra technicians are fictional and get an unknowable password: they exist to fill the board."""

from __future__ import annotations

import contextlib
import datetime
import random
import secrets
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from clinic.errors import ApplicationError
from clinic.models import Role
from clinic.organization.services import user_create
from clinic.times import local_today
from patients.models import Patient
from scheduling.availability.services import (
    availability_exceptions_set,
    local_dt,
    technician_profile_set,
    working_hours_set,
    zone_of,
)
from scheduling.booking.services import appointment_book, appointment_types_ensure
from scheduling.models import AppointmentKind, AppointmentType, Room, Skill
from scheduling.series.services import series_create
from scheduling.waitlist.services import waitlist_add

if TYPE_CHECKING:
    from clinic.models import Location, User

SEED = 5309
EXTRA_TECHNICIANS = ["Dana Whitaker", "Eli Moreno"]
ROOMS = ["Sleep lab bedroom 1", "Sleep lab bedroom 2", "Fitting room"]
WEEKDAY_HOURS = {d: [(datetime.time(8), datetime.time(17))] for d in range(5)}
DAY_PLAN = [  # (local time, kind)
    (datetime.time(9), AppointmentKind.EQUIPMENT_SETUP),
    (datetime.time(10, 30), AppointmentKind.FOLLOW_UP),
    (datetime.time(13), AppointmentKind.REFERRAL),
    (datetime.time(14, 30), AppointmentKind.HOME_TESTING),
    (datetime.time(15, 30), AppointmentKind.FOLLOW_UP),
]


def _technicians(admin: User, location: Location, index: int) -> list[User]:
    users = []
    for n, name in enumerate(EXTRA_TECHNICIANS):
        users.append(
            user_create(
                actor=admin,
                email=f"tech{index}{n}@field.brightwater.example",
                full_name=name if index == 0 else f"{name.split()[0]} {location.name.split()[0]}",
                password=secrets.token_urlsafe(24),
                location=location,
                role=Role.FIELD_TECHNICIAN,
            )
        )
    return users


def demo_schedule_seed(*, admin: User, locations: list[Location], users: dict[str, Any]) -> int:
    """Seed the demo schedule; returns how many appointments were booked."""
    rng = random.Random(SEED)  # noqa: S311 - demo data, not security
    org = admin.organization
    assert org is not None
    appointment_types_ensure(actor=admin, organization=org)
    types = {t.code: t for t in AppointmentType.objects.filter(organization=org)}
    demo_tech = users.get(Role.FIELD_TECHNICIAN)
    booked = 0
    for index, location in enumerate(locations):
        # The location's date, not the UTC one: on a US evening the UTC date is tomorrow.
        today = local_today(location)
        for name in ROOMS:
            Room.objects.get_or_create(
                organization=org, location=location, name=name
            )  # configuration, as an ADMIN would add it in the admin
        techs = _technicians(admin, location, index)
        if demo_tech is not None and demo_tech.location_ids() == {location.pk}:
            techs.insert(0, demo_tech)
        for tech in techs:
            profile = technician_profile_set(
                actor=admin,
                user=tech,
                home_location=location,
                skills=list(Skill.values),
                capacity_per_day=6,
            )
            working_hours_set(actor=admin, profile=profile, week=WEEKDAY_HOURS)
        # One technician takes next Friday afternoon off (a dated exception).
        friday = today + datetime.timedelta(days=(4 - today.weekday()) % 7 or 7)
        availability_exceptions_set(
            actor=admin,
            profile=techs[-1].technician_profile,
            kind="UNAVAILABLE",
            dates=[friday],
            starts=datetime.time(13),
            ends=datetime.time(17),
            reason="training",
        )
        patients = list(Patient.objects.filter(home_location=location).order_by("id"))
        if not patients:
            continue
        rng.shuffle(patients)
        zone = zone_of(location)
        queue = iter(patients * 3)
        for offset in range(7):
            day = today + datetime.timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            for t_index, tech in enumerate(techs):
                for slot, (at, kind) in enumerate(DAY_PLAN):
                    if (slot + t_index + offset) % 3 == 2:
                        continue  # leave gaps: the slot finder and drag-and-drop need room
                    starts = local_dt(day, at, zone)
                    if starts < timezone.now() + datetime.timedelta(minutes=30):
                        continue
                    try:
                        appointment_book(
                            actor=admin,
                            patient=next(queue),
                            type=types[kind],
                            location=location,
                            starts_at=starts,
                            technician=tech,
                        )
                        booked += 1
                    except ApplicationError:
                        continue  # a demo day that does not fit is simply left out
            # A lunch block for the first technician each working day.
            with contextlib.suppress(ApplicationError):
                appointment_book(
                    actor=admin,
                    patient=None,
                    type=types[AppointmentKind.STAFF_BLOCK],
                    location=location,
                    starts_at=local_dt(day, datetime.time(12), zone),
                    technician=techs[0],
                    notes="Lunch",
                )
        _demo_series_and_waitlist(admin, location, techs, patients, types, zone, today)
    return booked


def _demo_series_and_waitlist(
    admin: User,
    location: Location,
    techs: list[User],
    patients: list[Patient],
    types: dict[str, AppointmentType],
    zone: Any,
    today: datetime.date,
) -> None:
    monday = today + datetime.timedelta(days=7 - today.weekday())
    with contextlib.suppress(ApplicationError):
        series_create(
            actor=admin,
            patient=patients[0],
            type=types[AppointmentKind.FOLLOW_UP],
            location=location,
            starts_at=local_dt(monday, datetime.time(16), zone),
            rrule="FREQ=WEEKLY;INTERVAL=2;COUNT=6",
            technician=techs[0],
        )
    for patient in patients[1:3]:
        with contextlib.suppress(ApplicationError):
            waitlist_add(
                actor=admin,
                patient=patient,
                type=types[AppointmentKind.FOLLOW_UP],
                location=location,
                earliest_date=today,
                latest_date=today + datetime.timedelta(days=14),
            )
