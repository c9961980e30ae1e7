"""Both devices acting at once, on real PostgreSQL row locks: every command applies exactly once,
versions are consecutive with no two commands sharing one, the staff's navigation decides the
step and no typed value is lost."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from patients.guided.models import GuidedSession, SessionMessage

from .factories import paired_session
from .helpers import patient_do, staff_do

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_navigation_and_patient_typing_at_once_lose_nothing():
    session, _raw, staff = paired_session()
    staff_do(session, staff, "NAVIGATE", step="demographics")
    start = GuidedSession.objects.get(pk=session.pk).version
    typed = {
        "first_name": "Ana",
        "last_name": "Quill",
        "middle_name": "B",
        "preferred_name": "Annie",
        "city": "Newark",
        "state": "NJ",
        "postal_code": "07102",
        "address_line1": "12 Elm St",
        "language": "Spanish",
        "email": "ana@example.com",
    }
    steps = ["identity", "demographics", "review", "insurance", "demographics"]
    replies: list[dict] = []
    barrier = threading.Barrier(len(typed) + len(steps))

    def run(fn, *args, **kwargs):
        try:
            barrier.wait()
            replies.append(fn(*args, **kwargs))
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=run, args=(patient_do, session, "FIELD_CHANGED"), kwargs={"field": f, "value": v}
        )
        for f, v in typed.items()
    ] + [
        threading.Thread(
            target=run,
            args=(staff_do, session, staff, "NAVIGATE"),
            kwargs={"step": s, "id": f"navigate-{i:04d}"},
        )
        for i, s in enumerate(steps)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert [r["type"] for r in replies] == ["ACK"] * len(threads)
    session.refresh_from_db()
    assert session.values == typed  # every keystroke kept, whatever the step was meanwhile
    assert session.version == start + len(threads)
    versions = sorted(
        SessionMessage.objects.filter(session=session, version__gt=start).values_list(
            "version", flat=True
        )
    )
    assert versions == list(range(start + 1, start + len(threads) + 1))
    last_navigate = (
        SessionMessage.objects.filter(session=session, type="NAVIGATE").order_by("-version").first()
    )
    assert last_navigate is not None
    # The step is the one the staff's last applied navigation chose.
    assert session.step == steps[int(last_navigate.client_id.split("-")[1])]
