"""Run the outbox in a test: what the worker would do after the commit, done now."""

from __future__ import annotations

from clinic.models import OutboxEvent
from clinic.services.events import event_dispatch


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
