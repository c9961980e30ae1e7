"""Keeping a Gmail mailbox and Tandem in step.

- The first sync of a mailbox is a full sync: labels, then the newest messages
  (``GMAIL_FULL_SYNC_MAX_MESSAGES``), then the mailbox's ``historyId`` is kept.
- Every later sync is incremental: ``users.history.list`` from that ``historyId``, applying
  messages added and deleted and labels added and removed, in order.
- Gmail answers 404 when the ``historyId`` is too old. Then the sync forgets the position and
  does exactly one full sync in that run, which sets a fresh position; nothing loops back to
  the incremental path.
- One sync per mailbox at a time (a PostgreSQL advisory lock); every step can run twice
  without a second effect (messages are unique per mailbox and Gmail id, label changes are set
  operations), so a sync cut short by a crash or a network error just runs again.

Messages become ``comms.Message`` rows (channel "email") linked to the patient whose email
address they come from or go to (exactly one patient of the organization; several: staff
choose; none: unassigned), plus a ``GmailMessage`` with the Gmail side.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.notifications.services import notification_send
from comms.gmail.client import (
    GmailRefused,
    ParsedMessage,
    gmail_call,
    gmail_session,
    gmail_setting,
    message_parse,
)
from comms.gmail.models import GmailAttachment, GmailLabel, GmailMailbox, GmailMessage, GmailThread
from comms.messaging.stream import comms_publish
from comms.models import Channel, Direction, Gateway, Message, MessageStatus
from comms.sms.inbound import message_recipients
from patients.models import Patient

logger = logging.getLogger(__name__)

# pg_try_advisory_lock(namespace, mailbox id): a namespace of our own for these locks.
_LOCK_NAMESPACE = 7_310_001
SKIPPED_LABELS = frozenset({"SPAM", "DRAFT"})


class HistoryExpired(Exception):
    """Gmail no longer keeps history from the mailbox's historyId (HTTP 404)."""


@dataclass
class SyncResult:
    mode: str  # "full", "incremental", "resync" (full after an expired history), "busy", "off"
    stored: int = 0
    updated: int = 0
    deleted: int = 0


def _full_sync_limit() -> int:
    return int(gmail_setting("GMAIL_FULL_SYNC_MAX_MESSAGES", 500))


@contextmanager
def _mailbox_lock(mailbox_id: int) -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, mailbox_id])
        locked = bool(cursor.fetchone()[0])
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, mailbox_id])


def mailbox_sync(*, mailbox_id: int) -> SyncResult:
    """Bring one mailbox up to date: full the first time, incremental afterwards."""
    with _mailbox_lock(mailbox_id) as locked:
        if not locked:
            return SyncResult(mode="busy")
        mailbox = GmailMailbox.objects.select_related("organization").filter(pk=mailbox_id).first()
        if mailbox is None or not mailbox.is_connected:
            return SyncResult(mode="off")
        with gmail_session(mailbox) as service:
            if mailbox.history_id is None:
                return _full_sync(service, mailbox, mode="full")
            try:
                return _incremental_sync(service, mailbox)
            except HistoryExpired:
                logger.info("gmail: history of mailbox %s expired, full resync", mailbox.pk)
                # Forget the position first: if the full sync fails half way, the next run
                # starts with a full sync again rather than asking for the old history.
                GmailMailbox.objects.filter(pk=mailbox.pk).update(
                    history_id=None, sync_error="history_expired"
                )
                mailbox.history_id = None
                return _full_sync(service, mailbox, mode="resync")


# -------------------------------------------------------------------------- full sync


def _full_sync(service: Any, mailbox: GmailMailbox, *, mode: str) -> SyncResult:
    users = service.users()
    profile = gmail_call(users.getProfile(userId="me"))
    # Taken before listing: changes made while we list are replayed by the next incremental
    # sync, and replaying is harmless.
    start_history = int(profile["historyId"])
    labels_sync(service, mailbox)
    limit = _full_sync_limit()
    ids: list[str] = []
    page_token: str | None = None
    complete = True
    while True:
        response = gmail_call(
            users.messages().list(
                userId="me", maxResults=min(100, limit - len(ids)), pageToken=page_token
            )
        )
        ids.extend(str(m["id"]) for m in response.get("messages") or [])
        page_token = response.get("nextPageToken")
        if not page_token:
            break
        if len(ids) >= limit:
            complete = False
            break
    result = SyncResult(mode=mode)
    known = set(
        GmailMessage.objects.filter(mailbox=mailbox, gmail_id__in=ids).values_list(
            "gmail_id", flat=True
        )
    )
    for gmail_id in ids:
        if gmail_id in known:
            resource = _get(users, gmail_id, "minimal")
            if resource is not None and message_labels_set(mailbox, gmail_id, resource["labelIds"]):
                result.updated += 1
        elif _fetch_and_store(users, mailbox, gmail_id):
            result.stored += 1
    if complete:
        # Whatever Gmail no longer lists (deleted, or moved to spam / trash while our history
        # had expired) leaves the inbox.
        result.deleted = (
            GmailMessage.objects.filter(mailbox=mailbox, deleted_at__isnull=True)
            .exclude(gmail_id="")
            .exclude(gmail_id__in=ids)
            .update(deleted_at=timezone.now())
        )
    now = timezone.now()
    GmailMailbox.objects.filter(pk=mailbox.pk).update(
        history_id=start_history,
        last_full_sync_at=now,
        last_synced_at=now,
        full_sync_count=F("full_sync_count") + 1,
        sync_error="",
    )
    return result


def labels_sync(service: Any, mailbox: GmailMailbox) -> None:
    response = gmail_call(service.users().labels().list(userId="me"))
    seen: list[str] = []
    for label in response.get("labels") or []:
        seen.append(str(label["id"]))
        GmailLabel.objects.update_or_create(
            mailbox=mailbox,
            gmail_id=str(label["id"])[:100],
            defaults={
                "name": str(label.get("name") or label["id"])[:225],
                "is_system": label.get("type") == "system",
            },
        )
    GmailLabel.objects.filter(mailbox=mailbox).exclude(gmail_id__in=seen).delete()


def _get(users: Any, gmail_id: str, fmt: str) -> dict[str, Any] | None:
    try:
        return gmail_call(users.messages().get(userId="me", id=gmail_id, format=fmt))
    except GmailRefused as exc:
        if exc.extra.get("status") == 404:  # deleted since it was listed
            return None
        raise


def _fetch_and_store(
    users: Any, mailbox: GmailMailbox, gmail_id: str, *, announce: bool = False
) -> bool:
    resource = _get(users, gmail_id, "full")
    if resource is None:
        return False
    return message_store(mailbox, message_parse(resource), announce=announce) is not None


# -------------------------------------------------------------------------- incremental sync


def _incremental_sync(service: Any, mailbox: GmailMailbox) -> SyncResult:
    users = service.users()
    records: list[dict[str, Any]] = []
    latest: str | None = None
    page_token: str | None = None
    while True:
        try:
            response = gmail_call(
                users.history().list(
                    userId="me",
                    startHistoryId=str(mailbox.history_id),
                    maxResults=500,
                    pageToken=page_token,
                )
            )
        except GmailRefused as exc:
            if exc.extra.get("status") == 404:
                raise HistoryExpired from exc
            raise
        records.extend(response.get("history") or [])
        latest = response.get("historyId") or latest
        page_token = response.get("nextPageToken")
        if not page_token:
            break

    result = SyncResult(mode="incremental")
    known_labels = set(
        GmailLabel.objects.filter(mailbox=mailbox).values_list("gmail_id", flat=True)
    )
    # Added and deleted again since the last sync: nothing to fetch.
    deleted_later = {
        str(item["message"]["id"]) for r in records for item in r.get("messagesDeleted") or []
    }
    for record in records:
        for item in record.get("messagesAdded") or []:
            gmail_id = str(item["message"]["id"])
            if gmail_id in deleted_later:
                continue
            stored = GmailMessage.objects.filter(mailbox=mailbox, gmail_id=gmail_id).exists()
            if not stored and _fetch_and_store(users, mailbox, gmail_id, announce=True):
                result.stored += 1
        for key, adding in (("labelsAdded", True), ("labelsRemoved", False)):
            for item in record.get(key) or []:
                changed = [str(x) for x in item.get("labelIds") or []]
                if adding and not set(changed) <= known_labels:
                    labels_sync(service, mailbox)
                    known_labels |= set(changed)
                if _labels_change(mailbox, str(item["message"]["id"]), changed, adding=adding):
                    result.updated += 1
        for item in record.get("messagesDeleted") or []:
            result.deleted += GmailMessage.objects.filter(
                mailbox=mailbox, gmail_id=str(item["message"]["id"]), deleted_at__isnull=True
            ).update(deleted_at=timezone.now())
    GmailMailbox.objects.filter(pk=mailbox.pk).update(
        history_id=int(latest) if latest else mailbox.history_id,
        last_synced_at=timezone.now(),
        sync_error="",
    )
    return result


# -------------------------------------------------------------------------- labels


def _labels_change(
    mailbox: GmailMailbox, gmail_id: str, labels: list[str], *, adding: bool
) -> bool:
    row = GmailMessage.objects.filter(mailbox=mailbox, gmail_id=gmail_id).first()
    if row is None:
        return False
    current = set(row.label_ids)
    new = current | set(labels) if adding else current - set(labels)
    return message_labels_set(mailbox, gmail_id, sorted(new), row=row)


@transaction.atomic
def message_labels_set(
    mailbox: GmailMailbox,
    gmail_id: str,
    labels: list[str],
    *,
    row: GmailMessage | None = None,
    announce: bool = True,
) -> bool:
    """Make the stored labels of one message ``labels``; keep unread / starred and the
    message's read time in step. False when nothing changed."""

    row = (
        GmailMessage.objects.select_for_update()
        .select_related("message")
        .filter(mailbox=mailbox, gmail_id=gmail_id)
        .first()
    )
    if row is None:
        return False
    labels = sorted(set(labels))
    if sorted(row.label_ids) == labels:
        return False
    row.label_ids = labels
    was_unread, row.is_unread = row.is_unread, "UNREAD" in labels
    row.is_starred = "STARRED" in labels
    row.save(update_fields=["label_ids", "is_unread", "is_starred", "updated_at"])
    message = row.message
    if message.direction == Direction.INBOUND:
        if row.is_unread and message.read_at is not None:
            Message.objects.filter(pk=message.pk).update(read_at=None)
        elif not row.is_unread and message.read_at is None:
            Message.objects.filter(pk=message.pk).update(read_at=timezone.now())
        if announce and row.is_unread != was_unread:
            # Read or unread in Gmail: open inboxes' unread counters follow.

            comms_publish(message=message, change="read")
    return True


# -------------------------------------------------------------------------- storing messages


def patients_by_address(organization_id: int, addresses: list[str]) -> dict[str, list[Any]]:
    """address -> the organization's patients with that email address (case-insensitive)."""

    wanted = sorted({a.lower() for a in addresses if a})
    found: dict[str, list[Any]] = {}
    if not wanted:
        return found
    rows = (
        Patient.objects.annotate(email_lower=Lower("email"))
        .filter(organization_id=organization_id, email_lower__in=wanted)
        .select_related("home_location")
        .order_by("id")
    )
    for patient in rows:
        found.setdefault(patient.email_lower, []).append(patient)
    return found


def _match_patient(
    mailbox: GmailMailbox, parsed: ParsedMessage, outbound: bool, thread: GmailThread
) -> tuple[Any, list[str]]:
    """(patient or None, candidate patient public ids when several share the address)."""
    if thread.patient_id is not None:
        return thread.patient, []
    addresses = parsed.to_addresses + parsed.cc_addresses if outbound else [parsed.from_address]
    addresses = [a for a in addresses if a != mailbox.email_address.lower()]
    matches = patients_by_address(mailbox.organization_id, addresses)
    patients = {p.pk: p for group in matches.values() for p in group}
    if len(patients) == 1:
        return next(iter(patients.values())), []
    return None, [str(p.public_id) for p in patients.values()]


OWN_MESSAGE_ID_PREFIX = "<tandem."


def own_message_id(message: Any, domain: str) -> str:
    """The Message-ID header of an email Tandem sends: the same for every attempt to send it,
    so a retry can ask Gmail whether an earlier attempt already went out."""
    return f"{OWN_MESSAGE_ID_PREFIX}{message.public_id.hex}@{domain or 'tandem.invalid'}>"


def is_own_message_id(value: str) -> bool:
    return value.startswith(OWN_MESSAGE_ID_PREFIX)


@transaction.atomic
def message_store(
    mailbox: GmailMailbox, parsed: ParsedMessage, *, announce: bool = False
) -> GmailMessage | None:
    """Store one Gmail message (once). An email Tandem sent is recognised by its Message-ID and
    left to its delivery, which records it. Spam and drafts are not stored."""
    if set(parsed.label_ids) & SKIPPED_LABELS:
        return None
    existing = GmailMessage.objects.filter(mailbox=mailbox, gmail_id=parsed.gmail_id).first()
    if existing is not None:
        return existing
    if "SENT" in parsed.label_ids and is_own_message_id(parsed.rfc_message_id):
        # Sent by Tandem: the delivery that sent it records its Gmail ids in its own
        # transaction (which may not have committed yet), so the sync never stores it twice.
        return GmailMessage.objects.filter(
            mailbox=mailbox, rfc_message_id=parsed.rfc_message_id
        ).first()
    thread, _ = GmailThread.objects.get_or_create(mailbox=mailbox, gmail_id=parsed.thread_id[:64])
    try:
        with transaction.atomic():
            return _message_create(mailbox, parsed, thread, announce=announce)
    except IntegrityError:
        # Stored meanwhile by a delivery that had not committed when we looked.
        return GmailMessage.objects.filter(mailbox=mailbox, gmail_id=parsed.gmail_id).first()


def _message_create(
    mailbox: GmailMailbox, parsed: ParsedMessage, thread: GmailThread, *, announce: bool
) -> GmailMessage:

    outbound = "SENT" in parsed.label_ids or parsed.from_address == mailbox.email_address.lower()
    patient, candidates = _match_patient(mailbox, parsed, outbound, thread)
    unread = "UNREAD" in parsed.label_ids
    message = Message.objects.create(
        organization_id=mailbox.organization_id,
        location=patient.home_location if patient else None,
        patient=patient,
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        purpose="gmail_sync",
        subject=parsed.subject,
        body=parsed.body,
        to_address=", ".join(parsed.to_addresses)[:254],
        from_address=parsed.from_address[:254],
        status=MessageStatus.SENT if outbound else MessageStatus.RECEIVED,
        gateway=Gateway.GMAIL,
        provider_sid=parsed.gmail_id[:64],
        candidate_patient_ids=candidates,
        sent_at=parsed.internal_at,
        status_at=parsed.internal_at,
        read_at=None if outbound or unread else timezone.now(),
    )
    # Lists sort by created_at: an email belongs where Gmail says it happened, not when we
    # happened to sync it.
    Message.objects.filter(pk=message.pk).update(created_at=parsed.internal_at)
    message.created_at = parsed.internal_at
    row = GmailMessage.objects.create(
        message=message,
        mailbox=mailbox,
        thread=thread,
        gmail_id=parsed.gmail_id[:64],
        label_ids=sorted(set(parsed.label_ids)),
        is_unread=unread,
        is_starred="STARRED" in parsed.label_ids,
        rfc_message_id=parsed.rfc_message_id,
        references=parsed.references or parsed.in_reply_to,
        recipients=[a[:254] for a in (parsed.to_addresses + parsed.cc_addresses)][:50],
        internal_at=parsed.internal_at,
        history_id=parsed.history_id,
    )
    GmailAttachment.objects.bulk_create(
        [
            GmailAttachment(
                gmail_message=row,
                part_id=a.part_id[:50],
                gmail_attachment_id=a.attachment_id,
                filename=a.filename,
                mime_type=a.mime_type,
                size=a.size,
            )
            for a in parsed.attachments
        ]
    )
    if patient is not None and thread.patient_id is None:
        thread.patient = patient
    if thread.last_message_at is None or parsed.internal_at > thread.last_message_at:
        thread.last_message_at = parsed.internal_at
    thread.save(update_fields=["patient", "last_message_at", "updated_at"])
    if patient is not None:
        audit_record(
            actor=None,
            action="email.received" if not outbound else "email.synced",
            obj=message,
            organization=mailbox.organization,
            location=patient.home_location,
            details={"patient": str(patient.public_id), "mailbox": str(mailbox.public_id)},
        )
    if announce and not outbound:
        # Open inbox and timeline pages refresh (ids only, after commit, via the outbox).

        comms_publish(message=message, change="received")
        if patient is not None:
            _email_notify(mailbox, patient)
    return row


def _email_notify(mailbox: GmailMailbox, patient: Any) -> None:
    """New email from a patient: tell their location's staff, as a new text message does (the
    title names no one; the link opens the patient's communications, which checks access)."""

    url = reverse("comms:patient", kwargs={"public_id": patient.public_id})
    for recipient in message_recipients(mailbox.organization, patient.home_location_id):
        notification_send(
            actor=None, recipient=recipient, kind="comms.email", title="New email", url=url
        )


def sent_message_complete(row: GmailMessage, gmail_id: str, thread_id: str) -> GmailMessage:
    """An email we sent is known to Gmail now: keep its ids (called by delivery and by the sync,
    whichever sees it first; the second finds it done)."""

    if row.gmail_id:
        return row
    thread, _ = GmailThread.objects.get_or_create(mailbox=row.mailbox, gmail_id=thread_id[:64])
    now = timezone.now()
    patient_id = row.message.patient_id
    if patient_id is not None and thread.patient_id is None:
        thread.patient_id = patient_id
    thread.last_message_at = now
    thread.save(update_fields=["patient", "last_message_at", "updated_at"])
    row.gmail_id = gmail_id[:64]
    row.thread = thread
    if "SENT" not in row.label_ids:
        row.label_ids = sorted({*row.label_ids, "SENT"})
    row.internal_at = row.internal_at or now
    row.save(update_fields=["gmail_id", "thread", "label_ids", "internal_at", "updated_at"])
    Message.objects.filter(pk=row.message_id).update(
        status=MessageStatus.SENT, provider_sid=gmail_id[:64], sent_at=now, status_at=now
    )
    return row


def mailbox_watch(*, mailbox_id: int) -> str:
    """Ask Gmail to push this mailbox's changes to ``GMAIL_PUBSUB_TOPIC`` (renewed daily: a
    watch lasts at most 7 days)."""
    topic = str(gmail_setting("GMAIL_PUBSUB_TOPIC"))
    mailbox = GmailMailbox.objects.filter(
        pk=mailbox_id, status=GmailMailbox.Status.CONNECTED
    ).first()
    if not topic or mailbox is None:
        return "off"
    with gmail_session(mailbox) as service:
        response = gmail_call(service.users().watch(userId="me", body={"topicName": topic}))
    expires = datetime.fromtimestamp(int(response["expiration"]) / 1000, tz=UTC)
    GmailMailbox.objects.filter(pk=mailbox.pk).update(watch_expires_at=expires)
    return "watching"
