"""A burst of due reminders through the real sending path: 10,000 ``message_send`` calls (the
outbox rows with their unique keys), a real Celery worker (a separate process, prefork) draining
the delivery tasks (``comms.messaging.tasks.messages_deliver``, a batch of ids each; see
``comms/messaging/delivery.py``) through the real twilio client into the fake Twilio server on
127.0.0.1 (``comms/tests/fake_twilio.py``, a threaded HTTP server), with the outbox events each
batch records.

The worker runs as production does (``DEBUG`` off, pooled database connections); the rest of
the settings are the development ones.

Runs in a scratch database (``bench_comms_reminders``, created with every migration and dropped
at the end) so the development database and its append-only audit table are never touched; the
worker consumes a private queue. Every key is then sent a second time to show nothing goes out
twice. Prints the time to queue, the time to drain, the throughput, and the same figures for a
baseline measured in the same run: a smaller burst through the development gateway (no HTTP).
Pass criteria from issue 5: drains in under 2 minutes, zero duplicates.

BENCH_COMMS_MESSAGES (default 10000), BENCH_COMMS_BASELINE (2000), BENCH_COMMS_CONCURRENCY
(worker processes, default 2 = the cores here), BENCH_COMMS_PRODUCERS (4).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

MESSAGES = int(os.environ.get("BENCH_COMMS_MESSAGES", "10000"))
BASELINE = int(os.environ.get("BENCH_COMMS_BASELINE", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_COMMS_CONCURRENCY", "2"))
PRODUCERS = int(os.environ.get("BENCH_COMMS_PRODUCERS", "4"))
BATCH = 500  # message_send calls per transaction (a reminder job commits in batches)
DRAIN_LIMIT_SECONDS = float(os.environ.get("BENCH_COMMS_DRAIN_LIMIT", "1800"))  # then report
DB_NAME = "bench_comms_reminders"
ROOT = Path(__file__).resolve().parent.parent

# The worker process: the project's Celery app, pointed at the scratch database, the fake
# Twilio and a private queue (its own outbox tasks go there too, so it drains those as well).
WORKER = """
import os, sys
import django
django.setup()
from django.conf import settings
settings.DATABASES["default"]["NAME"] = os.environ["BENCH_DB_NAME"]
settings.DEBUG = False
settings.TWILIO_API_BASE_URL = os.environ["BENCH_TWILIO_URL"]
assert settings.TWILIO_API_BASE_URL.startswith("http://127.0.0.1:")
from config.celery import app
app.conf.task_default_queue = os.environ["BENCH_QUEUE"]
app.worker_main(["worker", "-Q", os.environ["BENCH_QUEUE"], "-c", os.environ["BENCH_CONC"],
                 "--pool", "prefork", "-l", "WARNING", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"])
"""


def _scratch_database() -> Any:
    from django.db import connection

    # The test-database helpers create, migrate and later drop it; never the "test_" name that
    # test runs use.
    connection.settings_dict["TEST"]["NAME"] = DB_NAME
    # A connection pool made earlier (the machine report) holds connections to the development
    # database: close it, or the benchmark's rows would go there instead of the scratch one.
    connection.close()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    started = time.perf_counter()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    print(f"  scratch database {DB_NAME} migrated in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == DB_NAME, "refusing to write outside the scratch database"
    return old_name


def _organization(n_patients: int, *, twilio: bool) -> tuple[Any, list[Any]]:
    from clinic.models import Location, Organization
    from comms.models import CommsSettings, Gateway
    from comms.tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
    from patients.models import Patient

    tag = uuid.uuid4().hex[:8]
    org = Organization.objects.create(name=f"Bench comms {tag}", slug=f"bench-comms-{tag}")
    location = Location.objects.create(organization=org, name="Bench clinic", phone="+12015550100")
    Patient.objects.bulk_create(
        [
            Patient(
                organization=org,
                home_location=location,
                mrn=f"B{i:07d}",
                first_name="Pat",
                last_name=f"Bench{i}",
                date_of_birth="1960-01-01",
                phone_mobile=f"+1201555{i:04d}",
            )
            for i in range(n_patients)
        ],
        batch_size=2000,
    )
    if twilio:
        CommsSettings.objects.create(
            organization=org,
            sms_gateway=Gateway.TWILIO,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_from_number="+12015550100",
        )
    patients = list(
        Patient.objects.filter(organization=org).select_related("home_location", "organization")
    )
    return org, patients


def _send_slice(args: tuple[list[int], str, int]) -> None:
    """In a producer process: message_send for these patients, BATCH per transaction."""
    from django.db import connection, transaction

    from comms.messaging.services import message_send
    from patients.models import Patient

    ids, tag, _offset = args
    connection.settings_dict["NAME"] = DB_NAME
    patients = list(
        Patient.objects.filter(pk__in=ids).select_related("home_location", "organization")
    )
    for start in range(0, len(patients), BATCH):
        with transaction.atomic():
            for patient in patients[start : start + BATCH]:
                message_send(
                    actor=None,
                    patient=patient,
                    channel="sms",
                    purpose="appointment_reminder",
                    dedupe_key=f"{tag}:appt:{patient.pk}:24h",
                    template="appointment_reminder",
                    context={"appointment_date": "Tue, Mar 4", "appointment_time": "9:30 AM"},
                )
    connection.close()


def _burst(patients: list[Any], tag: str) -> float:
    """message_send for every patient from PRODUCERS processes; returns seconds."""
    import multiprocessing

    from django.db import connections

    ids = [p.pk for p in patients]
    size = -(-len(ids) // PRODUCERS)
    slices = [(ids[i : i + size], tag, i) for i in range(0, len(ids), size)]
    # The children open their own connections: none, and no connection pool, may be inherited.
    for conn in connections.all():
        conn.close()
        if hasattr(conn, "close_pool"):
            conn.close_pool()
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(PRODUCERS) as pool:
        pool.map(_send_slice, slices)
    return time.perf_counter() - started


def _drain(org: Any, total: int) -> tuple[float, int]:
    """Wait until every message has gone to the gateway (or DRAIN_LIMIT_SECONDS pass).
    Returns (seconds from the first delivery to the last, messages delivered); the worker's
    boot is not counted."""
    from django.db.models import Max, Min

    from comms.models import Message

    deadline = time.perf_counter() + DRAIN_LIMIT_SECONDS
    rows = Message.objects.filter(organization=org)
    # Not yet given to the gateway: no provider id and not failed (Twilio's first status for a
    # delivered message is "queued" too, so the status alone does not tell).
    pending = rows.filter(provider_sid="").exclude(status="failed")
    while pending.exists() and time.perf_counter() < deadline:
        time.sleep(0.5)
    done = rows.exclude(provider_sid="")
    span = done.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else 0.0
    return seconds, done.count()


def _worker(queue: str, twilio_url: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        BENCH_DB_NAME=DB_NAME,
        BENCH_TWILIO_URL=twilio_url,
        BENCH_QUEUE=queue,
        BENCH_CONC=str(CONCURRENCY),
    )
    return subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env)  # noqa: S603


def _case(label: str, n: int, *, twilio: bool, fake: Any, queue: str) -> dict[str, Any]:
    from comms.models import Message

    org, patients = _organization(n, twilio=twilio)
    tag = uuid.uuid4().hex[:6]
    queued = _burst(patients, tag)  # every task waits in the broker: the burst of due messages
    worker = _worker(queue, fake.base_url)
    try:
        load_before = os.getloadavg()[0]
        drained, delivered = _drain(org, n)
        load_after = os.getloadavg()[0]
        # The same keys again (a reminder job re-run): nothing new is written or sent.
        again = _burst(patients[: min(n, 1000)], tag)
        time.sleep(2.0)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    rows = Message.objects.filter(organization=org)
    sids = list(rows.values_list("provider_sid", flat=True))
    figures = {
        "label": label,
        "n": n,
        "queued_s": queued,
        "drained_s": drained,
        "delivered": delivered,
        "rate": delivered / max(drained, 0.001),
        "again_s": again,
        "rows": len(sids),
        "duplicate_sids": sum(c - 1 for c in Counter(sids).values() if c > 1),
        "sent": dict(Counter(rows.values_list("status", flat=True))),
        "load": (load_before, load_after),
    }
    if twilio:
        per_number = Counter(m.to for m in fake.messages.values())
        figures["fake_received"] = len(fake.messages)
        figures["numbers_texted_twice"] = sum(1 for c in per_number.values() if c > 1)
    return figures


def run() -> None:
    from django.db import connection

    from comms.tests.fake_twilio import fake_twilio_server
    from config.celery import app

    queue = f"bench-comms-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue  # the producer (this process) publishes there
    old_name = _scratch_database()
    try:
        with fake_twilio_server(callbacks=()) as fake:
            print(
                f"  {PRODUCERS} producer processes, {BATCH} message_send per transaction; then a "
                f"worker (prefork x{CONCURRENCY}) drains; fake Twilio at {fake.base_url}"
            )
            base = _case(
                "baseline: development gateway", BASELINE, twilio=False, fake=fake, queue=queue
            )
            main = _case(
                "Twilio (real client -> fake server)", MESSAGES, twilio=True, fake=fake, queue=queue
            )
        for f in (base, main):
            print(
                f"  {f['label']:38s} {f['n']:6,d} messages: queued in {f['queued_s']:6.1f} s, "
                f"drained in {f['drained_s']:6.1f} s ({f['rate']:6.1f}/s, first to last delivery); "
                f"re-sending 1,000 keys {f['again_s']:4.1f} s; rows {f['rows']:,}, "
                f"duplicate SIDs {f['duplicate_sids']}; statuses {f['sent']}; "
                f"load average {f['load'][0]:.1f} -> {f['load'][1]:.1f}"
            )
        print(
            f"  fake Twilio received {main['fake_received']:,} messages; numbers texted twice: "
            f"{main['numbers_texted_twice']}"
        )
        print(
            f"  ratio per message, Twilio path / development gateway: "
            f"{base['rate'] / main['rate']:.2f}x"
        )
        ok = (
            main["drained_s"] < 120
            and main["fake_received"] == MESSAGES
            and main["numbers_texted_twice"] == 0
            and main["duplicate_sids"] == 0
            and main["rows"] == MESSAGES
            and main["delivered"] == MESSAGES
        )
        verdict = "MET" if ok else "NOT MET"
        if MESSAGES < 10_000:
            verdict += f" for {MESSAGES:,} messages (the target is 10,000)"
        print(f"  issue 5 target (10,000 in under 2 minutes, zero duplicates): {verdict}")
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        connection.creation.destroy_test_db(old_name, verbosity=0)
