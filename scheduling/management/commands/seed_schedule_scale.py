"""``manage.py seed_schedule_scale``: a large schedule for benchmarks (COPY-loaded).

The target is 500 locations x 20 technicians x two years of appointments (about 20 million
rows). ``--fraction`` scales the number of locations (0.01 = 5 locations: the same density per
location, a hundredth of the table), ``--locations`` sets it directly. Load it into a database
of its own, as ``seed_scale`` is loaded into ``tandem_scale``::

    createdb -h var/postgres -U postgres tandem_sched_scale
    export DATABASE_URL="postgres://postgres@/tandem_sched_scale?host=$PWD/var/postgres"
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py seed_schedule_scale --fraction 1

What it writes: one organization (patients' ``seed_scale`` loader makes the organization, its
locations and ``--patients-per-location`` patients), the appointment types, per location
``--technicians`` field technicians (user, membership, profile with every skill, Monday-Friday
8:00-17:00), and for every technician and working day from a year ago to a year ahead about
``--per-day`` appointments on a fixed grid of starts (08:00, 09:30, 11:00, 13:00, 14:30, 16:00,
local time; 30-60 minutes long), each with a patient of the location. Past visits are
fulfilled (some cancelled or no-shows), future ones booked. Technician, patient and room never
overlap by construction, so the exclusion constraints stay in place and are satisfied.

Choices made for speed, visible in the data: rows are loaded with ``session_replication_role =
replica`` (no pghistory rows, no foreign-key triggers: consistent by construction), one
transaction per location, no reminder rows and no rooms (the room constraint is partial and
stays empty), ids from the tables' own sequences reserved per batch: run it offline.
"""

from __future__ import annotations

import datetime
import random
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from clinic.models import Location, Membership, Organization, Role, User
from patients.management.commands.seed_scale import _reserve_ids, copy_rows, seed
from patients.models import Patient
from scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentState,
    AppointmentType,
    Skill,
    TechnicianProfile,
    WorkingHours,
)
from scheduling.services import appointment_types_ensure

GRID = [(8, 0), (9, 30), (11, 0), (13, 0), (14, 30), (16, 0)]
KINDS = [
    AppointmentKind.EQUIPMENT_SETUP,
    AppointmentKind.FOLLOW_UP,
    AppointmentKind.FOLLOW_UP,
    AppointmentKind.REFERRAL,
    AppointmentKind.HOME_TESTING,
    AppointmentKind.SUPPLY_PICKUP,
]
PAST_STATES = [AppointmentState.FULFILLED] * 17 + [
    AppointmentState.CANCELLED,
    AppointmentState.CANCELLED,
    AppointmentState.NOSHOW,
]


class Command(BaseCommand):
    help = "Load a large schedule (organization, technicians, two years of appointments) by COPY."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fraction", type=float, default=1.0, help="share of 500 locations")
        parser.add_argument("--locations", type=int, default=None, help="overrides --fraction")
        parser.add_argument("--technicians", type=int, default=20, help="per location")
        parser.add_argument("--patients-per-location", type=int, default=1000)
        parser.add_argument("--days", type=int, default=730, help="centred on today")
        parser.add_argument("--per-day", type=int, default=4, help="appointments per technician")
        parser.add_argument("--org", default="sched-scale")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--defer-indexes",
            action="store_true",
            help="drop the appointment table's secondary indexes and exclusion constraints "
            "during the load and build them once at the end (faster for millions of rows)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        locations = options["locations"] or max(1, round(500 * options["fraction"]))
        if options["per_day"] not in range(1, len(GRID) + 1):
            raise CommandError(f"--per-day is between 1 and {len(GRID)}.")
        if options["technicians"] < 1:
            raise CommandError("Give at least 1 technician per location.")
        if options["patients_per_location"] < options["technicians"] * options["per_day"]:
            # A patient must not see two technicians at once: one visit a day each.
            raise CommandError("Give at least --technicians x --per-day patients per location.")
        if Organization.objects.filter(slug=options["org"]).exists():
            raise CommandError(f"Organization '{options['org']}' exists already: choose --org.")
        started = time.perf_counter()
        totals = schedule_seed(
            slug=options["org"],
            locations=locations,
            technicians=options["technicians"],
            patients_per_location=options["patients_per_location"],
            days=options["days"],
            per_day=options["per_day"],
            seed_value=options["seed"],
            defer_indexes=options["defer_indexes"],
            progress=self.stdout.write,
        )
        took = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                ", ".join(f"{n:,} {label}" for label, n in totals.items()) + f" in {took:.0f} s"
            )
        )


def schedule_seed(
    *,
    slug: str,
    locations: int,
    technicians: int = 20,
    patients_per_location: int = 1000,
    days: int = 730,
    per_day: int = 4,
    seed_value: int = 1,
    defer_indexes: bool = False,
    progress: Any = None,
) -> dict[str, int]:
    """Create organization ``slug`` with its schedule; returns row counts by kind."""
    rng = random.Random(seed_value)  # noqa: S311 - test data, not secrets
    started = time.perf_counter()
    seed(slug=slug, locations=locations, per_location=patients_per_location, seed_value=seed_value)
    org = Organization.objects.get(slug=slug)
    locs = list(Location.objects.filter(organization=org).order_by("id"))
    if progress:
        progress(f"  patients loaded in {time.perf_counter() - started:.0f} s")
    with transaction.atomic():
        appointment_types_ensure(actor=None, organization=org)
        techs = _technicians(org, locs, technicians)
    types = {t.code: t for t in AppointmentType.objects.filter(organization=org)}
    today = timezone.localdate()
    first_day = today - datetime.timedelta(days=days // 2)
    workdays = [
        first_day + datetime.timedelta(days=d)
        for d in range(days)
        if (first_day + datetime.timedelta(days=d)).weekday() < 5
    ]
    now = timezone.now()
    total = 0
    deferred = _indexes_drop() if defer_indexes else []
    try:
        total = _load(rng, org, locs, techs, workdays, per_day, types, now, started, progress)
    finally:
        if deferred:
            built = time.perf_counter()
            _indexes_restore(deferred)
            if progress:
                progress(
                    f"  {len(deferred)} indexes and constraints built in "
                    f"{time.perf_counter() - built:.0f} s"
                )
    with connection.cursor() as cursor:
        cursor.execute('ANALYZE "scheduling_appointment"')
    return {
        "locations": len(locs),
        "technicians": sum(len(v) for v in techs.values()),
        "patients": Patient.objects.filter(organization=org).count(),
        "appointments": total,
    }


def _load(
    rng: random.Random,
    org: Organization,
    locs: list[Location],
    techs: dict[int, list],
    workdays: list[datetime.date],
    per_day: int,
    types: dict[str, AppointmentType],
    now: datetime.datetime,
    started: float,
    progress: Any,
) -> int:
    total = 0
    for index, loc in enumerate(locs):
        zone = ZoneInfo(loc.timezone)
        patient_ids = list(
            Patient.objects.filter(home_location=loc).order_by("id").values_list("id", flat=True)
        )
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute("SET LOCAL synchronous_commit = off")
            rows = _appointments(
                rng, org.pk, loc.pk, zone, techs[loc.pk], patient_ids, workdays, per_day, types, now
            )
            total += copy_rows(Appointment, rows)
            with connection.cursor() as cursor:
                # SET LOCAL outlives a savepoint: put it back for a caller's transaction.
                cursor.execute("SELECT set_config('session_replication_role', 'origin', true)")
        if progress and ((index + 1) % 10 == 0 or index + 1 == len(locs)):
            rate = total / max(time.perf_counter() - started, 1e-9)
            progress(f"  {index + 1}/{len(locs)} locations, {total:,} appointments ({rate:,.0f}/s)")
    return total


TABLE = "scheduling_appointment"


def _indexes_drop() -> list[str]:
    """Drop the secondary indexes and the exclusion constraints; return the SQL that makes
    them again (primary key, unique public id and check constraints stay)."""
    statements = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'x'",
            [TABLE],
        )
        for name, definition in cursor.fetchall():
            statements.append(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{name}" {definition}')
            cursor.execute(f'ALTER TABLE "{TABLE}" DROP CONSTRAINT "{name}"')
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT x.indisunique "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
            [TABLE],
        )
        for name, definition in cursor.fetchall():
            statements.append(definition)
            cursor.execute(f'DROP INDEX "{name}"')
    return statements


def _indexes_restore(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for sql in statements:
            cursor.execute(sql)


def _technicians(org: Organization, locs: list[Location], per_location: int) -> dict[int, list]:
    users = User.objects.bulk_create(
        User(
            email=f"tech-{loc.pk}-{n}@{org.slug}.example",
            full_name=f"Technician {loc.pk}-{n}",
            organization=org,
            password=make_password(None),  # unusable: nobody signs in as a seeded technician
        )
        for loc in locs
        for n in range(per_location)
    )
    by_loc: dict[int, list] = {}
    for i, user in enumerate(users):
        by_loc.setdefault(locs[i // per_location].pk, []).append(user)
    Membership.objects.bulk_create(
        Membership(user=u, location_id=loc_id, role=Role.FIELD_TECHNICIAN)
        for loc_id, group in by_loc.items()
        for u in group
    )
    profiles = TechnicianProfile.objects.bulk_create(
        TechnicianProfile(
            organization=org,
            user=u,
            home_location_id=loc_id,
            skills=list(Skill.values),
            capacity_per_day=8,
        )
        for loc_id, group in by_loc.items()
        for u in group
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(technician=p, weekday=d, starts=datetime.time(8), ends=datetime.time(17))
        for p in profiles
        for d in range(5)
    )
    return {loc_id: [u.pk for u in group] for loc_id, group in by_loc.items()}


def _appointments(
    rng: random.Random,
    org_id: int,
    loc_id: int,
    zone: ZoneInfo,
    tech_ids: list[int],
    patient_ids: list[int],
    workdays: list[datetime.date],
    per_day: int,
    types: dict[str, AppointmentType],
    now: datetime.datetime,
) -> list[dict[str, Any]]:
    count = len(tech_ids) * len(workdays) * per_day
    next_id = _reserve_ids(Appointment._meta.db_table, count)
    rows: list[dict[str, Any]] = []
    cursor = 0
    kinds = [types[k] for k in KINDS]
    for day in workdays:
        # A patient has at most one visit a day at this location: walk the list.
        starts_of_day = [
            datetime.datetime(day.year, day.month, day.day, h, m, tzinfo=zone).astimezone(
                datetime.UTC
            )
            for h, m in GRID
        ]
        for tech_id in tech_ids:
            for slot in sorted(rng.sample(range(len(GRID)), per_day)):
                kind = rng.choice(kinds)
                starts = starts_of_day[slot]
                ends = starts + datetime.timedelta(minutes=min(kind.duration_minutes, 60))
                past = ends < now
                state = rng.choice(PAST_STATES) if past else AppointmentState.BOOKED
                rows.append(
                    {
                        "id": next_id,
                        "public_id": uuid.uuid4(),
                        "created_at": now,
                        "updated_at": now,
                        "organization_id": org_id,
                        "location_id": loc_id,
                        "patient_id": patient_ids[cursor % len(patient_ids)],
                        "type_id": kind.pk,
                        "technician_id": tech_id,
                        "room_id": None,
                        "starts_at": starts,
                        "ends_at": ends,
                        "notes": "",
                        "state": state,
                        "version": 1,
                        "cancel_reason": "Patient request" if state == "cancelled" else "",
                        "completed_at": ends if state == AppointmentState.FULFILLED else None,
                    }
                )
                next_id += 1
                cursor += 1
    return rows
