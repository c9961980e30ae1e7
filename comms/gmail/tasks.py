"""Celery tasks of Gmail. Each takes ids, calls one service and is safe to run twice.

Beat runs ``gmail_sync_all`` every ``GMAIL_SYNC_INTERVAL_SECONDS`` (config/settings/base.py):
it queues an incremental sync of every connected mailbox, renews push watches when push is
configured, and re-queues outgoing email whose delivery task was lost.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from comms.gmail.client import GmailNotAuthorized, GmailUnavailable, gmail_setting
from comms.gmail.models import GmailMailbox
from comms.gmail.sync import mailbox_sync, mailbox_watch
from comms.messaging.tasks import message_enqueue
from comms.models import Channel, Direction, Message, MessageStatus

logger = logging.getLogger(__name__)

MAX_RETRIES = 4


@shared_task(bind=True, name="comms.gmail_mailbox_sync", max_retries=MAX_RETRIES, acks_late=True)
def gmail_mailbox_sync(self, mailbox_id: int) -> str:
    """Sync one mailbox. Gmail being busy or unreachable retries with backoff and jitter; a
    revoked grant stops (the mailbox shows "Needs reconnecting")."""

    try:
        result = mailbox_sync(mailbox_id=mailbox_id)
    except GmailNotAuthorized:
        return "not_authorized"
    except GmailUnavailable as exc:
        GmailMailbox.objects.filter(pk=mailbox_id).update(sync_error="gmail_unavailable")
        if self.request.retries >= MAX_RETRIES:
            return "unavailable"
        countdown = random.uniform(1.0, min(300.0, 5.0 * 2**self.request.retries))  # noqa: S311
        raise self.retry(countdown=countdown, exc=exc) from exc
    return result.mode


@shared_task(name="comms.gmail_sync_all")
def gmail_sync_all() -> int:
    ids = list(
        GmailMailbox.objects.filter(status=GmailMailbox.Status.CONNECTED).values_list(
            "pk", flat=True
        )
    )
    for mailbox_id in ids:
        mailbox_sync_enqueue(mailbox_id=mailbox_id)
    if gmail_setting("GMAIL_PUBSUB_TOPIC"):
        soon = timezone.now() + timedelta(days=1)
        due = GmailMailbox.objects.filter(pk__in=ids).filter(
            Q(watch_expires_at__isnull=True) | Q(watch_expires_at__lt=soon)
        )
        for mailbox_id in due.values_list("pk", flat=True):
            gmail_watch_renew.apply_async((mailbox_id,), retry=False)
    _requeue_lost_email()
    return len(ids)


def _requeue_lost_email() -> None:
    """Outgoing email still queued a minute after it was written lost its task (broker down at
    commit time): queue it again. Delivery is safe to run twice."""

    stale = timezone.now() - timedelta(minutes=1)
    for message_id in Message.objects.filter(
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND,
        status=MessageStatus.QUEUED,
        provider_sid="",
        created_at__lt=stale,
        gmail__isnull=False,
    ).values_list("pk", flat=True)[:500]:
        message_enqueue(message_id=message_id)


@shared_task(name="comms.gmail_watch_renew")
def gmail_watch_renew(mailbox_id: int) -> str:

    try:
        return mailbox_watch(mailbox_id=mailbox_id)
    except (GmailNotAuthorized, GmailUnavailable):
        return "failed"


def mailbox_sync_enqueue(*, mailbox_id: int) -> bool:
    try:
        gmail_mailbox_sync.apply_async((mailbox_id,), retry=False)
    except Exception as exc:
        # The beat schedule syncs every mailbox anyway.
        logger.warning("gmail: could not enqueue sync of %s (%s)", mailbox_id, type(exc).__name__)
        return False
    return True
