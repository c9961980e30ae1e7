"""The waitlist: patients waiting for a type at a location in a date range (and time of day).

When an appointment lets go of its time (cancelled, moved away, no-show) the time is offered to
the matching waiting patients in the order they joined, a few at once; each offer expires. The
first to accept gets it: accepting locks every offer of that slot, and at most one offer per
slot can be ACCEPTED (unique constraint), while booking itself goes through the normal checks
and exclusion constraints. When every offer of a slot has expired or been declined, the slot
goes to the next patients in line (``waitlist_offers_expire``, Celery beat).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, Conflict
from clinic.times import local_today
from comms.errors import MessageRefused
from comms.messaging.services import message_send
from scheduling.availability.services import fmt_day, fmt_time, zone_of
from scheduling.booking.services import appointment_book
from scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentType,
    Room,
    TechnicianProfile,
    WaitlistEntry,
    WaitlistOffer,
)

if TYPE_CHECKING:
    from clinic.models import Location, User
    from patients.models import Patient

logger = logging.getLogger(__name__)
OFFER_TTL = datetime.timedelta(hours=2)
OFFER_FANOUT = 3  # patients offered one slot at the same time
MIN_NOTICE = datetime.timedelta(minutes=30)  # a slot starting sooner is not worth offering
_GRID = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class FreedSlot:
    """The time an appointment held, as the waitlist sees it once the appointment lets go
    (``version`` is the appointment's version right after it let go)."""

    appointment: Appointment
    version: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    technician: User | None
    room: Room | None


class WaitlistRefused(Conflict):
    code = "waitlist_refused"


def _ceil(moment: datetime.datetime) -> datetime.datetime:
    epoch = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    steps = -(-(moment - epoch) // _GRID)
    return epoch + steps * _GRID


# ---------------------------------------------------------------- entries


@transaction.atomic
def waitlist_add(
    *,
    actor: User,
    patient: Patient,
    type: AppointmentType,
    location: Location,
    earliest_date: datetime.date,
    latest_date: datetime.date,
    earliest_time: datetime.time | None = None,
    latest_time: datetime.time | None = None,
) -> WaitlistEntry:
    org_id = actor.organization_id
    if patient.organization_id != org_id or location.organization_id != org_id:
        raise ApplicationError("That patient or location is not in your organization.")
    if type.organization_id != org_id or type.code == AppointmentKind.STAFF_BLOCK:
        raise ApplicationError("Choose an appointment type from the list.")
    if latest_date < earliest_date:
        raise ApplicationError("The last date is before the first.", extra={"field": "latest_date"})
    if latest_date < local_today(location):  # the location's date, not the UTC one
        raise ApplicationError("Those dates have passed.", extra={"field": "latest_date"})
    if earliest_time and latest_time and latest_time <= earliest_time:
        raise ApplicationError("The latest time must be after the earliest.")
    if WaitlistEntry.objects.filter(
        patient=patient, type=type, location=location, state=WaitlistEntry.State.WAITING
    ).exists():
        raise WaitlistRefused("This patient is already waiting for that type at that location.")
    entry = WaitlistEntry.objects.create(
        organization_id=org_id,
        location=location,
        patient=patient,
        type=type,
        earliest_date=earliest_date,
        latest_date=latest_date,
        earliest_time=earliest_time,
        latest_time=latest_time,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="waitlist.added",
        obj=entry,
        details={"patient": str(patient.public_id), "type": type.code},
    )
    return entry


@transaction.atomic
def waitlist_remove(*, actor: User, entry: WaitlistEntry) -> WaitlistEntry:
    entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.state != WaitlistEntry.State.WAITING:
        return entry
    entry.state = WaitlistEntry.State.REMOVED
    entry.save(update_fields=["state", "updated_at"])
    entry.offers.filter(state=WaitlistOffer.State.PENDING).update(
        state=WaitlistOffer.State.WITHDRAWN, responded_at=timezone.now()
    )
    audit_record(actor=actor, action="waitlist.removed", obj=entry)
    return entry


# ---------------------------------------------------------------- offering


def _matching_entries(
    *,
    location: Location,
    technician: User | None,
    has_room: bool,
    starts_at: datetime.datetime,
    window_ends_at: datetime.datetime,
    slot_key: str,
    limit: int,
) -> list[WaitlistEntry]:
    zone = zone_of(location)
    local = starts_at.astimezone(zone)
    qs = (
        WaitlistEntry.objects.filter(
            location=location,
            state=WaitlistEntry.State.WAITING,
            earliest_date__lte=local.date(),
            latest_date__gte=local.date(),
            type__is_active=True,
        )
        .filter(Q(earliest_time__isnull=True) | Q(earliest_time__lte=local.time()))
        .exclude(offers__slot_key=slot_key)
        .exclude(offers__state=WaitlistOffer.State.PENDING)
        .select_related("type", "patient")
        .order_by("created_at", "id")
    )
    skills: list[str] = []
    if technician is not None:
        profile = TechnicianProfile.objects.filter(user=technician).first()
        skills = list(profile.skills) if profile else []
    found = []
    for entry in qs[: limit * 10]:
        t = entry.type
        ends = starts_at + datetime.timedelta(minutes=t.duration_minutes)
        if ends > window_ends_at:
            continue
        if entry.latest_time and ends.astimezone(zone).time() > entry.latest_time:
            continue
        if t.needs_technician and (technician is None or (t.skill and t.skill not in skills)):
            continue
        if t.needs_room and not has_room:
            continue
        found.append(entry)
        if len(found) == limit:
            break
    return found


def _offer_slot(
    *,
    location: Location,
    technician: User | None,
    room_id: int | None,
    starts_at: datetime.datetime,
    window_ends_at: datetime.datetime,
    slot_key: str,
    freed_by: Appointment | None,
    now: datetime.datetime,
    first_rank: int = 1,
) -> list[WaitlistOffer]:
    entries = _matching_entries(
        location=location,
        technician=technician,
        has_room=room_id is not None,
        starts_at=starts_at,
        window_ends_at=window_ends_at,
        slot_key=slot_key,
        limit=OFFER_FANOUT,
    )
    offers = []
    for rank, entry in enumerate(entries, start=first_rank):
        offer = WaitlistOffer.objects.create(
            organization_id=location.organization_id,
            entry=entry,
            location=location,
            technician=technician,
            room_id=room_id,
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(minutes=entry.type.duration_minutes),
            window_ends_at=window_ends_at,
            slot_key=slot_key,
            freed_by=freed_by,
            rank=rank,
            expires_at=min(now + OFFER_TTL, starts_at - MIN_NOTICE / 2),
        )
        audit_record(
            actor=None,
            action="waitlist.offered",
            obj=offer,
            details={"entry": str(entry.public_id), "rank": rank},
        )
        _notify(offer, entry)
        offers.append(offer)
    return offers


def _notify(offer: WaitlistOffer, entry: WaitlistEntry) -> None:
    """Tell the patient by text; staff see the offer either way, so a refusal is only logged."""

    zone = zone_of(offer.location)
    body = (
        f"{offer.location.name}: a {entry.type.name.lower()} appointment opened up on "
        f"{fmt_day(offer.starts_at, zone)} at {fmt_time(offer.starts_at, zone)}. "
        "Call us to take it"
        + (f" ({offer.location.phone})" if offer.location.phone else "")
        + f"; the offer holds until {fmt_time(offer.expires_at, zone)}."
    )
    try:
        with transaction.atomic():
            message_send(
                actor=None,
                patient=entry.patient,
                channel="sms",
                purpose="waitlist_offer",
                dedupe_key=f"waitlist-offer:{offer.public_id}",
                body=body,
            )
    except MessageRefused as exc:
        logger.info("waitlist offer %s not texted: %s", offer.public_id, exc.code)


def waitlist_slot_freed(*, freed: FreedSlot, now: datetime.datetime | None = None) -> list:
    """Offer the time ``freed`` held to the waitlist (from the handler of the freeing event)."""
    now = now or timezone.now()
    appointment = freed.appointment
    starts_at = max(freed.starts_at, _ceil(now + MIN_NOTICE))
    if starts_at >= freed.ends_at:
        return []
    return _offer_slot(
        location=appointment.location,
        technician=freed.technician,
        room_id=freed.room.pk if freed.room else None,
        starts_at=starts_at,
        window_ends_at=freed.ends_at,
        slot_key=f"{appointment.public_id}:{freed.version}",
        freed_by=appointment,
        now=now,
    )


# ---------------------------------------------------------------- answering


def _lock_slot(offer: WaitlistOffer) -> list[WaitlistOffer]:
    return list(
        WaitlistOffer.objects.select_for_update()
        .filter(organization_id=offer.organization_id, slot_key=offer.slot_key)
        .order_by("pk")
    )


@transaction.atomic
def waitlist_offer_accept(*, actor: User | None, offer: WaitlistOffer) -> Appointment:
    """The patient takes the slot. The first acceptance wins; later ones are told it is gone."""

    now = timezone.now()
    slot = _lock_slot(offer)
    offer = next(o for o in slot if o.pk == offer.pk)
    if any(o.state == WaitlistOffer.State.ACCEPTED for o in slot):
        raise WaitlistRefused("Someone else took this slot first.")
    if offer.state != WaitlistOffer.State.PENDING:
        raise WaitlistRefused(f"This offer is no longer open ({offer.get_state_display()}).")
    if offer.expires_at <= now:
        raise WaitlistRefused("This offer has expired.")
    entry = (
        WaitlistEntry.objects.select_for_update()
        .select_related("patient", "type")
        .get(pk=offer.entry_id)
    )
    if entry.state != WaitlistEntry.State.WAITING:
        raise WaitlistRefused("This patient is no longer on the waitlist.")
    appointment = appointment_book(
        actor=actor,
        patient=entry.patient,
        type=entry.type,
        location=offer.location,
        starts_at=offer.starts_at,
        ends_at=offer.ends_at,
        technician=offer.technician,
        room=offer.room,
    )
    offer.state = WaitlistOffer.State.ACCEPTED
    offer.responded_at = now
    offer.appointment = appointment
    try:
        with transaction.atomic():
            offer.save(update_fields=["state", "responded_at", "appointment", "updated_at"])
    except IntegrityError as exc:  # the constraint behind the lock: one winner per slot
        raise WaitlistRefused("Someone else took this slot first.") from exc
    WaitlistOffer.objects.filter(
        Q(slot_key=offer.slot_key) | Q(entry=entry), state=WaitlistOffer.State.PENDING
    ).exclude(pk=offer.pk).update(state=WaitlistOffer.State.WITHDRAWN, responded_at=now)
    entry.state = WaitlistEntry.State.BOOKED
    entry.booked_appointment = appointment
    entry.save(update_fields=["state", "booked_appointment", "updated_at"])
    audit_record(
        actor=actor,
        action="waitlist.offer_accepted",
        obj=offer,
        details={"appointment": str(appointment.public_id)},
    )
    return appointment


@transaction.atomic
def waitlist_offer_decline(*, actor: User | None, offer: WaitlistOffer) -> WaitlistOffer:
    slot = _lock_slot(offer)
    offer = next(o for o in slot if o.pk == offer.pk)
    if offer.state != WaitlistOffer.State.PENDING:
        return offer
    offer.state = WaitlistOffer.State.DECLINED
    offer.responded_at = timezone.now()
    offer.save(update_fields=["state", "responded_at", "updated_at"])
    audit_record(actor=actor, action="waitlist.offer_declined", obj=offer)
    _offer_next(slot, now=offer.responded_at)
    return offer


def _offer_next(slot: list[WaitlistOffer], *, now: datetime.datetime) -> list[WaitlistOffer]:
    """When nobody holds the slot any more, offer it to the next patients in line."""
    if any(o.state in (WaitlistOffer.State.PENDING, WaitlistOffer.State.ACCEPTED) for o in slot):
        return []
    last = max(slot, key=lambda o: o.rank)
    if last.starts_at - MIN_NOTICE < now:
        return []
    return _offer_slot(
        location=last.location,
        technician=last.technician,
        room_id=last.room_id,
        starts_at=last.starts_at,
        window_ends_at=last.window_ends_at,
        slot_key=last.slot_key,
        freed_by=last.freed_by,
        now=now,
        first_rank=last.rank + 1,
    )


def waitlist_offers_expire(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Expire overdue offers and pass their slots on. Safe to run twice at once."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        due = list(
            WaitlistOffer.objects.select_for_update(skip_locked=True)
            .filter(state=WaitlistOffer.State.PENDING, expires_at__lte=now)
            .order_by("expires_at")[:limit]
        )
        for offer in due:
            offer.state = WaitlistOffer.State.EXPIRED
            offer.save(update_fields=["state", "updated_at"])
            expired += 1
        slot_keys = {(o.organization_id, o.slot_key) for o in due}
    for org_id, key in slot_keys:
        with transaction.atomic():
            slot = list(
                WaitlistOffer.objects.select_for_update(of=("self",))
                .filter(organization_id=org_id, slot_key=key)
                .select_related("location", "technician", "freed_by")
                .order_by("pk")
            )
            _offer_next(slot, now=now)
    return expired
