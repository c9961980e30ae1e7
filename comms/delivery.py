"""Delivery: queued outbound messages to their gateways, in batches, each message at most once.

``message_send`` (``comms.services``) writes the outbox rows; when the caller's transaction
commits, every message it wrote goes to the broker in tasks of up to ``DELIVERY_BATCH`` ids
(``comms.tasks.messages_deliver``), not one task each. A batch is delivered in three steps:

1. **Claim** (one short transaction): the batch's rows still ``queued`` without a provider id are
   locked with ``FOR UPDATE SKIP LOCKED`` and marked ``sending``. A second task for the same
   message (a redelivered task, the sweep) finds nothing to claim and sends nothing.
2. **Send**, outside any transaction: gateways whose calls are network I/O only (Twilio) run on
   a per-process pool of ``SEND_THREADS`` threads sharing one HTTP client and its connections;
   the others (Gmail writes its own rows) one by one, each in its own transaction.
3. **Record** (one transaction): one ``UPDATE`` for the whole batch, one stream bump and one
   outbox event per organization for open pages.

Transient failures (429, 5xx, timeouts) go back to ``queued`` and continue on a single-message
task with backoff; permanent ones fail at once. A worker that dies between the claim and the
record leaves its messages ``sending``: ``messages_sweep`` fails such a text message as
"interrupted" rather than risk texting it twice (at most once), and re-queues such an email (the
Gmail gateway first looks the message up by its Message-ID, so a retry never sends it twice).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinic.events.services import event_record
from clinic.realtime.services import stream_bump
from comms.gateways import TWILIO_UNSUBSCRIBED, GatewayError, SendResult, gateway_for
from comms.models import STATUS_RANK, Channel, ContactPreference, Direction, Message, MessageStatus
from comms.services import STREAM, _opt_out, comms_group, comms_publish, comms_stream_key

if TYPE_CHECKING:
    from comms.gateways import MessageGateway

logger = logging.getLogger(__name__)

DELIVERY_BATCH = 50  # messages per delivery task
SEND_THREADS = 8  # concurrent gateway calls per worker process (they wait on the network)
SWEEP_AFTER = timedelta(minutes=10)  # longer than the longest retry backoff (5 minutes)

DELIVERED = "sent"
FAILED = "failed"
RETRY = "retry"
SKIPPED = "skipped"

_RECORDED_FIELDS = [
    "provider_sid",
    "gateway",
    "from_address",
    "status",
    "sent_at",
    "status_at",
    "error_code",
    "error_message",
    "attempts",
    "updated_at",
]


# ---------------------------------------------------------------- handing over to Celery

_outbox = threading.local()


def deliver_after_commit(message_id: int) -> None:
    """Deliver ``message_id`` once the outermost transaction commits, batched with the other
    messages that transaction wrote.

    Each message registers its own on-commit hook (so a rolled-back savepoint drops only its
    own hook); the first hook to run hands the whole buffer to the broker and the rest find it
    empty. An id whose savepoint rolled back may ride along: its task finds no row to claim.
    """
    pending: list[int] = getattr(_outbox, "ids", None) or []
    pending.append(message_id)
    _outbox.ids = pending
    transaction.on_commit(_flush)


def _flush() -> None:
    ids: list[int] = getattr(_outbox, "ids", None) or []
    _outbox.ids = []
    if ids:
        messages_enqueue(message_ids=ids)


def messages_enqueue(*, message_ids: Sequence[int]) -> int:
    """Hand messages to Celery, ``DELIVERY_BATCH`` per task. Returns how many reached the
    broker; a broker outage is logged and ``messages_sweep`` sends them later."""
    from comms.tasks import messages_deliver as deliver_task

    ids = list(dict.fromkeys(message_ids))
    sent = 0
    for start in range(0, len(ids), DELIVERY_BATCH):
        chunk = ids[start : start + DELIVERY_BATCH]
        try:
            deliver_task.apply_async((chunk,), retry=False)
        except Exception as exc:
            logger.warning(
                "comms: could not enqueue %s message(s) (%s)", len(chunk), type(exc).__name__
            )
            break
        sent += len(chunk)
    return sent


def message_enqueue(*, message_id: int) -> bool:
    return messages_enqueue(message_ids=[message_id]) == 1


# ---------------------------------------------------------------- delivering


def message_deliver(*, message_id: int, final_attempt: bool = False) -> str:
    """Deliver one queued message: "sent", "failed", "retry" (transient; retry later) or
    "skipped" (not queued any more, or being delivered elsewhere)."""
    return messages_deliver(message_ids=[message_id], final_attempt=final_attempt)[message_id]


def messages_deliver(*, message_ids: Sequence[int], final_attempt: bool = False) -> dict[int, str]:
    """Deliver a batch (see the module docstring); each id's outcome, as ``message_deliver``."""
    claimed = _claim(message_ids)
    outcomes = dict.fromkeys(message_ids, SKIPPED)
    if not claimed:
        return outcomes
    opted_out = _opted_out(claimed)
    to_send: list[tuple[Message, MessageGateway]] = []
    gateways: dict[tuple[int, str], MessageGateway] = {}
    results: dict[int, SendResult | GatewayError] = {}
    for message in claimed:
        if (message.organization_id, message.channel, message.to_address) in opted_out:
            results[message.pk] = GatewayError(
                "opted_out", "The recipient opted out before delivery.", transient=False
            )
            continue
        key = (message.organization_id, message.channel)
        if key not in gateways:
            gateways[key] = gateway_for(message.organization, message.channel)
        to_send.append((message, gateways[key]))
    for gateway in gateways.values():
        gateway.prepare([m for m, g in to_send if g is gateway])
    results.update(_send_all(to_send))
    names = {m.pk: g.name for m, g in to_send}
    outcomes.update(_record(claimed, results, names, final_attempt=final_attempt))
    return outcomes


def _claim(message_ids: Sequence[int]) -> list[Message]:
    """Lock the batch's still-queued rows (skipping any another worker holds) and mark them
    ``sending``, in one short transaction."""
    if not message_ids:
        return []
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization", "patient", "conversation")
            .filter(
                pk__in=list(message_ids),
                direction=Direction.OUTBOUND,
                status=MessageStatus.QUEUED,
                provider_sid="",
            )
            .order_by("id")
        )
        if rows:
            now = timezone.now()
            for row in rows:
                row.status, row.attempts, row.updated_at = (
                    MessageStatus.SENDING,
                    row.attempts + 1,
                    now,
                )
            Message.objects.bulk_update(rows, ["status", "attempts", "updated_at"])
    return rows


def _opted_out(messages: list[Message]) -> set[tuple[int, str, str]]:
    wanted = Q()
    for message in messages:
        wanted |= Q(
            organization_id=message.organization_id,
            channel=message.channel,
            address=message.to_address,
        )
    return set(
        ContactPreference.objects.filter(wanted, opted_out=True).values_list(
            "organization_id", "channel", "address"
        )
    )


# One pool per process, made on first use (a Celery prefork child, never its parent).
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _send_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="comms-send")
        return _pool


def _forget_pool() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()  # a forked child has none of the threads


os.register_at_fork(after_in_child=_forget_pool)


def _send_one(gateway: MessageGateway, message: Message) -> SendResult | GatewayError:
    try:
        return gateway.send(message)
    except GatewayError as exc:
        return exc
    except Exception as exc:
        # Unknown: it may have gone out, so it is never retried (at most once).
        logger.exception("comms: gateway %s raised %s", gateway.name, type(exc).__name__)
        return GatewayError("error", type(exc).__name__, transient=False)


def _send_serial(gateway: MessageGateway, message: Message) -> SendResult | GatewayError:
    # Gateways that write rows (Gmail) do it in a transaction of their own per message.
    with transaction.atomic():
        return _send_one(gateway, message)


def _send_all(
    pairs: list[tuple[Message, MessageGateway]],
) -> dict[int, SendResult | GatewayError]:
    parallel = [(m, g) for m, g in pairs if g.concurrent]
    futures: dict[int, Future[SendResult | GatewayError]] = {}
    if len(parallel) > 1:
        pool = _send_pool()
        futures = {m.pk: pool.submit(_send_one, g, m) for m, g in parallel}
    results: dict[int, SendResult | GatewayError] = {}
    for message, gateway in pairs:
        if message.pk not in futures:
            results[message.pk] = _send_serial(gateway, message)
    for pk, future in futures.items():
        results[pk] = future.result()
    return results


def _apply(
    message: Message,
    result: SendResult | GatewayError,
    gateway_name: str,
    now: datetime,
    *,
    final_attempt: bool,
) -> str:
    """Write one send's outcome onto the claimed row (saved by the caller)."""
    message.updated_at = now
    if isinstance(result, SendResult):
        message.provider_sid = result.sid
        message.gateway = gateway_name
        if result.from_address:
            message.from_address = result.from_address
        # The provider's first status (queued, or accepted for a messaging service); no
        # callback ever reports it.
        message.status = result.status if result.status in STATUS_RANK else MessageStatus.SENT
        message.sent_at = message.status_at = now
        message.error_code = message.error_message = ""
        return DELIVERED
    message.error_code = result.code[:20]
    message.error_message = result.message[:300]
    if result.transient and not final_attempt:
        message.status = MessageStatus.QUEUED
        return RETRY
    message.status = MessageStatus.FAILED
    message.status_at = now
    return FAILED


def _record(
    claimed: list[Message],
    results: dict[int, SendResult | GatewayError],
    names: dict[int, str],
    *,
    final_attempt: bool,
) -> dict[int, str]:
    now = timezone.now()
    outcomes: dict[int, str] = {}
    with transaction.atomic():
        for message in claimed:
            result = results[message.pk]
            if isinstance(result, GatewayError) and result.code in TWILIO_UNSUBSCRIBED:
                _opt_out(
                    organization=message.organization,
                    channel=message.channel,
                    address=message.to_address,
                    keyword="CARRIER",
                )
            outcomes[message.pk] = _apply(
                message, result, names.get(message.pk, ""), now, final_attempt=final_attempt
            )
        Message.objects.bulk_update(claimed, _RECORDED_FIELDS)
        messages_publish([m for m in claimed if outcomes[m.pk] != RETRY], change="status")
        retry = [m.pk for m in claimed if outcomes[m.pk] == RETRY]
        if retry and not final_attempt:
            transaction.on_commit(lambda: _retry_later(retry))
    return outcomes


def _retry_later(message_ids: list[int]) -> None:
    """Transient failures continue one by one, with the single-message task's backoff."""
    from comms.tasks import backoff
    from comms.tasks import message_deliver as deliver_task

    for message_id in message_ids:
        try:
            deliver_task.apply_async((message_id,), countdown=backoff(0), retry=False)
        except Exception as exc:
            logger.warning("comms: could not re-enqueue a message (%s)", type(exc).__name__)
            return  # the sweep re-sends it


def messages_publish(messages: list[Message], *, change: str) -> None:
    """Tell open pages that ``messages`` changed: one stream bump and one outbox event per
    organization, listing the messages and their patients (ids only)."""
    if len(messages) == 1:
        comms_publish(message=messages[0], change=change)
        return
    by_org: dict[int, list[Message]] = defaultdict(list)
    for message in messages:
        by_org[message.organization_id].append(message)
    for organization_id, rows in by_org.items():
        version = stream_bump(comms_stream_key(organization_id))
        ids = [str(m.public_id) for m in rows]
        patients = sorted({str(m.patient.public_id) for m in rows if m.patient is not None})
        realtime: dict[str, Any] = {
            "type": "comms.changed",
            "stream": STREAM,
            "version": version,
            "change": change,
            "messages": ids,
            "patients": patients,
        }
        event_record(
            name="comms.messages_changed",
            organization=rows[0].organization,
            payload={"messages": ids},
            realtime=[(comms_group(organization_id), realtime)],
        )


@transaction.atomic
def message_give_up(*, message_id: int) -> None:
    """After the last retry of a transient failure: mark the message failed (kept code)."""
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("organization", "patient", "conversation")
        .filter(pk=message_id, status=MessageStatus.QUEUED, provider_sid="")
        .first()
    )
    if message is not None:
        message.status = MessageStatus.FAILED
        message.error_code = message.error_code or "gave_up"
        message.error_message = message.error_message or "The gateway kept failing; gave up."
        message.status_at = timezone.now()
        message.save(update_fields=["status", "error_code", "error_message", "status_at"])
        comms_publish(message=message, change="status")


# ---------------------------------------------------------------- the sweep


def messages_sweep(*, after: timedelta = SWEEP_AFTER, limit: int = 500) -> int:
    """Celery beat. Messages still ``queued`` ``after`` their last change lost their task (the
    broker was down at commit, or a worker was lost): send them again. Messages left
    ``sending`` that long were interrupted mid-delivery: a text message is failed as
    "interrupted" (it may have gone out; texting it again could text it twice), an email is
    queued again (the Gmail gateway finds an earlier send by its Message-ID). Returns how many
    went to the broker."""
    cutoff = timezone.now() - after
    _interrupted_resolve(cutoff, limit)
    ids = list(
        Message.objects.filter(
            direction=Direction.OUTBOUND,
            status=MessageStatus.QUEUED,
            provider_sid="",
            updated_at__lt=cutoff,
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    return messages_enqueue(message_ids=ids) if ids else 0


@transaction.atomic
def _interrupted_resolve(cutoff: datetime, limit: int) -> None:
    stuck = list(
        Message.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("organization", "patient", "conversation")
        .filter(
            direction=Direction.OUTBOUND,
            status=MessageStatus.SENDING,
            provider_sid="",
            updated_at__lt=cutoff,
        )
        .order_by("id")[:limit]
    )
    if not stuck:
        return
    now = timezone.now()
    failed = []
    for message in stuck:
        message.updated_at = now
        if message.channel == Channel.EMAIL:
            message.status = MessageStatus.QUEUED
            message.updated_at = cutoff - timedelta(seconds=1)  # due in this very sweep
            continue
        message.status, message.status_at = MessageStatus.FAILED, now
        message.error_code = "interrupted"
        message.error_message = (
            "Delivery was interrupted; the message may not have gone out. It was not sent "
            "again so that it cannot arrive twice."
        )
        failed.append(message)
    Message.objects.bulk_update(
        stuck, ["status", "status_at", "error_code", "error_message", "updated_at"]
    )
    if failed:
        messages_publish(failed, change="status")
