"""Celery tasks of comms. Each takes ids, calls one service and is safe to run twice."""

from __future__ import annotations

import random

from celery import shared_task
from celery.signals import worker_init
from django.db import InterfaceError, OperationalError

from comms.delivery import RETRY, message_give_up
from comms.delivery import message_deliver as deliver
from comms.delivery import messages_deliver as deliver_batch

MAX_RETRIES = 6


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter (2 s doubling, capped at 5 minutes)."""
    return random.uniform(1.0, min(300.0, 2.0 * 2**retries))  # noqa: S311 - not cryptographic


@shared_task(
    bind=True, name="comms.tasks.messages_deliver", max_retries=MAX_RETRIES, acks_late=True
)
def messages_deliver(self, message_ids: list[int]) -> dict[str, int]:
    """Deliver a batch of queued messages (``comms.delivery``). A database error before the
    claim retries the batch; messages already claimed are never sent twice (they are no longer
    queued), and their transient failures continue on ``message_deliver``."""
    try:
        outcomes = deliver_batch(message_ids=[int(i) for i in message_ids])
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(countdown=backoff(self.request.retries), exc=exc) from exc
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
    lost worker interrupted (see ``comms.delivery.messages_sweep``)."""
    from comms.delivery import messages_sweep as sweep

    return sweep()


@worker_init.connect
def _twilio_api_preload(**_: object) -> None:
    """Import the twilio client's Messages API in the worker's parent: the client imports it on
    first use, and every forked child would otherwise load (or, without bytecode caches,
    compile) those large modules again."""
    import twilio.rest.api.v2010.account.message  # noqa: F401
