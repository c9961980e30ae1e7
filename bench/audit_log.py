"""How the activity log's keyset paging holds up with a million audit rows in one organization.

Builds a scratch schema (``tandem_bench``) beside the real tables: copies of the audit,
organization, location and user tables with the same indexes, filled by
``INSERT ... SELECT generate_series`` (one organization with BENCH_AUDIT_ROWS rows, default
1,000,000, and four others adding a quarter as much noise, interleaved). With that schema
first on the ``search_path`` the real selector (``clinic.audit.selectors.activity_page``) runs
unchanged against the copies, and so does the OFFSET + COUNT baseline it replaces. The schema
is dropped at the end, so the append-only audit table itself is never touched.

Prints, per case, the median time of the keyset page and of the baseline, their ratio, and
the indexes the keyset plan read.
"""

# The SQL below is assembled from this module's constants only (schema and sizes), never input.
# ruff: noqa: S608
from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

SCHEMA = "tandem_bench"
TARGET_ORG = 1
OTHER_ORGS = 4
USERS_PER_ORG = 400
LOCATIONS_PER_ORG = 100
PAGE = 50
REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))

# (action, weight per 1000 rows): a clinic's mix, dominated by record views.
ACTIONS = [
    ("patient.viewed", 400),
    ("auth.login", 90),
    ("auth.logout", 80),
    ("auth.login_failed", 20),
    ("auth.otp_failed", 8),
    ("appointment.booked", 80),
    ("appointment.cancelled", 20),
    ("document.downloaded", 60),
    ("document.uploaded", 40),
    ("message.sent", 80),
    ("patient.updated", 50),
    ("notification.read", 60),
    ("user.updated", 10),
    ("membership.role_changed", 1),
    ("export.created", 1),
]
assert sum(w for _a, w in ACTIONS) == 1000


def _sql(statement: str, params: list[Any] | dict[str, Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@contextmanager
def _scratch_schema() -> Iterator[None]:
    _sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    _sql(f"CREATE SCHEMA {SCHEMA}")
    try:
        _sql(f"SET search_path TO {SCHEMA}, public")
        yield
    finally:
        _sql("RESET search_path")
        _sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _load(target_rows: int) -> int:
    total = target_rows + target_rows // 4
    orgs = 1 + OTHER_ORGS
    for table in ("clinic_organization", "clinic_location", "clinic_user"):
        _sql(f"CREATE TABLE {SCHEMA}.{table} (LIKE public.{table} INCLUDING ALL)")
    # The audit table gets its indexes after the load, as a restore would.
    _sql(
        f"CREATE TABLE {SCHEMA}.clinic_auditevent "
        "(LIKE public.clinic_auditevent INCLUDING DEFAULTS INCLUDING IDENTITY)"
    )
    _sql(
        f"""INSERT INTO {SCHEMA}.clinic_organization
            (id, public_id, created_at, updated_at, name, slug, timezone)
            SELECT o, gen_random_uuid(), now(), now(), 'Bench org ' || o, 'bench-' || o,
                   'America/New_York'
            FROM generate_series(1, %s) o""",
        [orgs],
    )
    _sql(
        f"""INSERT INTO {SCHEMA}.clinic_location
            (id, public_id, created_at, updated_at, name, kind, timezone, address, phone,
             is_active, organization_id)
            SELECT l, gen_random_uuid(), now(), now(), 'Location ' || l, 'CLINIC',
                   'America/New_York', '', '', true, 1 + (l - 1) / %s
            FROM generate_series(1, %s) l""",
        [LOCATIONS_PER_ORG, LOCATIONS_PER_ORG * orgs],
    )
    _sql(
        f"""INSERT INTO {SCHEMA}.clinic_user
            (id, password, is_superuser, public_id, email, full_name, organization_id,
             is_active, date_joined)
            SELECT u, '!', false, gen_random_uuid(), 'user' || u || '@bench.test',
                   'Bench User ' || u, 1 + (u - 1) / %s, true, now()
            FROM generate_series(1, %s) u""",
        [USERS_PER_ORG, USERS_PER_ORG * orgs],
    )
    weighted = [action for action, weight in ACTIONS for _ in range(weight)]
    # Every fifth row belongs to another organization; a year of history, oldest first;
    # one row in twenty is the system's (no actor).
    _sql(
        f"""
        INSERT INTO {SCHEMA}.clinic_auditevent
            (id, occurred_at, organization_id, actor_id, location_id, action, object_type,
             object_id, request_id, ip, user_agent, details)
        SELECT g,
               now() - interval '365 days' + (g::float8 / %(total)s) * interval '365 days',
               org,
               CASE WHEN g %% 20 = 0 THEN NULL
                    ELSE (org - 1) * {USERS_PER_ORG} + 1 + (g * 7919) %% {USERS_PER_ORG} END,
               (org - 1) * {LOCATIONS_PER_ORG} + 1 + (g * 37) %% {LOCATIONS_PER_ORG},
               (%(actions)s::text[])[1 + (g * 761) %% 1000],
               'patients.patient',
               md5(((g * 13) %% 200000)::text)::uuid::text,
               md5(g::text),
               '10.0.0.0'::inet + (g %% 65536),
               'Mozilla/5.0 (bench)',
               '{{}}'::jsonb
        FROM (
            SELECT g, CASE WHEN g %% 5 = 0 THEN 2 + (g / 5) %% {OTHER_ORGS} ELSE 1 END AS org
            FROM generate_series(1::bigint, %(total)s::bigint) g
        ) s
        """,
        {"total": total, "actions": weighted},
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' AND tablename = 'clinic_auditevent'"
        )
        definitions = cursor.fetchall()
    for name, definition in definitions:
        if name.endswith("_pkey"):
            _sql(f"ALTER TABLE {SCHEMA}.clinic_auditevent ADD PRIMARY KEY (id)")
        else:
            _sql(
                definition.replace(
                    " ON public.clinic_auditevent ", f" ON {SCHEMA}.clinic_auditevent "
                )
            )
    for table in ("clinic_organization", "clinic_location", "clinic_user", "clinic_auditevent"):
        _sql(f"VACUUM (ANALYZE) {SCHEMA}.{table}")
    return total


def _median_ms(fn: Callable[[], object]) -> float:
    fn()  # warm the cache: we measure the plan, not the disk
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _plan_indexes(fn: Callable[[], object]) -> str:
    """The indexes (and scan kinds) the page queries read, from EXPLAIN of the SQL ``fn`` ran."""
    with CaptureQueriesContext(connection) as queries:
        fn()
    seen: list[str] = []
    for query in queries.captured_queries:
        if "clinic_auditevent" not in query["sql"]:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        stack = [plan[0]["Plan"]]
        while stack:
            node = stack.pop()
            # Bitmap index scans name no relation; the others name the table they read.
            if "Index Name" in node and node.get("Relation Name", "clinic_auditevent") == (
                "clinic_auditevent"
            ):
                label = f"{node['Index Name']} ({node['Node Type']})"
                if label not in seen:
                    seen.append(label)
            elif node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == (
                "clinic_auditevent"
            ):
                seen.append("clinic_auditevent (Seq Scan)")
            elif node.get("Node Type") == "Sort":
                seen.append("Sort")
            stack.extend(node.get("Plans", []))
    return ", ".join(seen)


@dataclass
class Case:
    name: str
    keyset: Callable[[], object]
    baseline: Callable[[], object]


def _cases(target_rows: int) -> list[Case]:
    from clinic.audit.selectors import ActivityFilters, _filtered_activity, activity_page
    from clinic.models import User

    admin = User(pk=1, organization_id=TARGET_ORG, is_active=True)
    small_admin = User(pk=USERS_PER_ORG + 1, organization_id=TARGET_ORG + 1, is_active=True)
    actor = User(pk=7, organization_id=TARGET_ORG)
    now = timezone.now()
    old_window = ActivityFilters(since=now - timedelta(days=240), until=now - timedelta(days=180))
    combined = ActivityFilters(
        actor=actor,
        action="auth.",
        since=now - timedelta(days=240),
        until=now - timedelta(days=180),
    )
    deep_offset = target_rows * 9 // 10
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM clinic_auditevent WHERE organization_id = %s "
            "ORDER BY id DESC OFFSET %s LIMIT 1",
            [TARGET_ORG, deep_offset - 1],
        )
        deep_before = cursor.fetchone()[0]
        cursor.execute(
            "SELECT object_id FROM clinic_auditevent WHERE organization_id = %s AND id > 1000 "
            "ORDER BY id LIMIT 1",
            [TARGET_ORG],
        )
        patient = cursor.fetchone()[0]
    one_object = ActivityFilters(object_type="patients.patient", object_id=patient)

    def keyset(
        filters: ActivityFilters, before: int | None = None, user: User = admin
    ) -> Callable[[], object]:
        return lambda: activity_page(user=user, filters=filters, before=before)

    def offset_count(
        filters: ActivityFilters, offset: int = 0, user: User = admin
    ) -> Callable[[], object]:
        """What a paginator does: COUNT(*) for "page x of y", then OFFSET to the page."""

        def page() -> object:
            qs = _filtered_activity(user, filters)
            total = qs.count()
            rows = list(
                qs.select_related("actor", "location").order_by("-id")[offset : offset + PAGE]
            )
            return total, rows

        return page

    return [
        Case("first page", keyset(ActivityFilters()), offset_count(ActivityFilters())),
        Case(
            "first page, a small organization (5% of the table)",
            keyset(ActivityFilters(), user=small_admin),
            offset_count(ActivityFilters(), user=small_admin),
        ),
        Case(
            f"deep page ({deep_offset:,} rows back)",
            keyset(ActivityFilters(), before=deep_before),
            offset_count(ActivityFilters(), offset=deep_offset),
        ),
        Case(
            "filtered: actor + 'auth.' + 60 days, 6 months back",
            keyset(combined),
            offset_count(combined),
        ),
        Case(
            "filtered: action 'auth.' (20% of rows)",
            keyset(ActivityFilters(action="auth.")),
            offset_count(ActivityFilters(action="auth.")),
        ),
        Case(
            "filtered: action 'export.' (0.1% of rows)",
            keyset(ActivityFilters(action="export.")),
            offset_count(ActivityFilters(action="export.")),
        ),
        Case(
            "filtered: action prefix that matches nothing",
            keyset(ActivityFilters(action="nothing.")),
            offset_count(ActivityFilters(action="nothing.")),
        ),
        Case(
            "filtered: one user",
            keyset(ActivityFilters(actor=actor)),
            offset_count(ActivityFilters(actor=actor)),
        ),
        Case("filtered: 60 days, 6 months back", keyset(old_window), offset_count(old_window)),
        Case("filtered: one object", keyset(one_object), offset_count(one_object)),
    ]


def run() -> None:
    target = int(os.environ.get("BENCH_AUDIT_ROWS", "1000000"))
    started = time.perf_counter()
    with _scratch_schema():
        total = _load(target)
        print(
            f"  loaded {total:,} audit rows ({target:,} in the measured organization) "
            f"in {time.perf_counter() - started:.1f} s; median of {REPEAT} runs after a warm-up"
        )
        header = f"  {'case':<52} {'keyset':>9} {'offset+count':>13} {'ratio':>7}"
        print(header)
        print("  " + "-" * (len(header) - 2))
        plans = []
        for case in _cases(target):
            keyset_ms = _median_ms(case.keyset)
            baseline_ms = _median_ms(case.baseline)
            ratio = baseline_ms / keyset_ms if keyset_ms else float("inf")
            print(f"  {case.name:<52} {keyset_ms:7.1f}ms {baseline_ms:11.1f}ms {ratio:6.0f}x")
            plans.append((case.name, _plan_indexes(case.keyset)))
        print("  keyset plans (indexes read):")
        for name, plan in plans:
            print(f"    {name}: {plan}")
    print(f"  bench.audit_log took {time.perf_counter() - started:.1f} s")
