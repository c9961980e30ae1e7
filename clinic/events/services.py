"""The transactional outbox: record domain events with the change, dispatch them after commit.

A service calls ``event_record`` inside its transaction. When that transaction commits the
event is handed to Celery (``clinic.events.tasks.outbox_dispatch``); if the broker is down at that
moment nothing is lost, because the row stays pending and ``events_sweep`` (Celery beat) sends
it again. Dispatch runs every handler registered with ``@event_handler(name)`` exactly once per
event (the ``EventHandled`` ledger), then broadcasts the event's realtime messages and stamps
``dispatched_at``. Payloads carry ids only; handlers load what they need.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.db import connection, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Least, Power
from django.utils import timezone

from clinic.models import OutboxEvent
from clinic.realtime.services import broadcast, group_check

if TYPE_CHECKING:
    from clinic.models import Organization

logger = logging.getLogger(__name__)

# The Celery task (clinic.events.tasks.outbox_dispatch) that runs ``event_dispatch``.
OUTBOX_DISPATCH_TASK = "clinic.events.tasks.outbox_dispatch"

# The sweep re-sends an event once it has waited SWEEP_AFTER * 2**attempts (capped), so a
# handler that keeps failing is retried less and less often and finally left for a person.
SWEEP_AFTER = timedelta(seconds=10)
SWEEP_BATCH = 200
MAX_ATTEMPTS = 12
_BACKOFF_CAP_EXPONENT = 10

Handler = Callable[[OutboxEvent], None]


@dataclass(frozen=True)
class RegisteredHandler:
    key: str
    event_name: str
    fn: Handler


_HANDLERS: dict[str, list[RegisteredHandler]] = {}


def event_handler(name: str, *, key: str | None = None) -> Callable[[Handler], Handler]:
    """Register ``fn(event)`` to run once for every dispatched event called ``name``.

    ``key`` names the handler in the idempotency ledger; it defaults to the function's dotted
    path, so renaming a handler makes it run again for events still pending (never for old ones,
    which are already dispatched).
    """

    def register(fn: Handler) -> Handler:
        handler_key = key or f"{fn.__module__}.{fn.__qualname__}"
        if len(handler_key) > 100:
            raise ValueError("handler keys are at most 100 characters")
        handlers = _HANDLERS.setdefault(name, [])
        if any(h.key == handler_key for h in handlers):
            # Re-importing a module (tests, autoreload) must not register a handler twice.
            handlers[:] = [h for h in handlers if h.key != handler_key]
        handlers.append(RegisteredHandler(key=handler_key, event_name=name, fn=fn))
        return fn

    return register


def handlers_for(name: str) -> list[RegisteredHandler]:
    return list(_HANDLERS.get(name, ()))


# ---------------------------------------------------------------- recording

_ID_TYPES = (int, str, bool, type(None))
# Ids, public ids and codes; anything with spaces or longer is text and may be PHI.
_ID_TEXT = re.compile(r"[A-Za-z0-9._:-]{0,64}")


def _clean_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Ids and codes only: a payload outlives the request and is read by other processes."""
    clean: dict[str, Any] = {}
    for key, value in payload.items():
        values = value if isinstance(value, list | tuple) else [value]
        out = []
        for item in values:
            if isinstance(item, uuid.UUID):
                item = str(item)
            if not isinstance(item, _ID_TYPES):
                raise TypeError(f"event payload {key!r} must hold ids, got {type(item).__name__}")
            if isinstance(item, str) and not _ID_TEXT.fullmatch(item):
                raise ValueError(f"event payload {key!r} must hold ids, not text")
            out.append(item)
        clean[key] = out if isinstance(value, list | tuple) else out[0]
    return clean


def _clean_realtime(realtime: Iterable[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
    pairs = []
    for group, message in realtime:
        group_check(group)
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise TypeError("a realtime message is a dict with a 'type'")
        pairs.append([group, message])
    return pairs


def event_record(
    *,
    name: str,
    organization: Organization | None,
    aggregate: models.Model | None = None,
    payload: dict[str, Any] | None = None,
    realtime: Sequence[tuple[str, dict[str, Any]]] = (),
) -> OutboxEvent:
    """Record a domain event in the caller's transaction; it is dispatched after commit.

    ``payload`` holds ids only. ``realtime`` lists ``(group, message)`` pairs to broadcast once
    the handlers have run; groups come from ``clinic.realtime.services.group_name``.
    """
    aggregate_type = aggregate_id = ""
    if aggregate is not None:
        aggregate_type = aggregate._meta.label_lower
        aggregate_id = str(getattr(aggregate, "public_id", None) or aggregate.pk)
    event = OutboxEvent.objects.create(
        name=name,
        organization=organization,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=_clean_payload(payload or {}),
        realtime=_clean_realtime(realtime),
    )
    event_id = event.pk
    transaction.on_commit(lambda: event_enqueue(event_id=event_id))
    return event


def event_enqueue(*, event_id: int) -> bool:
    """Hand one event to Celery. A broker outage is logged and swallowed: the sweep re-sends.

    The task is sent by its registered name (``clinic.events.tasks`` runs this module, not
    the other way round), as Celery beat names its tasks too.
    """
    try:
        # No publish retries: the caller is usually a web request that must not hang on a
        # dead broker, and the row is the durable copy anyway.
        current_app.send_task(OUTBOX_DISPATCH_TASK, (event_id,), retry=False)
    except Exception as exc:
        logger.warning(
            "outbox: could not enqueue event %s (%s); the sweep will retry",
            event_id,
            type(exc).__name__,
        )
        return False
    return True


# ---------------------------------------------------------------- dispatching


def _claim(event_id: int, handler_key: str) -> bool:
    """Insert the ledger row; False when this handler has already applied this event."""
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO clinic_eventhandled (event_id, handler, handled_at)
            VALUES (%s, %s, now())
            ON CONFLICT (event_id, handler) DO NOTHING
            RETURNING id
            """,
            [event_id, handler_key],
        )
        return cur.fetchone() is not None


def event_apply_handler(*, event: OutboxEvent, handler: RegisteredHandler) -> bool:
    """Run one handler for one event at most once. Returns whether it ran now.

    The ledger row and the handler's writes commit together, so a crash between them cannot
    leave an event half-applied, and a second run (sweep, redelivery) finds the row and stops.
    """
    with transaction.atomic():
        if not _claim(event.pk, handler.key):
            return False
        handler.fn(event)
        return True


def _describe(where: str, exc: BaseException) -> str:
    # The exception's text may quote data; the class name and the place are enough to triage.
    return f"{where}: {type(exc).__name__}"[:200]


class EventDispatchError(Exception):
    """A handler or the broadcast failed; the event stays pending and is retried."""

    def __init__(self, event_id: int, where: str, cause: BaseException):
        super().__init__(f"event {event_id} failed in {where}: {type(cause).__name__}")
        self.event_id = event_id
        self.where = where
        self.cause = cause


def event_dispatch(*, event_id: int) -> bool:
    """Run the handlers and broadcasts of one pending event. Safe to call any number of times.

    Returns False when there is nothing to do (already dispatched, unknown, or another worker
    holds it right now). Raises ``EventDispatchError`` after recording the failure.
    """
    failure: EventDispatchError | None = None
    with transaction.atomic():
        event = (
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, dispatched_at__isnull=True)
            .first()
        )
        if event is None:
            return False
        where = ""
        try:
            for handler in handlers_for(event.name):
                where = handler.key
                event_apply_handler(event=event, handler=handler)
            where = "broadcast"
            for group, message in event.realtime:
                broadcast(group, message)
        except Exception as exc:
            failure = EventDispatchError(event.pk, where, exc)
            event.last_error = _describe(where, exc)
        else:
            event.dispatched_at = timezone.now()
            event.last_error = ""
        event.attempts = F("attempts") + 1
        event.save(update_fields=["dispatched_at", "attempts", "last_error"])
    if failure is not None:
        logger.warning("outbox: %s", failure)
        raise failure
    return True


def events_due_for_sweep(*, limit: int = SWEEP_BATCH, after: timedelta = SWEEP_AFTER) -> list[int]:
    """Ids of pending events that have waited long enough to be sent again (oldest first)."""
    now = timezone.now()
    wait = models.ExpressionWrapper(
        Value(after) * Power(2, Least(F("attempts"), Value(_BACKOFF_CAP_EXPONENT))),
        output_field=models.DurationField(),
    )
    return list(
        OutboxEvent.objects.filter(dispatched_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
        .alias(
            due_at=models.ExpressionWrapper(
                F("created_at") + wait, output_field=models.DateTimeField()
            )
        )
        .filter(due_at__lte=now)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def events_sweep(*, limit: int = SWEEP_BATCH, after: timedelta = SWEEP_AFTER) -> int:
    """Re-send pending events (broker down at commit, worker lost mid-task) that have waited
    ``after`` (doubling with each failed attempt). Returns how many reached the broker."""
    ids = events_due_for_sweep(limit=limit, after=after)
    sent = 0
    for event_id in ids:
        if not event_enqueue(event_id=event_id):
            break  # the broker is down: the next sweep tries again
        sent += 1
    stuck = OutboxEvent.objects.filter(
        dispatched_at__isnull=True, attempts__gte=MAX_ATTEMPTS
    ).count()
    if stuck:
        logger.error("outbox: %s event(s) gave up after %s attempts", stuck, MAX_ATTEMPTS)
    return sent
