"""Patient search, the list page and the dashboard on a large organization, against a baseline.

Everything runs inside one transaction that is rolled back at the end, so the database keeps
nothing: ``seed_scale``'s loader builds an organization of
BENCH_PATIENTS_LOCATIONS x BENCH_PATIENTS_PER_LOCATION patients (default 50 x 10,000 =
500,000, with insurance policies, referrals and document metadata) beside whatever is already
there, and two staff users sign in: an EMPLOYEE of one location and an ADMIN who sees every
location. With BENCH_PATIENTS_ORG=<slug> it measures an organization that ``manage.py
seed_scale`` already loaded instead (the 5,000,000-patient run: seed once into a database of
its own, point DATABASE_URL at it); only the two users and the baseline are rolled back.

Each case is a real GET through Django's test client (middleware, view, selectors, template),
timed over BENCH_REPEAT runs after a warm-up; we print p50 and p95 and the number of SQL
queries. The baseline is the same request after dropping, inside a savepoint that is rolled
back, every secondary index and unique constraint of the patient, insurance-policy and
referral tables (the primary keys stay): what the pages would cost without the indexes the
migrations add. BENCH_BASELINE_REPEAT (default BENCH_REPEAT) sets its number of runs:
at 5M patients a baseline request scans the whole table.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.db import connection, transaction
from django.db.models import Count
from django.test import Client

REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
LOCATIONS = int(os.environ.get("BENCH_PATIENTS_LOCATIONS", "50"))
PER_LOCATION = int(os.environ.get("BENCH_PATIENTS_PER_LOCATION", "10000"))
BASELINE_REPEAT = int(os.environ.get("BENCH_BASELINE_REPEAT", str(REPEAT)))
EXISTING_ORG = os.environ.get("BENCH_PATIENTS_ORG", "")
# BENCH_PATIENTS_CASES="search: misspelt,list:": only the cases whose names start so.
ONLY = tuple(c for c in os.environ.get("BENCH_PATIENTS_CASES", "").split(",") if c)
ORG_SLUG = EXISTING_ORG or "bench-patients"
TABLES = ("patients_patient", "patients_insurancepolicy", "patients_referral")


class _Rollback(Exception):
    """Raised to leave a transaction.atomic block by rolling it back."""


def _percentiles(fn: Callable[[], object], repeat: int = REPEAT) -> tuple[float, float, int]:
    """p50 and p95 in ms over ``repeat`` runs after one warm-up, and the warm-up's query
    count."""
    # Counted with an execute wrapper: each request resets connection.queries_log.
    statements: list[str] = []

    def count(execute: Callable[..., object], sql: str, *args: object) -> object:
        statements.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(count):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, len(statements)


def _drop_supporting_indexes() -> list[str]:
    dropped = []
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'",
                [table],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
                dropped.append(name)
            cursor.execute(
                "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary",
                [table],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP INDEX "{name}"')
                dropped.append(name)
    return dropped


@dataclass
class Case:
    name: str
    url: str


def _cases(org_id: int, location_id: int) -> list[Case]:
    from django.urls import reverse

    from patients.models import Patient

    mine = Patient.objects.filter(organization_id=org_id, home_location_id=location_id)
    with_phone = mine.exclude(phone_mobile="").order_by("id")
    sample = with_phone[with_phone.count() // 2]
    common = mine.values("last_name").order_by().annotate(n=Count("id"))
    common_last = max(common, key=lambda row: row["n"])["last_name"]
    # The second-page cursor of the plain list: the 50th row by name.
    anchor = mine.order_by("last_name", "first_name", "id")[49]
    misspelt = (
        sample.last_name[:-2] + sample.last_name[-1:] if len(sample.last_name) > 4 else "Nguyn"
    )
    return [
        Case(f"search: full surname ({sample.last_name})", f"/patients/?q={sample.last_name}"),
        Case("search: 3-letter prefix", f"/patients/?q={sample.last_name[:3]}"),
        Case(f"search: prefix of {common_last}", f"/patients/?q={common_last[:3]}"),
        Case(f"search: common name ({common_last})", f"/patients/?q={common_last}"),
        Case("search: phone", f"/patients/?q={sample.phone_mobile.replace('+', '%2B')}"),
        Case("search: MRN", f"/patients/?q={sample.mrn}"),
        Case(f"search: misspelt ({misspelt})", f"/patients/?q={misspelt}"),
        # Inside a name: the broad match, cut at 1,000 patients (and the page says so).
        Case(f"search: inside a name ({common_last[1:]})", f"/patients/?q={common_last[1:]}"),
        Case("list: first page", "/patients/"),
        Case("list: keyset page 2", f"/patients/?after={anchor.public_id}"),
        Case("patient dashboard (record page)", f"/patients/{sample.public_id}/"),
        Case("home dashboard", reverse("clinic:dashboard")),
    ]


def _client(user: object) -> Client:
    from conftest import sign_in

    client = Client(SERVER_NAME="localhost")
    return sign_in(client, user)


def run() -> None:
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from clinic.models import Location, Role
    from clinic.tests.factories import staff_user
    from patients.management.commands.seed_scale import seed

    # The test client would close the connection (and our transaction) after each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    started = time.perf_counter()
    try:
        with transaction.atomic():
            if EXISTING_ORG:
                print(f"  organization '{ORG_SLUG}' as loaded: {_sizes(ORG_SLUG)}")
            else:
                totals = seed(slug=ORG_SLUG, locations=LOCATIONS, per_location=PER_LOCATION)
                print(
                    "  seeded "
                    + ", ".join(f"{n:,} {label}" for label, n in totals.items())
                    + f" in {time.perf_counter() - started:.1f} s (rolled back at the end)"
                )
            print(
                f"  p50/p95 of {REPEAT} runs after a warm-up "
                f"(baseline: {BASELINE_REPEAT} runs after a warm-up)"
            )
            location = Location.objects.filter(organization__slug=ORG_SLUG).order_by("id").first()
            assert location is not None
            employee = staff_user(role=Role.EMPLOYEE, location=location)
            admin = staff_user(role=Role.ADMIN, location=location)
            users = [("one location", _client(employee)), ("all locations", _client(admin))]
            cases = _cases(location.organization_id, location.pk)
            if ONLY:
                cases = [case for case in cases if case.name.startswith(ONLY)]
            results: dict[tuple[str, str], tuple[float, float, int]] = {}
            for who, client in users:
                for case in cases:
                    results[(who, case.name)] = _percentiles(partial(_get, client, case.url))
                    p50, p95, n = results[(who, case.name)]
                    # Printed as measured: the baseline of a large dataset takes a while.
                    print(f"  .. {case.name[:44]:<44} {who:<14} {p50:6.1f}ms {p95:6.1f}ms {n:4d}")
                    sys.stdout.flush()
            baseline: dict[tuple[str, str], tuple[float, float, int]] = {}
            dropped: list[str] = []
            try:
                if BASELINE_REPEAT < 1:  # BENCH_BASELINE_REPEAT=0: no baseline this time
                    baseline = {key: (float("nan"), float("nan"), 0) for key in results}
                    raise _Rollback
                with transaction.atomic():
                    dropped = _drop_supporting_indexes()
                    for who, client in users:
                        for case in cases:
                            baseline[(who, case.name)] = _percentiles(
                                partial(_get, client, case.url), BASELINE_REPEAT
                            )
                    raise _Rollback
            except _Rollback:
                pass
            header = (
                f"  {'case':<44} {'who':<14} {'p50':>8} {'p95':>8} {'SQL':>4}"
                f" {'base p50':>9} {'base p95':>9} {'ratio p95':>9}"
            )
            print(header)
            print("  " + "-" * (len(header) - 2))
            for case in cases:
                for who, _ in users:
                    p50, p95, n = results[(who, case.name)]
                    b50, b95, _bn = baseline[(who, case.name)]
                    print(
                        f"  {case.name[:44]:<44} {who:<14} {p50:6.1f}ms {p95:6.1f}ms {n:4d}"
                        f" {b50:7.1f}ms {b95:7.1f}ms {b95 / p95:8.1f}x"
                    )
            print(f"  baseline dropped: {', '.join(dropped)}")
            if EXPLAIN:
                for who, client in users:
                    for case in cases:
                        if case.name.startswith(EXPLAIN_CASES):
                            _explain(client, case, who)
            raise _Rollback
    except _Rollback:
        pass
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    print(f"  bench.patients took {time.perf_counter() - started:.1f} s")


# BENCH_EXPLAIN=1: after the figures, EXPLAIN (ANALYZE, BUFFERS) of the statements that read
# patients for the list and search cases (the page and the search probe), as each user ran them.
EXPLAIN = os.environ.get("BENCH_EXPLAIN", "") == "1"
EXPLAIN_CASES = ("search: 3-letter prefix", "search: prefix of", "search: misspelt", "list:")


def _explain(client: Client, case: Case, who: str) -> None:
    statements: list[tuple[str, object]] = []

    def keep(execute: Callable[..., object], sql: str, params: object, *args: object) -> object:
        if '"patients_patient"' in sql or "patients_patient p" in sql:
            statements.append((sql, params))
        return execute(sql, params, *args)

    with connection.execute_wrapper(keep):
        _get(client, case.url)
    for sql, params in statements:
        if "LIMIT 26" not in sql and "WITH RECURSIVE" not in sql:
            continue  # the cursor row, the visibility probes: one-row reads by key
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
        kind = "probe" if "WITH RECURSIVE" in sql else "page"
        print(f"  EXPLAIN {case.name} / {who} / {kind}:")
        for line in plan[:14] + [line for line in plan[14:] if "Execution Time" in line]:
            print(f"    {line}")


def _sizes(slug: str) -> str:
    """Row counts of an organization already loaded."""
    from patients.models import Document, InsurancePolicy, Patient, Referral

    counts = {
        "patients": Patient.objects.filter(organization__slug=slug).count(),
        "insurance policies": InsurancePolicy.objects.filter(organization__slug=slug).count(),
        "referrals": Referral.objects.filter(organization__slug=slug).count(),
        "documents": Document.objects.filter(organization__slug=slug).count(),
    }
    return ", ".join(f"{n:,} {label}" for label, n in counts.items())


def _get(client: Client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
