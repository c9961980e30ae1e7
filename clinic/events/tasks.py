"""Celery tasks of the clinic core: the outbox dispatcher and its periodic sweep.

Tasks take ids and call one service; running one twice has no further effect.
"""

from __future__ import annotations

import logging
import random

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from clinic.events.services import (
    OUTBOX_DISPATCH_TASK,
    EventDispatchError,
    event_dispatch,
    events_sweep,
)

logger = logging.getLogger(__name__)

# Failures that go away by themselves (a database failover, Redis restarting).
TRANSIENT = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    BrokerError,
    ConnectionError,
    TimeoutError,
)
MAX_RETRIES = 5


def _backoff(retries: int) -> float:
    # Exponential with full jitter, so a recovering Redis is not hit by every worker at once.
    return random.uniform(0, min(60.0, 2.0 * 2**retries))  # noqa: S311 - not cryptographic


@shared_task(bind=True, name=OUTBOX_DISPATCH_TASK, max_retries=MAX_RETRIES)
def outbox_dispatch(self, event_id: int) -> bool:
    """Run the handlers and broadcasts of one outbox event."""
    try:
        return event_dispatch(event_id=event_id)
    except EventDispatchError as exc:
        if isinstance(exc.cause, TRANSIENT) and self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=_backoff(self.request.retries), exc=exc) from exc
        # A lasting failure stays recorded on the event; the sweep retries it, less often.
        return False
    except TRANSIENT as exc:
        # The database went away before the failure could even be recorded.
        if self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=_backoff(self.request.retries), exc=exc) from exc
        raise


@shared_task(name="clinic.events.tasks.outbox_sweep", ignore_result=True)
def outbox_sweep() -> int:
    """Celery beat, every 15 s: re-send events still pending (see ``events_sweep``)."""
    return events_sweep()
