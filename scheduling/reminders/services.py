"""Appointment reminders: rows in PostgreSQL with their send time, sent through comms.

Booking plans one row per offset of the type (default 24 h and 2 h before) on the patient's
channel; moving re-times the pending rows (withdrawing those whose time has passed); cancelling
withdraws them. ``reminders_send_due`` (Celery beat, every minute) claims due rows one at a
time with ``FOR UPDATE SKIP LOCKED`` and, in the same transaction, calls
``comms.messaging.services.message_send`` with a dedupe key made of the row's public id and
marks the row SENT. So each (appointment, offset, channel) is sent at most once:

- two runs at once never hold the same row (SKIP LOCKED) and a row once SENT is not due again;
- a worker that dies mid-send rolls back the message row and the mark together, and comms
  delivers only after commit, so nothing went out and the next run sends it once;
- should a message with the key exist anyway, comms returns it and sends nothing new.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinic.errors import ApplicationError
from comms.errors import MessageRefused
from comms.messaging.services import message_send
from patients.models import ContactChannel
from scheduling.availability.services import fmt_day, fmt_time, zone_of
from scheduling.models import ACTIVE_STATES, Appointment, Reminder

if TYPE_CHECKING:
    from patients.models import Patient

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
CLAIM_BATCH = 50  # reminders per transaction (and so per delivery task)
RETRY_AFTER = datetime.timedelta(minutes=1)
PURPOSE = "appointment_reminder"


def reminder_channel(patient: Patient) -> str:
    """Email for those who prefer it and have an address; text messages otherwise."""
    if patient.preferred_contact == ContactChannel.EMAIL and patient.email:
        return Reminder.Channel.EMAIL
    if not patient.phone_mobile and patient.email:
        return Reminder.Channel.EMAIL
    return Reminder.Channel.SMS


def reminders_plan(appointment: Appointment, *, now: datetime.datetime | None = None) -> int:
    """Create the reminder rows still ahead of us (idempotent: existing rows are kept)."""
    patient = appointment.patient
    if patient is None or appointment.state not in ACTIVE_STATES:
        return 0
    now = now or timezone.now()
    channel = reminder_channel(patient)
    rows = [
        Reminder(
            organization_id=appointment.organization_id,
            appointment=appointment,
            offset_minutes=offset,
            channel=channel,
            send_at=appointment.starts_at - datetime.timedelta(minutes=offset),
        )
        for offset in sorted(set(appointment.type.reminder_offsets))
        if appointment.starts_at - datetime.timedelta(minutes=offset) > now
    ]
    return len(Reminder.objects.bulk_create(rows, ignore_conflicts=True))


def reminders_reschedule(appointment: Appointment) -> None:
    """After a move: pending rows follow the new start; those now in the past are withdrawn;
    offsets that are ahead again get their row."""
    now = timezone.now()
    for reminder in Reminder.objects.filter(
        appointment=appointment, state=Reminder.State.PENDING
    ).select_for_update():
        send_at = appointment.starts_at - datetime.timedelta(minutes=reminder.offset_minutes)
        if send_at <= now:
            reminder.state = Reminder.State.WITHDRAWN
            reminder.outcome = "moved_too_close"
        reminder.send_at = send_at
        reminder.save(update_fields=["send_at", "state", "outcome", "updated_at"])
    reminders_plan(appointment, now=now)


def reminders_withdraw(appointment: Appointment) -> int:
    """The appointment is no longer on: pending reminders will not go out."""
    return Reminder.objects.filter(appointment=appointment, state=Reminder.State.PENDING).update(
        state=Reminder.State.WITHDRAWN,
        outcome=f"appointment_{appointment.state}"[:40],
        updated_at=timezone.now(),
    )


def _context(appointment: Appointment) -> dict[str, Any]:
    zone = zone_of(appointment.location)
    return {
        "appointment_date": fmt_day(appointment.starts_at, zone),
        "appointment_time": fmt_time(appointment.starts_at, zone),
        "appointment_type": appointment.type.name,
        "location_name": appointment.location.name,
        "location_phone": appointment.location.phone,
    }


def _claim_batch(now: datetime.datetime, size: int) -> list[Reminder]:
    return list(
        Reminder.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=Reminder.State.PENDING, send_at__lte=now)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lte=now - RETRY_AFTER))
        .select_related(
            "appointment__patient__home_location",
            "appointment__patient__organization",
            "appointment__location",
            "appointment__type",
        )
        .order_by("send_at", "id")[:size]
    )


def _send(reminder: Reminder, now: datetime.datetime) -> str:
    """Send one claimed reminder inside the caller's transaction; returns the outcome."""

    appointment = reminder.appointment
    reminder.attempts += 1
    reminder.claimed_at = now
    fields = ["state", "attempts", "claimed_at", "outcome", "sent_at", "message_id", "updated_at"]
    if appointment.state not in ACTIVE_STATES or appointment.starts_at <= now:
        reminder.state, reminder.outcome = Reminder.State.WITHDRAWN, "not_upcoming"
    elif now - reminder.send_at > datetime.timedelta(minutes=reminder.offset_minutes) / 2:
        # Far too late (the scheduler was down): a "tomorrow" reminder an hour before is wrong.
        reminder.state, reminder.outcome = Reminder.State.WITHDRAWN, "too_late"
    else:
        assert appointment.patient is not None  # reminders are only planned for patients
        try:
            with transaction.atomic():
                message = message_send(
                    actor=None,
                    patient=appointment.patient,
                    channel=reminder.channel,
                    purpose=PURPOSE,
                    dedupe_key=f"reminder:{reminder.public_id}",
                    template=PURPOSE,
                    context=_context(appointment),
                )
        except MessageRefused as exc:
            reminder.state, reminder.outcome = Reminder.State.SKIPPED, exc.code[:40]
        except ApplicationError as exc:
            reminder.state, reminder.outcome = Reminder.State.FAILED, exc.code[:40]
        except Exception as exc:  # transient (database hiccup, broker): try again later
            logger.warning("reminder %s: %s", reminder.public_id, type(exc).__name__)
            reminder.outcome = f"error:{type(exc).__name__}"[:40]
            if reminder.attempts >= MAX_ATTEMPTS:
                reminder.state = Reminder.State.FAILED
        else:
            reminder.state, reminder.outcome = Reminder.State.SENT, "sent"
            reminder.sent_at = now
            reminder.message_id = message.public_id
    reminder.save(update_fields=fields)
    return reminder.outcome


def reminders_send_due(
    *, limit: int = 20_000, seconds: float = 50.0, now: datetime.datetime | None = None
) -> dict[str, int]:
    """Send what is due, CLAIM_BATCH rows per transaction, until nothing is due, ``limit`` rows
    or ``seconds`` have passed (the next run, a minute later, carries on). Each reminder is
    sent in its own savepoint and marked in the same transaction, so a crash sends nothing
    twice; the messages of one batch reach delivery together (comms.messaging.delivery batches per
    transaction). Safe to run twice at once (SKIP LOCKED)."""
    outcomes: dict[str, int] = {}
    started = time.monotonic()
    handled = 0
    while handled < limit and time.monotonic() - started < seconds:
        moment = now or timezone.now()
        with transaction.atomic():
            batch = _claim_batch(moment, min(CLAIM_BATCH, limit - handled))
            for reminder in batch:
                outcome = _send(reminder, moment)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if not batch:
            break
        handled += len(batch)
    return outcomes
