"""Writes to the schedule: booking, moving and resizing, and the appointment's state actions.

Every function is keyword-only with the acting user first and runs in one transaction that also
holds its audit row (ids and codes only) and its domain event (``appointment.booked``,
``appointment.moved``, ``appointment.cancelled``, ``appointment.state_changed``; payload ids
only). Double bookings are checked first, with a message that says who is busy when and offers
the nearest free times; PostgreSQL's exclusion constraints catch the race, and the error is
translated into the same message. Moves carry the version the user saw: a stale one is refused
with the current values, never silently overwritten.

Recurring series, availability, the waitlist and reminders live in ``services_*.py`` beside this.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, Conflict, PermissionDenied
from clinic.events.services import event_record
from clinic.times import date_text, local, local_today
from patients.record.services import patient_assignment_add
from scheduling.availability.services import (
    Slot,
    fmt_day,
    fmt_range,
    fmt_time,
    slots_nearest,
    technician_availability_problem,
    technician_suggest,
    zone_of,
)
from scheduling.models import (
    ACTIVE_STATES,
    Appointment,
    AppointmentKind,
    AppointmentState,
    AppointmentType,
    RecurringSeries,
    Room,
    Skill,
    TechnicianProfile,
)
from scheduling.permissions import can_book_at

if TYPE_CHECKING:
    from clinic.models import Location, Organization, User
    from patients.models import Patient

S = AppointmentState
MAX_DURATION = datetime.timedelta(hours=24)
# A booking may start a little in the past (the visit is happening now); no further.
PAST_GRACE = datetime.timedelta(minutes=15)
MAX_NOTES = 2000
MAX_REASON = 200
# Passed for an argument that stays as it is (None is a value: no technician, no room).
UNCHANGED: Any = object()


class BookingInvalid(ApplicationError):
    code = "booking_invalid"


class BookingConflict(Conflict):
    """The time is taken (or outside the technician's hours): says why and what is free."""

    code = "booking_conflict"


class StaleVersion(Conflict):
    code = "stale_version"


class AppointmentStateRefused(Conflict):
    code = "state_refused"


class AppointmentNotToday(Conflict):
    """Check-in, start or completion of a visit whose day (at its location) is not today."""

    code = "not_today"


# ---------------------------------------------------------------- checks


def booking_validate(
    *,
    actor: User | None,
    location: Location,
    appointment_type: AppointmentType,
    patient: Patient | None,
    technician: User | None,
    room: Room | None,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    allow_past: bool = False,
) -> None:
    """Refuse (``BookingInvalid``) what no booking may be, whatever the calendar holds:
    another organization's rows, a closed location, a missing technician or room, a bad or
    past time. Booking, moving and series edits all check with it."""
    org_id = location.organization_id
    if actor is not None and actor.organization_id != org_id:
        raise BookingInvalid("That location is not in your organization.")
    if not location.is_active:
        raise BookingInvalid("That location is closed for bookings.")
    if appointment_type.organization_id != org_id or not appointment_type.is_active:
        raise BookingInvalid("Choose an appointment type from the list.", extra={"field": "type"})
    is_block = appointment_type.code == AppointmentKind.STAFF_BLOCK
    if is_block and patient is not None:
        raise BookingInvalid("A staff block is time without a patient.")
    if not is_block and patient is None:
        raise BookingInvalid("Choose the patient.", extra={"field": "patient"})
    if patient is not None and patient.organization_id != org_id:
        raise BookingInvalid("That patient is not in this organization.")
    if technician is not None and (
        technician.organization_id != org_id or not technician.is_active
    ):
        raise BookingInvalid("Choose a technician of this organization.")
    if appointment_type.needs_technician and technician is None:
        raise BookingInvalid(
            f"A {appointment_type.name.lower()} needs a technician: choose one or take the "
            "suggestion.",
            extra={"field": "technician"},
        )
    if room is not None and (room.location_id != location.pk or not room.is_active):
        raise BookingInvalid("Choose a room at this location.", extra={"field": "room"})
    if appointment_type.needs_room and room is None:
        raise BookingInvalid(
            f"A {appointment_type.name.lower()} needs a room.", extra={"field": "room"}
        )
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValueError("appointment times must be aware datetimes")
    if ends_at <= starts_at:
        raise BookingInvalid("The appointment must end after it starts.", extra={"field": "end"})
    if ends_at - starts_at > MAX_DURATION:
        raise BookingInvalid("An appointment lasts at most 24 hours.", extra={"field": "end"})
    if not allow_past and starts_at < timezone.now() - PAST_GRACE:
        raise BookingInvalid("That time has already passed.", extra={"field": "start"})


def _conflicting(
    *,
    organization_id: int,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    technician_id: int | None,
    room_id: int | None,
    patient_id: int | None,
    exclude_pk: int | None = None,
) -> list[Appointment]:
    who = Q()
    if technician_id:
        who |= Q(technician_id=technician_id)
    if room_id:
        who |= Q(room_id=room_id)
    if patient_id:
        who |= Q(patient_id=patient_id)
    if not who:
        return []
    qs = (
        Appointment.objects.active()
        .overlapping(starts_at, ends_at)
        .filter(who, organization_id=organization_id)
        .select_related("technician", "room", "type", "location")
        .order_by("starts_at")
    )
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return list(qs[:10])


def _describe(
    other: Appointment,
    *,
    technician_id: int | None,
    room_id: int | None,
    patient_id: int | None,
) -> list[tuple[str, str]]:
    """(kind, sentence) for each way ``other`` collides. Names staff and rooms, never the other
    appointment's patient."""
    zone = zone_of(other.location)
    when = fmt_range(other.starts_at, other.ends_at, zone)
    what = other.type.name
    out = []
    if technician_id and other.technician_id == technician_id and other.technician:
        out.append(
            ("technician", f"{other.technician.full_name} is already booked {when} ({what}).")
        )
    if room_id and other.room_id == room_id and other.room:
        out.append(("room", f"{other.room.name} is already booked {when} ({what})."))
    if patient_id and other.patient_id == patient_id:
        out.append(("patient", f"This patient already has an appointment {when} ({what})."))
    return out


@dataclass
class Problems:
    """Everything wrong with one proposed time: overlaps and availability."""

    sentences: list[str]
    conflicts: list[dict[str, Any]]

    def __bool__(self) -> bool:
        return bool(self.sentences)


def booking_problems(
    *,
    organization_id: int,
    appointment_type: AppointmentType,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    technician: User | None,
    room: Room | None,
    patient: Patient | None,
    exclude_pk: int | None = None,
    check_conflicts: bool = True,
    check_availability: bool = True,
    profile: TechnicianProfile | Any | None = ...,
) -> Problems:
    ids = {
        "technician_id": technician.pk if technician else None,
        "room_id": room.pk if room else None,
        "patient_id": patient.pk if patient else None,
    }
    sentences: list[str] = []
    conflicts: list[dict[str, Any]] = []
    others = (
        _conflicting(
            organization_id=organization_id,
            starts_at=starts_at,
            ends_at=ends_at,
            exclude_pk=exclude_pk,
            **ids,
        )
        if check_conflicts
        else []
    )
    for other in others:
        for kind, sentence in _describe(other, **ids):
            sentences.append(sentence)
            conflicts.append(
                {
                    "kind": kind,
                    "appointment": str(other.public_id),
                    "starts_at": other.starts_at.isoformat(),
                    "ends_at": other.ends_at.isoformat(),
                }
            )
    if check_availability and technician is not None and not sentences:
        problem = technician_availability_problem(
            technician=technician,
            starts_at=starts_at,
            ends_at=ends_at,
            counts_as_visit=appointment_type.code != AppointmentKind.STAFF_BLOCK,
            exclude_appointment_id=exclude_pk,
            profile=profile,
        )
        if problem:
            sentences.append(problem)
            conflicts.append({"kind": "availability"})
    return Problems(sentences, conflicts)


def _suggestions(
    *,
    appointment_type: AppointmentType,
    location: Location,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    technician: User | None,
) -> tuple[list[Slot], User | None]:
    """Nearest free times (same technician when one was chosen) and, when the technician was
    the problem, someone else who is free at the asked time."""
    if appointment_type.code == AppointmentKind.STAFF_BLOCK:
        return [], None
    slots = slots_nearest(
        appointment_type=appointment_type,
        location=location,
        around=starts_at,
        technician=technician if appointment_type.needs_technician else None,
    )
    other = None
    if technician is not None and appointment_type.needs_technician:
        suggestion = technician_suggest(
            appointment_type=appointment_type,
            location=location,
            starts_at=starts_at,
            ends_at=ends_at,
        )
        if suggestion and suggestion.technician.pk != technician.pk:
            other = suggestion.technician
    return slots, other


def _conflict_error(
    problems: Problems,
    *,
    appointment_type: AppointmentType,
    location: Location,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    technician: User | None,
) -> BookingConflict:
    slots, other = _suggestions(
        appointment_type=appointment_type,
        location=location,
        starts_at=starts_at,
        ends_at=ends_at,
        technician=technician,
    )
    zone = zone_of(location)
    text = " ".join(problems.sentences)
    if slots:
        times = "; ".join(
            f"{fmt_day(s.starts_at, zone)} {fmt_time(s.starts_at, zone)}"
            + (f" with {s.technician.full_name}" if s.technician else "")
            for s in slots
        )
        text += f" Nearest free times: {times}."
    if other is not None:
        text += f" {other.full_name} is free at the time you asked."
    return BookingConflict(
        text,
        extra={
            "conflicts": problems.conflicts,
            "suggestions": [s.as_dict() for s in slots],
            "free_technician": str(other.public_id) if other else None,
        },
    )


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return str(getattr(diag, "constraint_name", "") or "")


def _save_or_explain(
    appointment: Appointment,
    *,
    create: bool,
    update_fields: list[str] | None = None,
    patient: Patient | None,
) -> None:
    """Write the row in a savepoint. When another transaction won the race the exclusion
    constraint refuses it; by then the winner has committed, so the same check that runs
    before writing now finds it and gives the same message."""
    try:
        with transaction.atomic():
            if create:
                appointment.save(force_insert=True)
            else:
                appointment.save(update_fields=update_fields)
    except IntegrityError as exc:
        name = _constraint_name(exc)
        if not name.startswith("appointment_no_"):
            raise
        problems = booking_problems(
            organization_id=appointment.organization_id,
            appointment_type=appointment.type,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            technician=appointment.technician,
            room=appointment.room,
            patient=patient,
            exclude_pk=None if create else appointment.pk,
            check_availability=False,
        )
        if not problems:
            messages = {
                "appointment_no_technician_overlap": "That technician is already booked then.",
                "appointment_no_room_overlap": "That room is already booked then.",
                "appointment_no_patient_overlap": "This patient already has an appointment then.",
            }
            problems = Problems([messages.get(name, "That time was just taken.")], [])
        raise _conflict_error(
            problems,
            appointment_type=appointment.type,
            location=appointment.location,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            technician=appointment.technician,
        ) from exc


def _lock_technician(technician: User | None) -> TechnicianProfile | None:
    """Serialize bookings of one technician, so the daily capacity holds under concurrency.
    (Overlaps do not need this: the exclusion constraint refuses them regardless.)"""
    if technician is None:
        return None
    return (
        TechnicianProfile.objects.select_for_update(of=("self",))
        .select_related("home_location")
        .filter(user=technician)
        .first()
    )


def _event(name: str, appointment: Appointment, **extra: Any) -> None:
    event_record(
        name=name,
        organization=appointment.organization,
        aggregate=appointment,
        payload={
            "appointment": str(appointment.public_id),
            "location": str(appointment.location.public_id),
            "version": appointment.version,
            **extra,
        },
    )


# ---------------------------------------------------------------- appointment types

# Each kind's starting set-up: minutes, colour, skill, needs technician, needs room, billing
# codes. An organization changes them in the admin; reminder offsets default to 24 h and 2 h.
DEFAULT_TYPES: dict[str, tuple[int, str, str, bool, bool, list[str]]] = {
    AppointmentKind.REFERRAL: (45, "#2563eb", Skill.CONSULTATION, True, False, ["99203"]),
    AppointmentKind.DIAGNOSTIC_STUDY: (480, "#7c3aed", Skill.SLEEP_STUDY, True, True, ["95810"]),
    AppointmentKind.EQUIPMENT_SETUP: (60, "#059669", Skill.EQUIPMENT_SETUP, True, False, ["E0601"]),
    AppointmentKind.FOLLOW_UP: (30, "#0891b2", Skill.COMPLIANCE, True, False, ["99213"]),
    AppointmentKind.SUPPLY_PICKUP: (15, "#ca8a04", Skill.SUPPLIES, False, False, []),
    AppointmentKind.HOME_TESTING: (30, "#ea580c", Skill.HOME_TESTING, True, False, ["95806"]),
    AppointmentKind.TELEHEALTH: (30, "#db2777", Skill.TELEHEALTH, True, False, ["99213"]),
    AppointmentKind.STAFF_BLOCK: (60, "#6b7280", "", True, False, []),
}


def default_type_fields(code: str) -> dict[str, Any]:
    minutes, color, skill, tech, room, codes = DEFAULT_TYPES[code]
    return {
        "name": str(AppointmentKind(code).label),
        "duration_minutes": minutes,
        "color": color,
        "skill": skill,
        "needs_technician": tech,
        "needs_room": room,
        "billing_codes": list(codes),
    }


@transaction.atomic
def appointment_types_ensure(*, actor: User | None, organization: Organization) -> int:
    """Give ``organization`` every kind of DOMAIN.md with its defaults (existing ones are
    kept as configured). Returns how many were added."""
    have = set(
        AppointmentType.objects.filter(organization=organization).values_list("code", flat=True)
    )
    added = AppointmentType.objects.bulk_create(
        AppointmentType(organization=organization, code=code, **default_type_fields(code))
        for code in DEFAULT_TYPES
        if code not in have
    )
    if added:
        audit_record(
            actor=actor,
            action="appointment_types.added",
            organization=organization,
            details={"codes": [t.code for t in added]},
        )
    return len(added)


# ---------------------------------------------------------------- booking


def booking_location(*, patient: Patient | None, location: Location | None) -> Location:
    """The location asked for, else the patient's home location."""
    if location is not None:
        return location
    if patient is None:
        raise BookingInvalid("Choose the location.", extra={"field": "location"})
    return patient.home_location


@transaction.atomic
def appointment_book(
    *,
    actor: User | None,
    patient: Patient | None,
    type: AppointmentType,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime | None = None,
    location: Location | None = None,
    technician: User | None = None,
    room: Room | None = None,
    notes: str = "",
    series: RecurringSeries | None = None,
    recurrence_id: datetime.datetime | None = None,
) -> Appointment:
    """Book one appointment. ``location`` defaults to the patient's home location and
    ``ends_at`` to the type's duration. Raises ``BookingConflict`` with the reason and the
    nearest free times when the time is taken or outside the technician's hours."""
    location = booking_location(patient=patient, location=location)
    ends_at = ends_at or starts_at + datetime.timedelta(minutes=type.duration_minutes)
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES:
        raise BookingInvalid("Keep notes under 2,000 characters.", extra={"field": "notes"})
    booking_validate(
        actor=actor,
        location=location,
        appointment_type=type,
        patient=patient,
        technician=technician,
        room=room,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    appointment = Appointment(
        organization=_organization_of(location, actor),
        location=location,
        patient=patient,
        type=type,
        technician=technician,
        room=room,
        starts_at=starts_at,
        ends_at=ends_at,
        notes=notes,
        series=series,
        recurrence_id=recurrence_id,
        created_by=actor if actor is not None and actor.pk else None,
    )
    _check_and_save(appointment, patient=patient, create=True)
    _after_booking(actor=actor, appointment=appointment)
    return appointment


def _organization_of(location: Location, actor: User | None) -> Organization:
    """The location's organization without a query when one is at hand (the audit row and
    the event both read it): the location's own, else the acting user's (the same one)."""
    if type(location).organization.is_cached(location):
        return location.organization
    if actor is not None and actor.organization_id == location.organization_id:
        return actor.organization  # type: ignore[return-value]
    return location.organization


def _check_and_save(
    appointment: Appointment,
    *,
    patient: Patient | None,
    create: bool,
    update_fields: list[str] | None = None,
    problems: Problems | None = None,
) -> None:
    kwargs: dict[str, Any] = {
        "appointment_type": appointment.type,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
        "technician": appointment.technician,
    }
    if problems is None:
        problems = booking_problems(
            organization_id=appointment.organization_id,
            room=appointment.room,
            patient=patient,
            exclude_pk=None if create else appointment.pk,
            check_availability=False,
            **kwargs,
        )
    if not problems:
        profile = _lock_technician(appointment.technician)
        problems = booking_problems(
            profile=profile,
            organization_id=appointment.organization_id,
            room=None,
            patient=None,
            exclude_pk=None if create else appointment.pk,
            check_conflicts=False,
            **kwargs,
        )
    if problems:
        raise _conflict_error(problems, location=appointment.location, **kwargs)
    _save_or_explain(appointment, create=create, update_fields=update_fields, patient=patient)


def _after_booking(*, actor: User | None, appointment: Appointment) -> None:
    """Audit and record ``appointment.booked``; its handlers plan the reminders and move the
    patient's status. The one call kept in this transaction is ``patient_assignment_add``: the
    technician must be able to open the patient as soon as the visit is on their day."""
    audit_record(
        actor=actor,
        action="appointment.booked",
        obj=appointment,
        details={
            "type": appointment.type.code,
            "version": appointment.version,
            "technician": str(appointment.technician.public_id) if appointment.technician else None,
            "series": str(appointment.series.public_id) if appointment.series else None,
        },
    )
    _event("appointment.booked", appointment, actor=_actor_id(actor))
    patient = appointment.patient
    if patient is not None and appointment.technician is not None:
        patient_assignment_add(
            actor=actor, patient=patient, technician=appointment.technician, source="scheduling"
        )


# ---------------------------------------------------------------- moving


def _current(appointment: Appointment) -> dict[str, Any]:
    return {
        "version": appointment.version,
        "state": appointment.state,
        "starts_at": appointment.starts_at.isoformat(),
        "ends_at": appointment.ends_at.isoformat(),
        "technician": str(appointment.technician.public_id) if appointment.technician else None,
        "room": str(appointment.room.public_id) if appointment.room else None,
    }


def _locked(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("location", "type", "technician", "room", "patient", "organization")
        .get(pk=appointment.pk)
    )


def _version_check(appointment: Appointment, expected_version: int | None) -> None:
    if expected_version is None or appointment.version == expected_version:
        return
    zone = zone_of(appointment.location)
    who = f" with {appointment.technician.full_name}" if appointment.technician else ""
    raise StaleVersion(
        "Someone else changed this appointment while you were looking at it. It is now "
        f"{fmt_range(appointment.starts_at, appointment.ends_at, zone)}{who}, "
        f"{appointment.get_state_display().lower()} (version {appointment.version}). "
        "Your change was not saved: check it and try again.",
        extra={"current": _current(appointment)},
    )


@transaction.atomic
def appointment_move(
    *,
    actor: User | None,
    appointment: Appointment,
    starts_at: datetime.datetime,
    expected_version: int | None,
    ends_at: datetime.datetime | None = None,
    technician: User | None = UNCHANGED,
    room: Room | None = UNCHANGED,
) -> Appointment:
    """Move (and/or resize, and/or reassign) a booked appointment. ``expected_version`` is the
    version the user saw; a different current version is refused with the current values.
    ``ends_at`` defaults to keeping the duration; technician and room stay unless given."""
    appt = _locked(appointment)
    _version_check(appt, expected_version)
    if appt.state != S.BOOKED:
        raise AppointmentStateRefused(
            f"Only a booked appointment can be moved; this one is "
            f"{appt.get_state_display().lower()}.",
            extra={"current": _current(appt)},
        )
    ends_at = ends_at or starts_at + (appt.ends_at - appt.starts_at)
    new_tech = appt.technician if technician is UNCHANGED else technician
    new_room = appt.room if room is UNCHANGED else room
    booking_validate(
        actor=actor,
        location=appt.location,
        appointment_type=appt.type,
        patient=appt.patient,
        technician=new_tech,
        room=new_room,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    old = (appt.starts_at, appt.ends_at, appt.technician_id, appt.room_id)
    new = (starts_at, ends_at, new_tech.pk if new_tech else None, new_room.pk if new_room else None)
    if old == new:
        return appt
    freed = freed_slot_payload(appt)
    changed = [
        name
        for name, a, b in zip(("starts_at", "ends_at", "technician", "room"), old, new, strict=True)
        if a != b
    ]
    appt.starts_at, appt.ends_at, appt.technician, appt.room = (
        starts_at,
        ends_at,
        new_tech,
        new_room,
    )
    appt.version += 1
    appt.confirmed_at = None if "starts_at" in changed else appt.confirmed_at
    _check_and_save(
        appt,
        patient=appt.patient,
        create=False,
        update_fields=[
            "starts_at",
            "ends_at",
            "technician",
            "room",
            "version",
            "confirmed_at",
            "updated_at",
        ],
    )
    audit_record(
        actor=actor,
        action="appointment.moved",
        obj=appt,
        details={"version": appt.version, "fields": changed},
    )
    _event("appointment.moved", appt, **freed)
    if appt.patient is not None and new_tech is not None and "technician" in changed:
        patient_assignment_add(
            actor=actor, patient=appt.patient, technician=new_tech, source="scheduling"
        )
    return appt


def appointment_resize(
    *,
    actor: User | None,
    appointment: Appointment,
    ends_at: datetime.datetime,
    expected_version: int | None,
    starts_at: datetime.datetime | None = None,
) -> Appointment:
    """Change how long an appointment lasts (the end, or both ends)."""
    return appointment_move(
        actor=actor,
        appointment=appointment,
        starts_at=starts_at or appointment.starts_at,
        ends_at=ends_at,
        expected_version=expected_version,
    )


@transaction.atomic
def appointment_notes_set(
    *, actor: User, appointment: Appointment, notes: str, expected_version: int | None
) -> Appointment:
    appt = _locked(appointment)
    _version_check(appt, expected_version)
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES:
        raise BookingInvalid("Keep notes under 2,000 characters.", extra={"field": "notes"})
    if notes == appt.notes:
        return appt
    appt.notes = notes
    appt.version += 1
    appt.save(update_fields=["notes", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="appointment.notes_changed",
        obj=appt,
        details={"version": appt.version},
    )
    _event("appointment.moved", appt)
    return appt


# ---------------------------------------------------------------- state actions


def _moment(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def freed_slot_payload(appointment: Appointment) -> dict[str, Any]:
    """The time ``appointment`` holds, as event payload ids (read by the waitlist's handler
    once the appointment has let go of it: moved, cancelled or a no-show)."""
    return {
        "freed_starts_at": _moment(appointment.starts_at),
        "freed_ends_at": _moment(appointment.ends_at),
        "freed_technician": str(appointment.technician.public_id)
        if appointment.technician
        else None,
        "freed_room": str(appointment.room.public_id) if appointment.room else None,
    }


def _actor_id(actor: User | None) -> str | None:
    return str(actor.public_id) if actor is not None and actor.pk else None


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str
    stamp: str | None
    audit: str
    verb: str


TRANSITIONS: dict[str, Transition] = {
    "check_in": Transition((S.BOOKED,), S.CHECKED_IN, "checked_in_at", "checked_in", "checked in"),
    "start": Transition(
        (S.BOOKED, S.CHECKED_IN), S.IN_PROGRESS, "started_at", "started", "started"
    ),
    "complete": Transition(
        (S.CHECKED_IN, S.IN_PROGRESS), S.FULFILLED, "completed_at", "completed", "completed"
    ),
    "no_show": Transition((S.BOOKED,), S.NOSHOW, None, "no_show", "marked as a no-show"),
    "cancel": Transition(
        (S.BOOKED, S.CHECKED_IN), S.CANCELLED, "cancelled_at", "cancelled", "cancelled"
    ),
    "enter_in_error": Transition(
        tuple(s for s in S.values if s != S.ENTERED_IN_ERROR),
        S.ENTERED_IN_ERROR,
        None,
        "entered_in_error",
        "marked as entered in error",
    ),
}


# A visit is checked in, started and completed on its own day, in its location's zone
# (docs/architecture.md, "Time"). Office staff may record it on another day with a reason
# (kept on the visit's notes, the override audited); a technician cannot: they ask the office.
DAY_BOUND = frozenset({"check_in", "start", "complete"})


def _not_today_check(
    actor: User | None, appt: Appointment, action: str, override_reason: str | None
) -> str:
    """'' when the visit is today where it happens; else the note an allowed override leaves."""
    today = local_today(appt.location)
    day = local(appt.starts_at, appt.location).date()
    if day == today:
        return ""
    verb = TRANSITIONS[action].verb
    if override_reason is None:
        raise AppointmentNotToday(
            f"This visit is on {date_text(day)}, and today is {date_text(today)} at "
            f"{appt.location.name}: it can be {verb} on its own day only. Office staff can "
            "record it anyway with a reason.",
            extra={"visit_date": day.isoformat(), "today": today.isoformat()},
        )
    if actor is None or not can_book_at(actor, appt.location):
        raise PermissionDenied(
            "Only office staff can record a visit on another day than its own; ask the office."
        )
    why = _reason(override_reason)
    return f"{verb.capitalize()} on {date_text(today)} for the visit of {date_text(day)}: {why}"


def _transition(
    *,
    actor: User | None,
    appointment: Appointment,
    action: str,
    expected_version: int | None,
    reason: str = "",
    override_reason: str | None = None,
) -> Appointment:
    rule = TRANSITIONS[action]
    appt = _locked(appointment)
    _version_check(appt, expected_version)
    if appt.state not in rule.sources:
        raise AppointmentStateRefused(
            f"This appointment is {appt.get_state_display().lower()}; it cannot be {rule.verb}.",
            extra={"current": _current(appt)},
        )
    override = _not_today_check(actor, appt, action, override_reason) if action in DAY_BOUND else ""
    now = timezone.now()
    if action == "no_show" and appt.starts_at > now:
        raise AppointmentStateRefused(
            "A no-show can be marked once the appointment's start time has passed."
        )
    freed = freed_slot_payload(appt) if action in ("cancel", "no_show") else {}
    appt.state = rule.target
    fields = ["state", "version", "updated_at"]
    if rule.stamp:
        setattr(appt, rule.stamp, now)
        fields.append(rule.stamp)
    if action in ("cancel", "enter_in_error"):
        appt.cancel_reason = reason
        fields.append("cancel_reason")
    details: dict[str, Any] = {"version": appt.version + 1, "state": appt.state}
    if override:
        # The reason is free text: it stays on the visit, the audit row names the override.
        appt.notes = f"{appt.notes}\n{override}".strip()
        fields.append("notes")
        details["override"] = "not_today"
    appt.version += 1
    appt.save(update_fields=fields)
    audit_record(actor=actor, action=f"appointment.{rule.audit}", obj=appt, details=details)
    if action == "cancel":
        _event("appointment.cancelled", appt, state=appt.state, **freed)
    else:
        _event("appointment.state_changed", appt, state=appt.state, **freed)
    return appt


@transaction.atomic
def appointment_check_in(
    *,
    actor: User | None,
    appointment: Appointment,
    expected_version: int | None = None,
    override_reason: str | None = None,
) -> Appointment:
    """Refused unless the visit is today at its location; ``override_reason`` (required, not
    blank) lets office staff record it on another day (see ``DAY_BOUND``)."""
    return _transition(
        actor=actor,
        appointment=appointment,
        action="check_in",
        expected_version=expected_version,
        override_reason=override_reason,
    )


@transaction.atomic
def appointment_start(
    *,
    actor: User | None,
    appointment: Appointment,
    expected_version: int | None = None,
    override_reason: str | None = None,
) -> Appointment:
    """Refused unless the visit is today at its location; ``override_reason`` (required, not
    blank) lets office staff record it on another day (see ``DAY_BOUND``)."""
    return _transition(
        actor=actor,
        appointment=appointment,
        action="start",
        expected_version=expected_version,
        override_reason=override_reason,
    )


@transaction.atomic
def appointment_complete(
    *,
    actor: User | None,
    appointment: Appointment,
    expected_version: int | None = None,
    override_reason: str | None = None,
) -> Appointment:
    """Refused unless the visit is today at its location; ``override_reason`` (required, not
    blank) lets office staff record it on another day (see ``DAY_BOUND``)."""
    return _transition(
        actor=actor,
        appointment=appointment,
        action="complete",
        expected_version=expected_version,
        override_reason=override_reason,
    )


@transaction.atomic
def appointment_no_show(
    *, actor: User | None, appointment: Appointment, expected_version: int | None = None
) -> Appointment:
    return _transition(
        actor=actor, appointment=appointment, action="no_show", expected_version=expected_version
    )


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise BookingInvalid("Say why.", extra={"field": "reason"})
    if len(reason) > MAX_REASON:
        raise BookingInvalid("Keep the reason under 200 characters.", extra={"field": "reason"})
    return reason


@transaction.atomic
def appointment_cancel(
    *,
    actor: User | None,
    appointment: Appointment,
    reason: str,
    expected_version: int | None = None,
) -> Appointment:
    """Cancel with a reason. ``appointment.cancelled`` carries the freed time: its handlers
    withdraw the pending reminders and offer the time to the waitlist."""
    return _transition(
        actor=actor,
        appointment=appointment,
        action="cancel",
        expected_version=expected_version,
        reason=_reason(reason),
    )


@transaction.atomic
def appointment_enter_in_error(
    *, actor: User, appointment: Appointment, reason: str, expected_version: int | None = None
) -> Appointment:
    """Mark a row that should never have existed (kept, never deleted)."""
    return _transition(
        actor=actor,
        appointment=appointment,
        action="enter_in_error",
        expected_version=expected_version,
        reason=_reason(reason),
    )


@transaction.atomic
def appointment_confirm(*, actor: User | None, appointment: Appointment, via: str) -> bool:
    """The patient confirmed (a C/CONFIRM reply, or staff on the phone). Returns whether it
    changed anything; a second confirmation is harmless."""
    appt = _locked(appointment)
    if appt.state not in ACTIVE_STATES or appt.confirmed_at is not None:
        return False
    appt.confirmed_at = timezone.now()
    appt.version += 1
    appt.save(update_fields=["confirmed_at", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="appointment.confirmed",
        obj=appt,
        details={"version": appt.version, "via": via},
    )
    _event("appointment.state_changed", appt, state=appt.state)
    return True
