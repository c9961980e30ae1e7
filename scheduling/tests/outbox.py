"""Run the outbox in a test: what the worker would do after the commit, done now."""

from __future__ import annotations

import threading

from django.db import connections

from clinic.events.services import event_dispatch
from clinic.models import OutboxEvent


def events_dispatch() -> int:
    """Dispatch every pending outbox event through the real dispatcher, oldest first, until
    none is left (handlers may record further events). Returns how many were dispatched."""
    done = 0
    while True:
        ids = list(
            OutboxEvent.objects.filter(dispatched_at__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not ids:
            return done
        for event_id in ids:
            if event_dispatch(event_id=event_id):
                done += 1


def events_dispatch_apart() -> int:
    """``events_dispatch`` on a thread of its own, for a caller that runs an event loop
    (Playwright's sync API): the broadcasts go through ``async_to_sync``, which refuses to run
    on such a thread. Needs committed data (a transactional test)."""
    done: list[int] = []

    def run() -> None:
        try:
            done.append(events_dispatch())
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if not done:
        raise AssertionError("dispatching the outbox failed (see the thread's traceback)")
    return done[0]
