"""Booking, the exclusion constraints' insert cost, the slot finder and the 50-way race.

Set-up. With BENCH_SCHED_ORG=<slug> it measures an organization that ``manage.py
seed_schedule_scale`` loaded (point DATABASE_URL at that database); otherwise it loads one with
the same loader inside a transaction that is rolled back at the end: BENCH_SCHED_LOCATIONS
(default 3) locations x 20 technicians x BENCH_SCHED_DAYS (default 730) days. The baseline
organization is loaded the same way but small (1 location, 14 days) in the same run.

Cases (p50/p95 over BENCH_REPEAT runs after a warm-up):

- booking: ``appointment_book`` end to end (checks, insert under the constraints, audit,
  event, reminders, patient status, technician link) for free 30-minute slots at 12:15 on
  days inside the loaded range, one technician and day each; against the small organization;
- insert cost: one-row INSERTs of future booked appointments (the row a booking writes) and a
  COPY of 5,000 such rows, with the three exclusion constraints and again, in a savepoint that
  is rolled back, without them;
- slot finder: free slots for an hour-long type over a week at one location (20 technicians);
- the race: 50 threads, each on its own connection, book one technician at overlapping times
  at the same moment; wall time until all have their answer, against the same 50 bookings
  made one after another at separate times. The race needs committed rows, so it runs on an
  organization made for it (``bench-race-<random>``), left in the database afterwards.
"""

from __future__ import annotations

import datetime
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, connections, transaction

REPEAT = int(os.environ.get("BENCH_REPEAT", "30"))
EXISTING_ORG = os.environ.get("BENCH_SCHED_ORG", "")
LOCATIONS = int(os.environ.get("BENCH_SCHED_LOCATIONS", "3"))
DAYS = int(os.environ.get("BENCH_SCHED_DAYS", "730"))
INSERTS = int(os.environ.get("BENCH_SCHED_INSERTS", "300"))
COPY_ROWS = 5000
RACERS = 50
EXCLUSIONS = (
    "appointment_no_technician_overlap",
    "appointment_no_room_overlap",
    "appointment_no_patient_overlap",
)


class _Rollback(Exception):
    pass


def _p(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[
        min(len(samples) - 1, round(0.95 * (len(samples) - 1)))
    ]


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _counting() -> tuple[list[str], Any]:
    statements: list[str] = []

    def count(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        statements.append(sql)
        return execute(sql, *args)

    return statements, count


class Scene:
    """One organization's location, technicians and a supply of patients for bookings."""

    def __init__(self, slug: str, label: str):
        from clinic.models import Location, Role
        from clinic.tests.factories import staff_user
        from scheduling.models import AppointmentType, TechnicianProfile

        self.label = label
        self.location = Location.objects.filter(organization__slug=slug).order_by("id").first()
        assert self.location is not None, f"no organization {slug!r}"
        self.zone = ZoneInfo(self.location.timezone)
        # A fresh address each run: the loaded database is kept between runs.
        self.employee = staff_user(
            role=Role.EMPLOYEE,
            location=self.location,
            email=f"{slug}-booker-{uuid.uuid4().hex[:12]}@bench.example",
        )
        self.types = {t.code: t for t in AppointmentType.objects.filter(organization__slug=slug)}
        self.techs = [
            p.user
            for p in TechnicianProfile.objects.filter(home_location=self.location)
            .select_related("user")
            .order_by("id")
        ]
        self.rows = self._count()

    def _count(self) -> int:
        from scheduling.models import Appointment

        return Appointment.objects.filter(organization_id=self.location.organization_id).count()

    def patients(self, n: int) -> list[Any]:
        from patients.tests.factories import PatientFactory

        return [PatientFactory(home_location=self.location, phone_mobile="") for _ in range(n)]

    def noon_slots(self, n: int, first: datetime.date) -> list[tuple[Any, datetime.datetime]]:
        """(technician, 12:15 local) on working days from ``first``: free by construction."""
        out: list[tuple[Any, datetime.datetime]] = []
        day = first
        while len(out) < n:
            if day.weekday() < 5:
                at = datetime.datetime.combine(day, datetime.time(12, 15), tzinfo=self.zone)
                out += [(t, at.astimezone(datetime.UTC)) for t in self.techs]
            day += datetime.timedelta(days=1)
        return out[:n]


def _booking(scene: Scene) -> tuple[float, float, int]:
    from scheduling.booking.services import appointment_book

    follow_up = scene.types["FOLLOW_UP"]
    first = datetime.date.today() + datetime.timedelta(days=2)
    slots = scene.noon_slots(REPEAT + 1, first)
    patients = scene.patients(REPEAT + 1)
    statements, count = _counting()
    samples = []
    for i, ((tech, at), patient) in enumerate(zip(slots, patients, strict=True)):

        def book(tech: Any = tech, at: datetime.datetime = at, patient: Any = patient) -> None:
            appointment_book(
                actor=scene.employee, patient=patient, type=follow_up, starts_at=at, technician=tech
            )

        if i == 0:
            with connection.execute_wrapper(count):
                book()
            continue
        samples.append(_timed(book))
    p50, p95 = _p(samples)
    return p50, p95, len(statements)


def _insert_rows(scene: Scene, n: int, day_offset: int) -> list[dict[str, Any]]:
    """Future booked rows on days past anything loaded, one per technician and hour."""
    now = datetime.datetime.now(datetime.UTC)
    from patients.models import Patient

    follow_up = scene.types["FOLLOW_UP"]
    # One patient per technician: rows of one hour never share a patient (no overlap).
    patients = list(Patient.objects.filter(home_location=scene.location)[: len(scene.techs)])
    rows: list[dict[str, Any]] = []
    day = datetime.date.today() + datetime.timedelta(days=DAYS + day_offset)
    hour = 0
    while len(rows) < n:
        for tech, patient in zip(scene.techs, patients, strict=True):
            if len(rows) == n:
                break
            starts = datetime.datetime.combine(day, datetime.time(hour), tzinfo=scene.zone)
            rows.append(
                {
                    "public_id": uuid.uuid4(),
                    "created_at": now,
                    "updated_at": now,
                    "organization_id": scene.location.organization_id,
                    "location_id": scene.location.pk,
                    "patient_id": patient.pk,
                    "type_id": follow_up.pk,
                    "technician_id": tech.pk,
                    "starts_at": starts,
                    "ends_at": starts + datetime.timedelta(minutes=30),
                    "state": "booked",
                    "version": 1,
                }
            )
        hour += 1
        if hour == 24:
            hour = 0
            day += datetime.timedelta(days=1)
    return rows


_INSERT = """
    INSERT INTO scheduling_appointment (public_id, created_at, updated_at, organization_id,
        location_id, patient_id, type_id, technician_id, starts_at, ends_at, notes, state,
        version, cancel_reason)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '', %s, %s, '')
"""


def _insert_cost(scene: Scene, offset: int) -> dict[str, tuple[float, float]]:
    from patients.management.commands.seed_scale import copy_rows
    from scheduling.models import Appointment

    single = []
    with connection.cursor() as cursor:
        for row in _insert_rows(scene, INSERTS, offset):
            values = [row[k] for k in (
                "public_id", "created_at", "updated_at", "organization_id", "location_id",
                "patient_id", "type_id", "technician_id", "starts_at", "ends_at", "state",
                "version",
            )]  # fmt: skip
            single.append(_timed(lambda v=values: cursor.execute(_INSERT, v)))
    copy_rows_ = _insert_rows(scene, COPY_ROWS, offset + 40)
    copy_ms = _timed(lambda: copy_rows(Appointment, copy_rows_))
    p50, p95 = _p(single[1:])
    return {"one-row INSERT": (p50, p95), f"COPY {COPY_ROWS:,} rows": (copy_ms, copy_ms)}


def _slot_finder(scene: Scene) -> tuple[float, float, int, int]:
    from scheduling.availability.services import slots_find

    setup = scene.types["EQUIPMENT_SETUP"]
    monday = datetime.date.today() + datetime.timedelta(days=14 - datetime.date.today().weekday())

    def find() -> list[Any]:
        return slots_find(
            appointment_type=setup,
            location=scene.location,
            date_from=monday,
            date_to=monday + datetime.timedelta(days=6),
        )

    statements, count = _counting()
    with connection.execute_wrapper(count):
        found = len(find())
    p50, p95 = _p([_timed(find) for _ in range(REPEAT)])
    return p50, p95, len(statements), found


def _race() -> tuple[float, float, int, int, str]:
    """50 concurrent overlapping bookings vs 50 sequential ones (committed, own org)."""
    from clinic.models import Role
    from clinic.tests.factories import LocationFactory, staff_user
    from patients.tests.factories import PatientFactory
    from scheduling.booking.services import (
        BookingConflict,
        appointment_book,
        appointment_types_ensure,
    )
    from scheduling.tests.factories import technician

    slug = f"bench-race-{uuid.uuid4().hex[:8]}"
    with transaction.atomic():
        location = LocationFactory(organization__slug=slug, organization__name=slug)
        appointment_types_ensure(actor=None, organization=location.organization)
        # Committed rows: unique e-mail addresses (factory sequences restart every run).
        employee = staff_user(
            role=Role.EMPLOYEE, location=location, email=f"{slug}-employee@bench.example"
        )
        all_day = {"hours": (datetime.time(0), datetime.time(23, 59)), "weekdays": range(7)}
        racer = technician(
            location,
            full_name="Race Tech",
            capacity=100,
            email=f"{slug}-r@bench.example",
            **all_day,
        )
        calm = technician(
            location,
            full_name="Calm Tech",
            capacity=100,
            email=f"{slug}-c@bench.example",
            **all_day,
        )
        patients = [
            PatientFactory(home_location=location, phone_mobile="") for _ in range(2 * RACERS)
        ]
        follow_up = location.organization.appointment_types.get(code="FOLLOW_UP")
    base = datetime.datetime.combine(
        datetime.date.today() + datetime.timedelta(days=3), datetime.time(10), tzinfo=datetime.UTC
    )
    barrier = threading.Barrier(RACERS + 1)
    won: list[Any] = []
    refused: list[Any] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        try:
            barrier.wait()
            appt = appointment_book(
                actor=employee, patient=patients[i], type=follow_up,
                starts_at=base + datetime.timedelta(minutes=i % 25), technician=racer,
            )  # fmt: skip
            with lock:
                won.append(appt)
        except BookingConflict as exc:
            with lock:
                refused.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    race_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    for i in range(RACERS):
        appointment_book(
            actor=employee, patient=patients[RACERS + i], type=follow_up,
            starts_at=base + datetime.timedelta(hours=i), technician=calm,
        )  # fmt: skip
    sequential_ms = (time.perf_counter() - start) * 1000
    return race_ms, sequential_ms, len(won), len(refused), slug


def run() -> None:
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from scheduling.management.commands.seed_schedule_scale import schedule_seed

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    started = time.perf_counter()
    try:
        with transaction.atomic():
            slug = EXISTING_ORG or "bench-sched"
            if not EXISTING_ORG:
                totals = schedule_seed(slug=slug, locations=LOCATIONS, days=DAYS)
                print(
                    "  loaded "
                    + ", ".join(f"{n:,} {k}" for k, n in totals.items())
                    + f" in {time.perf_counter() - started:.0f} s (rolled back at the end)"
                )
            small_slug = f"bench-sched-small-{uuid.uuid4().hex[:6]}"
            schedule_seed(slug=small_slug, locations=1, days=14)
            big, small = Scene(slug, "loaded"), Scene(small_slug, "baseline")
            print(
                f"  appointments: loaded organization {big.rows:,} "
                f"(whole table {_table_rows():,}); baseline organization {small.rows:,}"
            )
            print(f"  p50/p95 of {REPEAT} runs after a warm-up")
            b50, b95, bsql = _booking(big)
            s50, s95, _ = _booking(small)
            print(
                f"  booking (appointment_book)      {b50:6.1f} / {b95:6.1f} ms  SQL {bsql:3d}"
                f"   baseline {s50:6.1f} / {s95:6.1f} ms  ratio p95 {b95 / s95:4.2f}x"
            )
            with_c = _insert_cost(big, 10)
            try:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        # Deferred foreign-key checks of the rows above must run before ALTER.
                        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                        for name in EXCLUSIONS:
                            cursor.execute(
                                f'ALTER TABLE scheduling_appointment DROP CONSTRAINT "{name}"'
                            )
                    without = _insert_cost(big, 80)
                    raise _Rollback
            except _Rollback:
                pass
            for case, (p50, p95) in with_c.items():
                n50, n95 = without[case]
                print(
                    f"  insert: {case:<22} with constraints {p50:7.2f} / {p95:7.2f} ms"
                    f"   without {n50:7.2f} / {n95:7.2f} ms   ratio p95 {p95 / n95:4.2f}x"
                )
            f50, f95, fsql, found = _slot_finder(big)
            g50, g95, _, gfound = _slot_finder(small)
            print(
                f"  slot finder, a week, 20 techs   {f50:6.1f} / {f95:6.1f} ms  SQL {fsql:3d}"
                f" ({found} slots)   baseline {g50:6.1f} / {g95:6.1f} ms ({gfound} slots)"
                f"  ratio p95 {f95 / g95:4.2f}x"
            )
            raise _Rollback
    except _Rollback:
        pass
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    race_ms, seq_ms, won, refused, race_slug = _race()
    print(
        f"  50-way race: wall {race_ms:7.1f} ms, {won} booked, {refused} refused with the reason;"
        f" 50 sequential bookings {seq_ms:7.1f} ms; ratio {race_ms / seq_ms:4.2f}x"
        f" (organization {race_slug} left in the database)"
    )
    print(f"  bench.scheduling_booking took {time.perf_counter() - started:.1f} s")


def _table_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'scheduling_appointment'::regclass"
        )
        return int(cursor.fetchone()[0])
