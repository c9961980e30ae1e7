"""The calendar pages and the live update, on a scratch database made for the run.

Set-up: a freshly migrated scratch database (dropped afterwards). ``seed_schedule_scale``'s
loader fills a "large" organization (BENCH_CAL_LOCATIONS locations, default 3, x 20
technicians x BENCH_CAL_DAYS days, default 730, about 4 visits per technician and working
day) and, in the same run, a "small" one at about 1% of its rows (one location, a few weeks).

Cases:

- week view: what the calendar's week view loads for one location, the events API for seven
  days (``GET /schedule/api/events``), through the whole Django stack with a signed-in session;
- dispatch board: the board's page plus its one events request for the day (every technician);
  p50/p95 over BENCH_REPEAT runs (after a warm-up) on a different week/day each time, for the
  large and the small organization, and their ratio (flat = the page does not grow with the
  table);
- live update: 50 calendar sockets of one location open on the real ASGI server (daphne, in a
  child process) with the real Celery worker (the outbox handler bumps the stream) and the
  Redis channel layer; for each of BENCH_CAL_BOOKINGS bookings, the time from the booking's
  commit (``appointment_book`` returned) to its ``appointment.changed`` message on each socket;
  p50/p95 over all (booking, socket) pairs and of the slowest socket per booking.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

REPEAT = int(os.environ.get("BENCH_REPEAT", "30"))
LOCATIONS = int(os.environ.get("BENCH_CAL_LOCATIONS", "3"))
DAYS = int(os.environ.get("BENCH_CAL_DAYS", "730"))
SOCKETS = int(os.environ.get("BENCH_CAL_SOCKETS", "50"))
BOOKINGS = int(os.environ.get("BENCH_CAL_BOOKINGS", "20"))
# An organization ``seed_schedule_scale`` loaded into the database DATABASE_URL names (the
# 20 M-row table): measured there as "large", against a scratch database holding 1% of its
# rows (5 locations of 500, same density) as "small". BENCH_CAL_LIVE=0 skips the sockets.
EXISTING_ORG = os.environ.get("BENCH_CAL_ORG", "")
LIVE = os.environ.get("BENCH_CAL_LIVE", "1") != "0"
WAIT = 20.0  # seconds; only keeps a broken run from hanging


def _p(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


class Scene:
    """One organization's first location, a signed-in employee there, and its technicians."""

    def __init__(self, slug: str, label: str, **user: Any) -> None:
        from django.test import Client

        from clinic.models import Location, Role
        from clinic.tests.factories import staff_user
        from conftest import sign_in
        from scheduling.models import Appointment

        self.label = label
        location = Location.objects.filter(organization__slug=slug).order_by("id").first()
        assert location is not None
        self.location = location
        self.zone = ZoneInfo(location.timezone)
        self.user = staff_user(role=Role.EMPLOYEE, location=location, **user)
        self.client = sign_in(Client(SERVER_NAME="localhost"), self.user)
        self.rows = Appointment.objects.filter(organization_id=location.organization_id).count()

    def days(self, n: int) -> list[datetime.date]:
        """``n`` working days within nine days of today, cycled: loaded in both organizations
        (the small one holds three weeks around today), so both show full days and weeks."""
        today = datetime.datetime.now(self.zone).date()
        near = [
            today + datetime.timedelta(days=d)
            for d in range(-9, 10)
            if (today + datetime.timedelta(days=d)).weekday() < 5
        ]
        return [near[i % len(near)] for i in range(n)]

    def week(self, monday: datetime.date) -> int:
        response = self.client.get(
            "/schedule/api/events",
            {
                "location": str(self.location.public_id),
                "start": monday.isoformat(),
                "end": (monday + datetime.timedelta(days=7)).isoformat(),
            },
        )
        assert response.status_code == 200, response.content[:200]
        return len(response.json()["events"])

    def dispatch(self, day: datetime.date) -> int:
        page = self.client.get(
            "/schedule/dispatch", {"location": str(self.location.public_id), "date": day}
        )
        assert page.status_code == 200
        response = self.client.get(
            "/schedule/api/events",
            {
                "location": str(self.location.public_id),
                "start": day.isoformat(),
                "end": (day + datetime.timedelta(days=1)).isoformat(),
            },
        )
        assert response.status_code == 200
        return len(response.json()["events"])


def _measure(scene: Scene) -> dict[str, tuple[float, float, int, int]]:
    from django.db import connection

    statements: list[str] = []

    def count(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        statements.append(sql)
        return execute(sql, *args)

    out = {}
    days = scene.days(REPEAT + 1)
    # A week view starts on its Monday; the large organization sees the same weeks.
    weeks = [d - datetime.timedelta(days=d.weekday()) for d in days]
    for case, call, dates in (
        ("week view", scene.week, weeks),
        ("dispatch board", scene.dispatch, days),
    ):
        statements.clear()
        with connection.execute_wrapper(count):
            shown = call(dates[0])  # warm-up; counts statements and rows
        samples = [_timed(partial(call, d)) for d in dates[1:]]
        p50, p95 = _p(samples)
        out[case] = (p50, p95, len(statements), shown)
    return out


def _report(small: Scene, figures: dict[str, dict[str, tuple[float, float, int, int]]]) -> None:
    print(f"  {'case':<16} {'org':<6} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>4} {'events':>7}")
    for case in ("week view", "dispatch board"):
        for label in ("small", "large"):
            p50, p95, sql, shown = figures[label][case]
            print(f"  {case:<16} {label:<6} {p50:8.1f} {p95:8.1f} {sql:4d} {shown:7d}")
        ratio = figures["large"][case][1] / figures["small"][case][1]
        print(f"  {case:<16} p95 large/small: {ratio:.2f}x")


def _existing_large() -> tuple[dict[str, tuple[float, float, int, int]], int]:
    """The loaded organization in the database we were pointed at (before the scratch one)."""
    from django.db import connection

    # A database kept between runs: the signed-in employee of each run needs its own e-mail.
    large = Scene(EXISTING_ORG, "large", email=f"bench-cal-{random.getrandbits(32):x}@example.test")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'scheduling_appointment'"
        )
        table = cursor.fetchone()[0]
    print(f"  large: {EXISTING_ORG}, {large.rows:,} appointments (table ~{table:,} rows)")
    return _measure(large), large.rows


def _small_of_existing(large: dict[str, tuple[float, float, int, int]], rows: int) -> None:
    from scheduling.management.commands.seed_schedule_scale import schedule_seed

    tag = f"{random.getrandbits(24):x}"
    started = time.perf_counter()
    schedule_seed(slug=f"bench-cal-small-{tag}", locations=5, days=730)
    print(f"  small loaded in {time.perf_counter() - started:.0f} s")
    small = Scene(f"bench-cal-small-{tag}", "small")
    print(f"  small: {small.rows:,} appointments (5 locations, {small.rows / rows:.1%})")
    _report(small, {"small": _measure(small), "large": large})


def _views() -> None:
    from scheduling.management.commands.seed_schedule_scale import schedule_seed

    tag = f"{random.getrandbits(24):x}"
    small_days = max(14, DAYS * LOCATIONS // 100)
    started = time.perf_counter()
    schedule_seed(
        slug=f"bench-cal-{tag}", locations=LOCATIONS, days=DAYS, patients_per_location=300
    )
    schedule_seed(
        slug=f"bench-cal-small-{tag}", locations=1, days=small_days, patients_per_location=300
    )
    print(f"  loaded in {time.perf_counter() - started:.0f} s")
    large = Scene(f"bench-cal-{tag}", "large")
    small = Scene(f"bench-cal-small-{tag}", "small")
    print(
        f"  large: {large.rows:,} appointments ({LOCATIONS} locations x 20 technicians x {DAYS} d);"
        f" small: {small.rows:,} ({small.rows / large.rows:.1%} of it)"
    )
    _report(small, {scene.label: _measure(scene) for scene in (small, large)})


# ---------------------------------------------------------------- live update over 50 sockets


async def _follow(url: str, headers: dict[str, str], stream: str) -> Any:
    from websockets.asyncio.client import connect

    socket = await connect(url, additional_headers=headers, max_size=2**20)
    await asyncio.wait_for(socket.recv(), WAIT)  # the connect snapshot
    await socket.send(json.dumps({"type": "snapshot.request", "stream": stream}))
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), WAIT))
        if message.get("type") == "snapshot" and stream in message.get("streams", {}):
            return socket


async def _arrival(socket: Any, appointment: str) -> float:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), WAIT))
        if message.get("appointment") == appointment:
            return time.perf_counter()


async def _live(port: int, scene: Any) -> tuple[list[float], list[float]]:
    from asgiref.sync import sync_to_async

    from scheduling.calendar.realtime import calendar_stream_name

    url = f"ws://127.0.0.1:{port}/ws/portal/"
    headers = {"Origin": f"http://127.0.0.1:{port}", "Cookie": scene["cookie"]}
    stream = calendar_stream_name(scene["location"])
    # Opened one after another: the measurement is the update, not a burst of handshakes.
    sockets = [await _follow(url, headers, stream) for _ in range(SOCKETS)]
    every: list[float] = []
    slowest: list[float] = []
    for i in range(BOOKINGS + 1):
        patient, technician, start = scene["bookings"][i]

        def book(patient: Any = patient, technician: Any = technician, start: Any = start) -> Any:
            from django.db import connections

            from scheduling.booking.services import appointment_book

            appointment = appointment_book(
                actor=scene["user"],
                patient=patient,
                type=scene["type"],
                starts_at=start,
                technician=technician,
            )
            committed = time.perf_counter()
            # This pool thread's connection would keep the scratch database from being dropped.
            connections.close_all()
            return str(appointment.public_id), committed

        booked = asyncio.ensure_future(sync_to_async(book, thread_sensitive=False)())
        # Listeners wait from before the commit; the id is known once book() returns.
        public_id, committed = await booked
        arrivals = await asyncio.gather(*(_arrival(s, public_id) for s in sockets))
        latencies = [(a - committed) * 1000 for a in arrivals]
        if i == 0:
            continue  # warm-up: first task import, first channel-layer connection
        every += latencies
        slowest.append(max(latencies))
    for socket in sockets:
        await socket.close()
    return every, slowest


def _live_scene(port: int) -> dict[str, Any]:
    from django.conf import settings
    from django.test import Client

    from clinic.models import Role
    from clinic.tests.factories import LocationFactory, staff_user
    from conftest import sign_in
    from patients.tests.factories import PatientFactory
    from scheduling.models import AppointmentKind
    from scheduling.tests.factories import AppointmentTypeFactory, technician

    location = LocationFactory(timezone="America/Chicago")
    zone = ZoneInfo(location.timezone)
    user = staff_user(role=Role.EMPLOYEE, location=location)
    client = sign_in(Client(), user)
    techs = [technician(location) for _ in range(5)]
    follow_up = AppointmentTypeFactory(
        organization=location.organization, code=AppointmentKind.FOLLOW_UP
    )
    today = datetime.datetime.now(zone).date()
    monday = today + datetime.timedelta(days=7 - today.weekday())
    bookings = []
    for i in range(BOOKINGS + 1):
        day = monday + datetime.timedelta(days=(i // (5 * 8)) % 5)
        hour = 8 + (i // 5) % 8
        start = datetime.datetime.combine(day, datetime.time(hour), tzinfo=zone)
        bookings.append((PatientFactory(home_location=location), techs[i % 5], start))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"
    return {
        "location": location,
        "user": user,
        "cookie": cookie,
        "type": follow_up,
        "bookings": bookings,
    }


def _live_run(database: str) -> None:
    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess

    from clinic.tests.conftest import running_celery_worker
    from tests.browser.fixtures import use_test_database

    process = DaphneProcess(
        "127.0.0.1",
        partial(make_application, static_wrapper=None),
        setup=partial(use_test_database, database),
    )
    process.start()
    try:
        if not process.ready.wait(timeout=30):
            raise RuntimeError("the ASGI server did not start")
        port = process.port.value
        scene = _live_scene(port)
        with running_celery_worker():
            every, slowest = asyncio.run(_live(port, scene))
    finally:
        process.terminate()
        process.join(timeout=10)
    p50, p95 = _p(every)
    s50, s95 = _p(slowest)
    print(
        f"  commit -> {SOCKETS} calendar sockets, {BOOKINGS} bookings: every socket p50 "
        f"{p50:.0f} ms, p95 {p95:.0f} ms; slowest socket per booking p50 {s50:.0f} ms, "
        f"p95 {s95:.0f} ms"
    )


def run() -> None:
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    # A queue of this run's own: a worker of another run (another database) must not take
    # our outbox tasks.
    queue = f"bench-calendar-{os.getpid()}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    app.conf.task_default_queue = queue

    original = connection.settings_dict["NAME"]
    large, large_rows = _existing_large() if EXISTING_ORG else (None, 0)
    if large is not None:
        # The scratch database gets connections of its own (the daphne child is forked with
        # whatever pool this process holds).
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()
    connection.settings_dict["TEST"]["NAME"] = f"tandem_bench_calendar_{os.getpid()}"
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        if large is not None:
            _small_of_existing(large, large_rows)
        else:
            _views()
        if LIVE:
            _live_run(name)
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)
