"""Celery tasks of comms' delivery, and handing messages over to them. Each task takes ids,
calls one service (``comms.messaging.delivery``) and is safe to run twice.

``message_send`` calls ``deliver_after_commit``: when the caller's transaction commits, every
message it wrote goes to the broker in tasks of up to ``DELIVERY_BATCH`` ids. Transient
failures continue one by one on ``message_deliver`` with backoff; ``messages_sweep`` (beat)
sends again what lost its task. The task names are kept from before the sub-packages
(``comms.tasks.*``): queued tasks and the beat schedule name them.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence

from celery import shared_task
from celery.signals import worker_init
from django.db import InterfaceError, OperationalError, transaction

from comms.messaging.delivery import DELIVERY_BATCH, RETRY, message_give_up, messages_due
from comms.messaging.delivery import message_deliver as deliver
from comms.messaging.delivery import messages_deliver as deliver_batch

logger = logging.getLogger(__name__)

MAX_RETRIES = 6


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter (2 s doubling, capped at 5 minutes)."""
    return random.uniform(1.0, min(300.0, 2.0 * 2**retries))  # noqa: S311 - not cryptographic


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
    ids = list(dict.fromkeys(message_ids))
    sent = 0
    for start in range(0, len(ids), DELIVERY_BATCH):
        chunk = ids[start : start + DELIVERY_BATCH]
        try:
            messages_deliver.apply_async((chunk,), retry=False)
        except Exception as exc:
            logger.warning(
                "comms: could not enqueue %s message(s) (%s)", len(chunk), type(exc).__name__
            )
            break
        sent += len(chunk)
    return sent


def message_enqueue(*, message_id: int) -> bool:
    return messages_enqueue(message_ids=[message_id]) == 1


def _retry_later(outcomes: dict[int, str]) -> None:
    """Transient failures continue one by one, with the single-message task's backoff."""
    for message_id in [pk for pk, outcome in outcomes.items() if outcome == RETRY]:
        try:
            message_deliver.apply_async((message_id,), countdown=backoff(0), retry=False)
        except Exception as exc:
            logger.warning("comms: could not re-enqueue a message (%s)", type(exc).__name__)
            return  # the sweep re-sends it


# ---------------------------------------------------------------- the tasks


@shared_task(
    bind=True, name="comms.tasks.messages_deliver", max_retries=MAX_RETRIES, acks_late=True
)
def messages_deliver(self, message_ids: list[int]) -> dict[str, int]:
    """Deliver a batch of queued messages (``comms.messaging.delivery``). A database error
    before the claim retries the batch; messages already claimed are never sent twice (they
    are no longer queued), and their transient failures continue on ``message_deliver``."""
    try:
        outcomes = deliver_batch(message_ids=[int(i) for i in message_ids])
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(countdown=backoff(self.request.retries), exc=exc) from exc
    _retry_later(outcomes)
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@shared_task(bind=True, name="comms.tasks.message_deliver", max_retries=MAX_RETRIES, acks_late=True)
def message_deliver(self, message_id: int) -> str:
    """Deliver one queued message; transient gateway failures (429, 5xx, timeouts) retry."""
    final = self.request.retries >= MAX_RETRIES
    try:
        outcome = deliver(message_id=message_id, final_attempt=final)
    except (OperationalError, InterfaceError) as exc:
        if not final:
            raise self.retry(countdown=backoff(self.request.retries), exc=exc) from exc
        raise
    if outcome == RETRY:
        if final:
            message_give_up(message_id=message_id)
            return "failed"
        raise self.retry(countdown=backoff(self.request.retries))
    return outcome


@shared_task(name="comms.tasks.messages_sweep", ignore_result=True)
def messages_sweep() -> int:
    """Celery beat: re-send messages whose task never reached the broker, resolve deliveries a
    lost worker interrupted (``comms.messaging.delivery.messages_due``). Returns how many went
    to the broker."""
    ids = messages_due()
    return messages_enqueue(message_ids=ids) if ids else 0


@worker_init.connect
def _twilio_api_preload(**_: object) -> None:
    """Import the twilio client's Messages API in the worker's parent: the client imports it on
    first use, and every forked child would otherwise load (or, without bytecode caches,
    compile) those large modules again."""
    import twilio.rest.api.v2010.account.message  # noqa: F401  # import here: a fork hook
