"""Guided sessions: staff action -> patient screen latency with N paired sessions open.

For N in BENCH_GUIDED_SESSIONS (default 50, 200, 500) paired sessions, every staff socket sends
a staff command (HIGHLIGHT_FIELD, CLEAR_HIGHLIGHT and NAVIGATE, in turn) twice a second, each
session at a random phase. The latency of one action is the time from the staff client sending
it to the patient client of the same session receiving the resulting event (both clients live
in this process, one clock). Events of a session arrive in order, so a patient's next staff
event answers the oldest action of its session still waiting.

Each case runs the relay and the project side by side, every socket of both open, and loads
them **in turn**: windows of BENCH_GUIDED_WINDOW seconds (after a warm-up: BENCH_GUIDED_WARMUP
before a target's first window, half a second before the others), BENCH_GUIDED_SECONDS measured
per target in all, the order swapped each round, the idle target's staff silent. So both are
measured under the same weather (this machine's drift between minutes is as large as the
differences sought). After a window its events may take up to 5 s to arrive before the next
window starts; at the end the run waits up to BENCH_GUIDED_DRAIN seconds, and what has not come
by then is "late" (a saturated server is late, not lossless, so percentiles alone would flatter
it). BENCH_GUIDED_KEEPDB=1 keeps the scratch database between runs (for tuning).

Targets:
- **guided (Django)**: the project's ASGI application (config.asgi, served by uvicorn as the
  Procfile does) on a scratch copy of the database made for the run and dropped at the end;
  the guided consumers check each command, persist it (version, step, highlight) in PostgreSQL
  and hand the event to the patient socket, through the channel layer when it is elsewhere.
  Cases (CASES below): the layer (channels_redis.core.RedisChannelLayer or
  channels_redis.pubsub.RedisPubSubChannelLayer, a separate channel prefix each time) and the
  web processes (1; 2 with each session on one; "2x" with each session's sockets on both).
- **bare relay (baseline)**: a minimal `websockets` server in its own process, on uvloop as
  uvicorn runs the project, that parses each staff frame, stamps a per-session version,
  forwards it to the patient socket of the same session and acknowledges it to the sender: no
  Django, no database, no channel layer.
- **relay + PostgreSQL statement (second baseline)**: the same relay taking each version from
  one prepared UPDATE ... RETURNING (RELAY_STATEMENT) on the same database: the floor for any
  design that keeps a session's state in PostgreSQL before the patient's screen changes.

The load generator (on uvloop too) shares the machine's cores with the servers, PostgreSQL and
Redis. Figures go to docs/benchmarks.md ("Guided sessions").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

SESSION_COUNTS = [int(n) for n in os.environ.get("BENCH_GUIDED_SESSIONS", "50,200,500").split(",")]
SECONDS = float(os.environ.get("BENCH_GUIDED_SECONDS", "15"))  # measured, per target and case
WARMUP_SECONDS = float(os.environ.get("BENCH_GUIDED_WARMUP", "3"))  # before a target's first window
DRAIN_SECONDS = float(os.environ.get("BENCH_GUIDED_DRAIN", "20"))
# The measured seconds come in windows, the targets taking turns (the machine's own drift, which
# moved the relay's p95 between 0.9 and 1.9 ms from one minute to the next here, then falls on
# both alike).
WINDOW_SECONDS = float(os.environ.get("BENCH_GUIDED_WINDOW", "3"))
ROUNDS = max(1, round(SECONDS / WINDOW_SECONDS))
WINDOW_WARMUP = 0.5  # before every later window
WINDOW_DRAIN = 5.0  # at most, after a window, for its events to arrive
ACTIONS_PER_SECOND = 2.0
ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
# What is measured: channel layer and web processes (sessions spread over them, as behind a
# load balancer), e.g. BENCH_GUIDED_CASES=pubsub:1 while tuning. "2x": two processes with the
# two sockets of every session on different ones (events then always cross Redis); "2": each
# session's sockets on one process (sessions spread over both).
CASES = [
    (layer, int(processes.rstrip("x")), processes.endswith("x"))
    for layer, _, processes in (
        case.partition(":")
        for case in os.environ.get(
            "BENCH_GUIDED_CASES", "core:1,pubsub:1,pubsub:2,core:2x,pubsub:2x"
        ).split(",")
    )
]


# --------------------------------------------------------------------------------------------
# The bare relay: the baseline server.
# --------------------------------------------------------------------------------------------


# The least a server that keeps its state in PostgreSQL must do per command: one statement that
# bumps the session's version and returns it (committed without waiting for the disk, prepared).
RELAY_STATEMENT = (
    "UPDATE bench_relay_session SET version = version + 1 WHERE session = %s RETURNING version"
)


def relay_serve(port: int, conninfo: str = "") -> None:
    """Run the bare relay on 127.0.0.1:port until killed (in its own process). With
    ``conninfo``, each staff frame first takes its version from PostgreSQL (RELAY_STATEMENT,
    on one of 4 connections, as the project's pointer commands do)."""
    from websockets.asyncio.server import serve

    patients: dict[str, Any] = {}
    versions: dict[str, int] = {}
    idle: asyncio.Queue[Any] = asyncio.Queue()

    async def version_of(session: str) -> int:
        if not conninfo:
            versions[session] = versions.get(session, 0) + 1
            return versions[session]
        conn = await idle.get()
        try:
            cursor = await conn.execute(RELAY_STATEMENT, (session,))
            row = await cursor.fetchone()
        finally:
            idle.put_nowait(conn)
        return int(row[0])

    async def handler(ws: Any) -> None:
        # /relay/<session>/<role>
        _, _, session, role = ws.request.path.rstrip("/").split("/")
        await ws.send(json.dumps({"type": "SNAPSHOT", "version": versions.get(session, 0)}))
        if role == "patient":
            patients[session] = ws
            async for _ in ws:
                pass
            return
        async for frame in ws:
            message = json.loads(frame)
            out = json.dumps({**message, "version": await version_of(session)})
            target = patients.get(session)
            if target is not None:
                with contextlib.suppress(Exception):
                    await target.send(out)
            await ws.send(json.dumps({"type": "ACK", "id": message.get("id")}))

    async def main() -> None:
        if conninfo:
            import psycopg

            for _ in range(4):
                idle.put_nowait(
                    await psycopg.AsyncConnection.connect(
                        conninfo, autocommit=True, options="-c synchronous_commit=off"
                    )
                )
        async with serve(
            handler, "127.0.0.1", port, max_queue=None, compression=None, ping_interval=None
        ):
            await asyncio.Future()

    uvloop.run(main())  # the loop uvicorn runs the project on


def relay_database(n: int) -> str:
    """The relay's table in the scratch database (one row per session), and how to reach it."""
    from django.db import connection
    from psycopg.conninfo import make_conninfo

    from clinic.asyncdb import connect_settings

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_relay_session")
        cursor.execute(
            "CREATE TABLE bench_relay_session (session text PRIMARY KEY, version integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO bench_relay_session SELECT 's' || i, 0 FROM generate_series(0, %s) AS i",
            [n - 1],
        )
    settings = connect_settings()
    keys = ("dbname", "host", "port", "user", "password")
    return make_conninfo(**{k: v for k, v in settings.items() if k in keys and v})


# --------------------------------------------------------------------------------------------
# The load: N pairs of sockets.
# --------------------------------------------------------------------------------------------


@dataclass
class Pair:
    """One paired session as the load generator sees it."""

    staff_url: str
    patient_url: str
    staff_headers: dict[str, str] = field(default_factory=dict)
    patient_headers: dict[str, str] = field(default_factory=dict)
    fields: list[str] = field(default_factory=lambda: ["first_name", "last_name"])
    steps: list[str] = field(default_factory=lambda: ["identity"])
    sent: deque[float] = field(default_factory=deque)


@dataclass
class Result:
    samples: list[float]
    sent: int
    lost: int
    errors: int
    codes: dict[str, int] = field(default_factory=dict)  # error code -> count
    windows: list[list[float]] = field(default_factory=list)  # the samples, window by window

    def pct(self, q: float) -> float:
        return _pct(self.samples, q)


def _pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


STAFF_EVENTS = {"HIGHLIGHT_FIELD", "CLEAR_HIGHLIGHT", "NAVIGATE"}


def _actions(pair: Pair) -> Callable[[int], dict[str, object]]:
    def action(i: int) -> dict[str, object]:
        kind = i % 3
        if kind == 0:
            return {"type": "HIGHLIGHT_FIELD", "field": pair.fields[(i // 3) % len(pair.fields)]}
        if kind == 1:
            return {"type": "CLEAR_HIGHLIGHT"}
        return {"type": "NAVIGATE", "step": pair.steps[(i // 3) % len(pair.steps)]}

    return action


@dataclass
class Target:
    """One server under load: its pairs, how to tell its staff events, and what was measured."""

    name: str
    pairs: list[Pair]
    is_staff_event: Callable[[dict[str, Any]], bool]
    active: asyncio.Event = field(default_factory=asyncio.Event)  # its staff are acting
    measuring: bool = False
    samples: list[float] = field(default_factory=list)
    windows: list[int] = field(default_factory=list)  # where each window's samples start
    sent: int = 0
    errors: int = 0
    codes: dict[str, int] = field(default_factory=dict)

    def waiting(self) -> int:
        return sum(1 for p in self.pairs for t in p.sent if t > 0)

    def result(self) -> Result:
        cuts = [*self.windows, len(self.samples)]
        windows = [self.samples[a:b] for a, b in itertools.pairwise(cuts)]
        return Result(self.samples, self.sent, self.waiting(), self.errors, self.codes, windows)


async def drive(targets: list[Target]) -> list[Result]:
    """Open every pair of every target, then load the targets in turn: each gets ROUNDS windows
    of WINDOW seconds (after a short warm-up each) with its staff acting at ACTIONS_PER_SECOND,
    the others idle, the order swapped each round. Latencies in ms, one Result per target."""
    from websockets.asyncio.client import connect

    stop = asyncio.Event()

    def error(target: Target, message: dict[str, Any]) -> None:
        target.errors += 1
        code = str(message.get("code"))
        target.codes[code] = target.codes.get(code, 0) + 1

    async def patient_reader(target: Target, pair: Pair, ws: Any) -> None:
        async for frame in ws:
            now = time.perf_counter()
            message = json.loads(frame)
            if message.get("type") == "ERROR":
                error(target, message)
            if not target.is_staff_event(message) or not pair.sent:
                continue
            started = pair.sent.popleft()
            if started > 0:
                target.samples.append((now - started) * 1000)

    async def staff_reader(target: Target, ws: Any) -> None:
        async for frame in ws:
            message = json.loads(frame)
            if message.get("type") == "ERROR":
                error(target, message)

    async def staff_loop(target: Target, pair: Pair, ws: Any) -> None:
        action = _actions(pair)
        interval = 1 / ACTIONS_PER_SECOND
        i = 0
        while not stop.is_set():
            await target.active.wait()
            await asyncio.sleep(random.random() * interval)  # each session at its own phase
            next_at = time.perf_counter()
            while target.active.is_set():
                message = {**action(i), "id": f"b{i:06d}-{random.getrandbits(32):08x}"}
                pair.sent.append(time.perf_counter() if target.measuring else 0.0)
                await ws.send(json.dumps(message))
                target.sent += 1 if target.measuring else 0
                i += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    sockets = []
    tasks: list[asyncio.Task[None]] = []
    opening = asyncio.Semaphore(50)

    async def open_pair(target: Target, pair: Pair) -> None:
        async with opening:
            patient = await connect(
                pair.patient_url,
                additional_headers=pair.patient_headers,
                max_queue=None,
                compression=None,
                open_timeout=600,
            )
            await patient.recv()  # the snapshot comes first
            staff = await connect(
                pair.staff_url,
                additional_headers=pair.staff_headers,
                max_queue=None,
                compression=None,
                open_timeout=600,
            )
            await staff.recv()
        sockets.extend([patient, staff])
        tasks.append(asyncio.create_task(patient_reader(target, pair, patient)))
        tasks.append(asyncio.create_task(staff_reader(target, staff)))
        tasks.append(asyncio.create_task(staff_loop(target, pair, staff)))

    async def drained(target: Target, seconds: float) -> None:
        # What was sent in a window arrives before the next window starts, if it comes at all
        # (a saturated server is late, not lossless: its events answer their actions later).
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline and any(p.sent for p in target.pairs):
            await asyncio.sleep(0.05)

    await asyncio.gather(*(open_pair(t, p) for t in targets for p in t.pairs))
    warmed: set[str] = set()
    for turn in range(ROUNDS):
        for target in targets if turn % 2 == 0 else targets[::-1]:
            target.active.set()
            await asyncio.sleep(WINDOW_WARMUP if target.name in warmed else WARMUP_SECONDS)
            warmed.add(target.name)
            target.windows.append(len(target.samples))
            target.measuring = True
            await asyncio.sleep(WINDOW_SECONDS)
            target.measuring = False
            target.active.clear()
            await drained(target, WINDOW_DRAIN)
    for target in targets:
        await drained(target, DRAIN_SECONDS)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return [target.result() for target in targets]


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


@contextlib.contextmanager
def _process(
    code: str, port: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    # The code is this module's own text (a server entry point), never outside input.
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **(env or {})}
    )
    try:
        _wait_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def asgi_serve(port: int, database: str, layer: str, prefix: str) -> None:
    """Serve config.asgi with uvicorn (as the Procfile does) on a scratch database and layer."""
    import uvicorn
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = database
    settings.DEBUG = False  # as in production: no per-query bookkeeping
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    config: dict[str, object] = {"hosts": hosts, "prefix": prefix}
    if layer == "core":
        config.update(capacity=1000, expiry=30)
    chosen = {"BACKEND": LAYERS[layer], "CONFIG": config}
    settings.CHANNEL_LAYERS = {"default": chosen, "guided": chosen}
    uvicorn.run(
        "config.asgi:application",
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        server_header=False,
    )


def _report(label: str, result: Result, baseline: Result | None) -> None:
    ratio = ""
    if baseline is not None and baseline.samples and result.samples:
        ratio = f"  p95 ratio {result.pct(0.95) / baseline.pct(0.95):.1f}x"
    print(
        f"  {label:<30} sent {result.sent:>6}  arrived {len(result.samples):>6}"
        f"  p50 {result.pct(0.50):8.1f} ms  p95 {result.pct(0.95):8.1f} ms"
        f"  p99 {result.pct(0.99):8.1f} ms  late>{DRAIN_SECONDS:.0f}s {result.lost}"
        f"  errors {result.errors}{ratio}"
        + (
            f"  ({', '.join(f'{k}: {v}' for k, v in sorted(result.codes.items()))})"
            if result.codes
            else ""
        )
    )
    by_window = [_pct(w, 0.95) for w in result.windows]
    line = "p95 by window: " + " ".join(f"{p:.1f}" for p in by_window) + " ms"
    if baseline is not None and len(baseline.windows) == len(result.windows):
        # Each window beside the baseline's window of the same round (next to it in time).
        ratios = sorted(
            p / q for p, q in zip(by_window, (_pct(w, 0.95) for w in baseline.windows), strict=True)
        )
        if ratios:
            line += f"; ratio by window {ratios[0]:.1f}-{ratios[-1]:.1f}x, median"
            line += f" {ratios[len(ratios) // 2]:.1f}x"
    print(f"      {line}")


def _relay_pairs(port: int, n: int) -> list[Pair]:
    base = f"ws://127.0.0.1:{port}/relay"
    return [
        Pair(staff_url=f"{base}/s{i}/staff", patient_url=f"{base}/s{i}/patient") for i in range(n)
    ]


def relay_is_staff_event(message: dict[str, Any]) -> bool:
    return message.get("type") in STAFF_EVENTS


# --------------------------------------------------------------------------------------------
# The guided target: a scratch database with N sessions, each with a paired tablet.
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A freshly migrated database for the run (Django's test-database machinery), dropped after."""
    from django.db import connection

    keep = bool(os.environ.get("BENCH_GUIDED_KEEPDB"))  # reuse it between runs while tuning
    suffix = "keep" if keep else str(os.getpid())
    connection.settings_dict["TEST"]["NAME"] = f"tandem_bench_guided_{suffix}"
    original = connection.settings_dict["NAME"]
    name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False, keepdb=keep
    )
    try:
        yield name
    finally:
        if keep:
            connection.close()
            connection.close_pool()
            connection.settings_dict["NAME"] = original
        else:
            connection.creation.destroy_test_db(original, verbosity=0)


def _staff_cookie() -> tuple[Any, Any, str]:
    """A staff member of a new organization, signed in with password + OTP: (location, cookie)."""
    from django.conf import settings
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from clinic.auth.sessions import SESSION_AUTH_AT, SESSION_LAST_SEEN
    from clinic.models import Role
    from clinic.tests.factories import (
        LocationFactory,
        OrganizationFactory,
        staff_user,
        totp_device,
    )

    tag = f"{os.getpid()}-{random.getrandbits(32):x}"
    location = LocationFactory(
        organization=OrganizationFactory(slug=f"bench-guided-{tag}", name=f"Bench {tag}")
    )
    user = staff_user(role=Role.EMPLOYEE, location=location, email=f"bench-{tag}@example.test")
    device = totp_device(user)
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    now = int(time.time())
    session[SESSION_AUTH_AT] = now
    session[SESSION_LAST_SEEN] = now
    session.save()
    return location, user, f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def guided_pairs(ports: list[int], n: int, *, split: bool = False) -> list[Pair]:
    """N sessions started and paired through the real services, as sockets to open (session i
    on server ``ports[i % len(ports)]``; with ``split``, its patient socket on the next one)."""
    from patients.guided.device_auth import DEVICE_COOKIE
    from patients.guided.services import device_pair, guided_session_start, pairing_code_issue
    from patients.guided.socket_auth import device_socket_path

    location, user, staff_cookie = _staff_cookie()
    pairs = []
    for i in range(n):
        port = ports[i % len(ports)]
        patient_port = ports[(i + 1) % len(ports)] if split else port
        origin = f"http://127.0.0.1:{port}"
        session = guided_session_start(actor=user, location=location)
        code, _ = pairing_code_issue(actor=user, session=session)
        _, raw = device_pair(code=code, device_key=f"bench-{i}", ip=None, user_agent="bench")
        pairs.append(
            Pair(
                staff_url=f"ws://127.0.0.1:{port}/ws/guided/{session.public_id}/",
                patient_url=f"ws://127.0.0.1:{patient_port}{device_socket_path(session.public_id)}",
                staff_headers={"Origin": origin, "Cookie": staff_cookie},
                patient_headers={
                    "Origin": f"http://127.0.0.1:{patient_port}",
                    "Cookie": f"{DEVICE_COOKIE}={raw}",
                },
            )
        )
    _in_service(session.pk)
    return pairs


def _in_service(session_id: int, rows: int = 20_000) -> None:
    """Give the scratch database what one in service has: a ledger of earlier commands and
    statistics. On a ledger a few minutes old, the pointer statements' cached plan was made when
    it had a handful of rows (a sequential scan) and stayed until autovacuum's next ANALYZE: the
    first windows of a run then measured that."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM guided_sessionmessage")
        if cursor.fetchone()[0] < rows:
            cursor.execute(
                "INSERT INTO guided_sessionmessage (session_id, client_id, type, role, version,"
                " created_at) SELECT %s, 'earlier-' || i, 'CLEAR_HIGHLIGHT', 'staff', 0, now()"
                " FROM generate_series(1, %s) AS i",
                [session_id, rows],
            )
        cursor.execute("ANALYZE")


def guided_is_staff_event(message: dict[str, Any]) -> bool:
    return message.get("by") == "staff" and message.get("type") in STAFF_EVENTS


def run() -> None:
    print(
        f"  {SECONDS:.0f} s measured per target and case, in windows of {WINDOW_SECONDS:.0f} s"
        f" taken in turn with the relay; {ACTIONS_PER_SECOND:.0f} staff actions/s per session"
    )
    with scratch_database() as database:
        for n in SESSION_COUNTS:
            print(f"\n  -- {n} sessions ({n * ACTIONS_PER_SECOND:.0f} staff actions/s in all)")
            for layer, processes, split in CASES:
                prefix = f"benchguided{layer}{os.getpid()}"
                relay_port, relay_pg_port = _free_port(), _free_port()
                ports = [_free_port() for _ in range(processes)]
                conninfo = relay_database(n)
                with contextlib.ExitStack() as servers:
                    for port, info in ((relay_port, ""), (relay_pg_port, conninfo)):
                        code = (
                            "from bench.guided_sessions import relay_serve;"
                            f"relay_serve({port}, {info!r})"
                        )
                        servers.enter_context(_process(code, port))
                    for port in ports:
                        code = (
                            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
                            " 'config.settings.local');"
                            "from bench.guided_sessions import asgi_serve;"
                            f"asgi_serve({port}, {database!r}, {layer!r}, {prefix!r})"
                        )
                        servers.enter_context(_process(code, port))
                    relay = Target("relay", _relay_pairs(relay_port, n), relay_is_staff_event)
                    relay_pg = Target(
                        "relay_pg", _relay_pairs(relay_pg_port, n), relay_is_staff_event
                    )
                    guided = Target(
                        "guided", guided_pairs(ports, n, split=split), guided_is_staff_event
                    )
                    baseline, floor, result = uvloop.run(drive([relay, relay_pg, guided]))
                label = f"{processes} processes" if processes > 1 else "1 process"
                label += ", split" if split else ""
                _report("bare relay (baseline)", baseline, None)
                _report("relay + PostgreSQL statement", floor, baseline)
                _report(f"guided, {layer}, {label}", result, baseline)
