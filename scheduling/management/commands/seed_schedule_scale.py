"""``manage.py seed_schedule_scale``: a large schedule for benchmarks (loaded set-based).

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

Choices made for speed, visible in the data: the appointments are made inside PostgreSQL by
one ``INSERT … SELECT`` over the cross product technicians x days x grid starts per 10
locations (no row passes through Python: ~13,000 rows/s at nice 19 on the loaded 2-core
machine, against 2,000-3,000/s for the old COPY loader), with ``session_replication_role =
replica`` (no pghistory rows, no foreign-key triggers: consistent by construction);
``--defer-indexes`` drops the secondary indexes and the exclusion constraints first and adds
them back at the end, which validates every row against them. No reminder rows and no rooms
(the room constraint is partial and stays empty): run it offline.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from clinic.models import Location, Membership, Organization, Role, User
from patients.management.commands.seed_scale import seed
from patients.models import Patient
from scheduling.booking.services import appointment_types_ensure
from scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentState,
    AppointmentType,
    Skill,
    TechnicianProfile,
    WorkingHours,
)

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
        total = _load(org, locs, techs, workdays, per_day, types, now, started, progress)
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
    """Write the appointments set-based: one ``INSERT … SELECT`` per batch of locations, the
    rows made by PostgreSQL from the cross product technicians x days x grid (no row passes
    through Python). Which grid starts a technician works, the type and the past state are
    picked by integer hashing, so a load is the same every time."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sched_seed_patient")
        cursor.execute(
            "CREATE TEMP TABLE sched_seed_patient AS SELECT home_location_id AS loc_id, "
            "(row_number() OVER (PARTITION BY home_location_id ORDER BY id) - 1)::int AS idx, "
            "id AS patient_id FROM patients_patient WHERE organization_id = %s",
            [org.pk],
        )
        cursor.execute("CREATE UNIQUE INDEX ON sched_seed_patient (loc_id, idx)")
        cursor.execute("ANALYZE sched_seed_patient")
    kinds = [types[k] for k in KINDS]
    columns, select, constants = _insert_columns()
    sql = INSERT_SQL.format(table=TABLE, columns=columns, select=select)
    total = 0
    for first in range(0, len(locs), LOCATIONS_PER_STATEMENT):
        batch = locs[first : first + LOCATIONS_PER_STATEMENT]
        pairs = [(loc.pk, tech, i) for loc in batch for i, tech in enumerate(techs[loc.pk])]
        params = {
            "org": org.pk,
            "now": now,
            "per_day": per_day,
            "per_loc_day": max(len(techs[loc.pk]) for loc in batch) * per_day,
            "grid": len(GRID),
            "loc": [p[0] for p in pairs],
            "tech": [p[1] for p in pairs],
            "tidx": [p[2] for p in pairs],
            "days": workdays,
            "gh": [h for h, _ in GRID],
            "gm": [m for _, m in GRID],
            "kind_ids": [k.pk for k in kinds],
            "kind_minutes": [min(k.duration_minutes, 60) for k in kinds],
            "past_states": list(PAST_STATES),
            **constants,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(sql, params)
            total += cursor.rowcount
            # SET LOCAL outlives a savepoint: put it back for a caller's transaction.
            cursor.execute("SELECT set_config('session_replication_role', 'origin', true)")
        if progress:
            rate = total / max(time.perf_counter() - started, 1e-9)
            progress(
                f"  {first + len(batch)}/{len(locs)} locations, {total:,} appointments "
                f"({rate:,.0f}/s)"
            )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sched_seed_patient")
    return total


LOCATIONS_PER_STATEMENT = 10

# pick: every (technician, workday, grid start); j = the start's place in the technician's
# day, rotated by a hash so technicians work different starts; the first ``per_day`` are kept.
# A patient has at most one visit a day at a location: visit k of the day takes patient
# (day * visits-per-day + k) mod patients, and visits-per-day <= patients.
INSERT_SQL = """
WITH t AS (
    SELECT * FROM unnest(%(loc)s::bigint[], %(tech)s::bigint[], %(tidx)s::int[])
        AS t(loc_id, tech_id, tidx)
), d AS (
    SELECT day, (didx - 1)::int AS didx
    FROM unnest(%(days)s::date[]) WITH ORDINALITY AS d(day, didx)
), g AS (
    SELECT h, m, (gidx - 1)::int AS gidx
    FROM unnest(%(gh)s::int[], %(gm)s::int[]) WITH ORDINALITY AS g(h, m, gidx)
), n AS (
    SELECT loc_id, count(*)::int AS patients FROM sched_seed_patient GROUP BY loc_id
), pick AS (
    SELECT t.loc_id, t.tech_id, t.tidx, d.didx, g.h, g.m, d.day,
           ((g.gidx - ((t.tech_id * 7 + d.didx * 3) %% %(grid)s)::int + %(grid)s) %% %(grid)s)
               AS j,
           ((t.tech_id * 2654435761 + d.didx * 40503 + g.gidx * 97) %% 1000003)::int AS r
    FROM t CROSS JOIN d CROSS JOIN g
), visit AS (
    SELECT pick.*, l.timezone,
           (%(kind_ids)s::bigint[])[1 + pick.r %% cardinality(%(kind_ids)s::bigint[])] AS type_id,
           (%(kind_minutes)s::int[])[1 + pick.r %% cardinality(%(kind_ids)s::bigint[])] AS minutes,
           ((pick.day + make_time(pick.h, pick.m, 0)) AT TIME ZONE l.timezone) AS starts
    FROM pick JOIN clinic_location l ON l.id = pick.loc_id
    WHERE pick.j < %(per_day)s
), placed AS (
    SELECT visit.*, visit.starts + make_interval(mins => visit.minutes) AS ends,
           p.patient_id
    FROM visit
    JOIN n ON n.loc_id = visit.loc_id
    JOIN sched_seed_patient p ON p.loc_id = visit.loc_id
     AND p.idx = (visit.didx * %(per_loc_day)s + visit.tidx * %(per_day)s + visit.j) %% n.patients
), stated AS (
    SELECT placed.*,
           CASE WHEN placed.ends < %(now)s
                THEN (%(past_states)s::text[])
                     [1 + (placed.r / 7) %% cardinality(%(past_states)s::text[])]
                ELSE 'booked' END AS state
    FROM placed
)
INSERT INTO "{table}" ({columns})
SELECT {select} FROM stated
"""

# The appointment columns the load sets; any other column takes its model default.
_EXPR = {
    "id": None,  # the identity column numbers the rows
    "public_id": "gen_random_uuid()",
    "created_at": "%(now)s",
    "updated_at": "%(now)s",
    "organization_id": "%(org)s",
    "location_id": "stated.loc_id",
    "patient_id": "stated.patient_id",
    "type_id": "stated.type_id",
    "technician_id": "stated.tech_id",
    "starts_at": "stated.starts",
    "ends_at": "stated.ends",
    "state": "stated.state",
    "cancel_reason": "CASE WHEN stated.state = 'cancelled' THEN 'Patient request' ELSE '' END",
    "completed_at": "CASE WHEN stated.state = 'fulfilled' THEN stated.ends END",
}


def _insert_columns() -> tuple[str, str, dict[str, Any]]:
    """(column list, select list, parameters) for every concrete appointment field."""
    columns: list[str] = []
    select: list[str] = []
    constants: dict[str, Any] = {}
    for field in Appointment._meta.concrete_fields:
        if field.attname in _EXPR:
            given = _EXPR[field.attname]
            if given is None:
                continue
            expr = given
        elif field.has_default() and not callable(field.default):
            constants[f"c_{field.attname}"] = field.get_default()
            expr = f"%(c_{field.attname})s"
        elif field.null:
            expr = "NULL"
        elif field.blank and field.get_internal_type() in ("CharField", "TextField"):
            expr = "''"
        else:
            raise CommandError(f"seed_schedule_scale does not know how to fill {field.attname}.")
        columns.append(f'"{field.column}"')
        select.append(expr)
    return ", ".join(columns), ", ".join(select), constants


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
