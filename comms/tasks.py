"""Celery tasks of comms. Each takes ids, calls one service and is safe to run twice."""

from __future__ import annotations

import random

from celery import shared_task
from django.db import InterfaceError, OperationalError

from comms.services import RETRY, message_give_up
from comms.services import message_deliver as deliver

MAX_RETRIES = 6


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter (2 s doubling, capped at 5 minutes)."""
    return random.uniform(1.0, min(300.0, 2.0 * 2**retries))  # noqa: S311 - not cryptographic


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
    """Celery beat: re-send messages whose task never reached the broker (see the service)."""
    from comms.services import messages_sweep as sweep

    return sweep()
