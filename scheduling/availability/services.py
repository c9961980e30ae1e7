"""Technician availability: weekly hours, dated exceptions (one by one or in bulk), capacity and
skills; the slot finder and the best-technician suggestion built on them.

Hours and exceptions are wall-clock times in the technician's home location's time zone; the
functions here turn them into UTC intervals per day. Reads that only compute (``slots_find``,
``technician_suggest``) load everything they need in a fixed number of queries, whatever the
number of technicians or days.
"""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError
from clinic.models import Membership, Role
from scheduling.models import (
    ACTIVE_STATES,
    Appointment,
    AppointmentKind,
    AppointmentState,
    AppointmentType,
    AvailabilityException,
    Room,
    Skill,
    TechnicianProfile,
    WorkingHours,
)

if TYPE_CHECKING:
    from clinic.models import Location, User

Interval = tuple[datetime.datetime, datetime.datetime]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Visits that count against a technician's daily capacity: every patient visit still on the
# books or done (a cancelled or no-show visit frees its place; a staff block is not a visit).
CAPACITY_STATES = (*ACTIVE_STATES, AppointmentState.FULFILLED)
MAX_BULK_DATES = 366
MAX_SLOT_DAYS = 31
SLOT_STEP_MINUTES = 15


class AvailabilityInvalid(ApplicationError):
    code = "availability_invalid"


def zone_of(location: Location) -> ZoneInfo:
    return ZoneInfo(location.timezone or "UTC")


def local_dt(day: datetime.date, at: datetime.time, zone: ZoneInfo) -> datetime.datetime:
    """The UTC instant of a wall-clock time on ``day`` (24:00-style ends handled by callers)."""
    return datetime.datetime.combine(day, at, tzinfo=zone).astimezone(datetime.UTC)


def fmt_time(value: datetime.datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%H:%M")


def fmt_day(value: datetime.datetime | datetime.date, zone: ZoneInfo | None = None) -> str:
    if isinstance(value, datetime.datetime) and zone is not None:
        value = value.astimezone(zone)
    return f"{value:%a} {value.day} {value:%b %Y}"


def fmt_span(starts: datetime.datetime, ends: datetime.datetime, zone: ZoneInfo) -> str:
    return f"{fmt_time(starts, zone)}\u2013{fmt_time(ends, zone)}"  # en dash


def fmt_range(starts: datetime.datetime, ends: datetime.datetime, zone: ZoneInfo) -> str:
    return f"on {fmt_day(starts, zone)}, {fmt_span(starts, ends, zone)}"


# ---------------------------------------------------------------- intervals


def _subtract(intervals: list[Interval], cut: Interval) -> list[Interval]:
    out: list[Interval] = []
    for a, b in intervals:
        if cut[1] <= a or cut[0] >= b:
            out.append((a, b))
            continue
        if cut[0] > a:
            out.append((a, cut[0]))
        if cut[1] < b:
            out.append((cut[1], b))
    return out


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass
class TechnicianDay:
    """What one technician's calendar holds on one local day, loaded in bulk."""

    profile: TechnicianProfile
    day: datetime.date
    working: list[Interval]
    busy: list[Interval] = field(default_factory=list)
    visits: int = 0

    @property
    def free(self) -> list[Interval]:
        free = list(self.working)
        for cut in self.busy:
            free = _subtract(free, cut)
        return free

    @property
    def full(self) -> bool:
        return self.visits >= self.profile.capacity_per_day


def working_intervals(
    profile: TechnicianProfile,
    day: datetime.date,
    hours: Sequence[WorkingHours],
    exceptions: Sequence[AvailabilityException],
) -> list[Interval]:
    """UTC intervals ``profile`` works on local ``day``: weekly hours, then the day's exceptions
    (a whole-day UNAVAILABLE wins; partial ones cut; AVAILABLE ones add)."""
    zone = zone_of(profile.home_location)
    base = [
        (local_dt(day, h.starts, zone), local_dt(day, h.ends, zone))
        for h in hours
        if h.weekday == day.weekday()
    ]
    day_exc = [e for e in exceptions if e.date == day]
    if any(e.kind == AvailabilityException.Kind.UNAVAILABLE and e.starts is None for e in day_exc):
        return []
    for e in day_exc:
        if e.starts is None or e.ends is None:
            continue
        span = (local_dt(day, e.starts, zone), local_dt(day, e.ends, zone))
        if e.kind == AvailabilityException.Kind.AVAILABLE:
            base.append(span)
        else:
            base = _subtract(base, span)
    return _union(base)


def _local_days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    return [start + datetime.timedelta(days=i) for i in range((end - start).days + 1)]


def technician_days(
    profiles: Sequence[TechnicianProfile],
    days: Sequence[datetime.date],
    *,
    exclude_appointment_id: int | None = None,
) -> dict[tuple[int, datetime.date], TechnicianDay]:
    """Every (technician user id, day) with hours, exceptions, busy times and visit counts:
    three queries for any number of technicians and days."""
    if not profiles or not days:
        return {}
    by_id = {p.pk: p for p in profiles}
    by_user = {p.user_id: p for p in profiles}
    hours: dict[int, list[WorkingHours]] = defaultdict(list)
    for h in WorkingHours.objects.filter(technician_id__in=by_id):
        hours[h.technician_id].append(h)
    exceptions: dict[int, list[AvailabilityException]] = defaultdict(list)
    for e in AvailabilityException.objects.filter(
        technician_id__in=by_id, date__gte=min(days), date__lte=max(days)
    ):
        exceptions[e.technician_id].append(e)
    result: dict[tuple[int, datetime.date], TechnicianDay] = {}
    for p in profiles:
        for day in days:
            result[(p.user_id, day)] = TechnicianDay(
                profile=p,
                day=day,
                working=working_intervals(p, day, hours[p.pk], exceptions[p.pk]),
            )
    # One window wide enough for every zone involved (days are local to each technician).
    window_start = datetime.datetime.combine(min(days), datetime.time(), tzinfo=datetime.UTC)
    window_start -= datetime.timedelta(days=1)
    window_end = window_start + datetime.timedelta(days=(max(days) - min(days)).days + 3)
    rows = Appointment.objects.filter(
        technician_id__in=list(by_user),
        state__in=CAPACITY_STATES,
        starts_at__lt=window_end,
        ends_at__gt=window_start,
    ).values_list("pk", "technician_id", "starts_at", "ends_at", "state", "type__code")
    for pk, tech_id, starts, ends, state, code in rows:
        if pk == exclude_appointment_id:
            continue
        local_day = starts.astimezone(zone_of(by_user[tech_id].home_location)).date()
        td = result.get((tech_id, local_day))
        if td is None:
            continue
        if state in ACTIVE_STATES:
            td.busy.append((starts, ends))
        if code != AppointmentKind.STAFF_BLOCK:
            td.visits += 1
    return result


def candidate_profiles(
    *, appointment_type: AppointmentType, location: Location, technician: User | None = None
) -> list[TechnicianProfile]:
    """Active technicians who can do ``appointment_type`` at ``location``: home there or a
    FIELD_TECHNICIAN membership there, and the type's skill."""
    serving = Membership.objects.filter(location=location, role=Role.FIELD_TECHNICIAN).values_list(
        "user_id", flat=True
    )
    qs = TechnicianProfile.objects.filter(
        organization_id=location.organization_id, is_active=True, user__is_active=True
    ).filter(Q(home_location=location) | Q(user_id__in=serving))
    if appointment_type.skill:
        qs = qs.filter(skills__contains=[appointment_type.skill])
    if technician is not None:
        qs = qs.filter(user=technician)
    return list(qs.select_related("user", "home_location").order_by("user__full_name", "pk"))


# ---------------------------------------------------------------- the slot finder


@dataclass(frozen=True)
class Slot:
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    technician: User | None
    room: Room | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "technician": str(self.technician.public_id) if self.technician else None,
            "technician_name": self.technician.full_name if self.technician else "",
            "room": str(self.room.public_id) if self.room else None,
        }


def _grid_starts(
    free: Interval, length: datetime.timedelta, step: datetime.timedelta, zone: ZoneInfo
) -> Iterable[datetime.datetime]:
    """Starts on the local ``step`` grid (9:00, 9:15, …) inside ``free``."""
    a, b = free
    local = a.astimezone(zone)
    minutes = local.hour * 60 + local.minute
    step_min = int(step.total_seconds() // 60)
    pad = (-minutes) % step_min
    t = (local + datetime.timedelta(minutes=pad)).replace(second=0, microsecond=0)
    t_utc = t.astimezone(datetime.UTC)
    if t_utc < a:
        t_utc += step
    while t_utc + length <= b:
        yield t_utc
        t_utc += step


def _room_busy(location: Location, start: datetime.datetime, end: datetime.datetime) -> dict:
    busy: dict[int, list[Interval]] = defaultdict(list)
    for room_id, s, e in (
        Appointment.objects.filter(location=location, room__isnull=False, state__in=ACTIVE_STATES)
        .overlapping(start, end)
        .values_list("room_id", "starts_at", "ends_at")
    ):
        busy[room_id].append((s, e))
    return busy


def _free_room(
    rooms: Sequence[Room], busy: dict, start: datetime.datetime, end: datetime.datetime
) -> Room | None:
    for room in rooms:
        if not any(s < end and e > start for s, e in busy.get(room.pk, ())):
            return room
    return None


def slots_find(
    *,
    appointment_type: AppointmentType,
    location: Location,
    date_from: datetime.date,
    date_to: datetime.date,
    technician: User | None = None,
    step_minutes: int = SLOT_STEP_MINUTES,
    limit: int | None = None,
    not_before: datetime.datetime | None = None,
) -> list[Slot]:
    """Free slots for ``appointment_type`` at ``location`` between two local dates (inclusive):
    technicians with the skill, inside their hours, under their daily capacity, with no
    overlapping appointment, and a free room when the type needs one. Earliest first."""
    if date_to < date_from:
        raise AvailabilityInvalid("The end date is before the start date.")
    if (date_to - date_from).days >= MAX_SLOT_DAYS:
        raise AvailabilityInvalid(f"Look at most {MAX_SLOT_DAYS} days at a time.")
    if step_minutes not in (5, 10, 15, 20, 30, 60):
        raise AvailabilityInvalid("Slots start every 5, 10, 15, 20, 30 or 60 minutes.")
    length = datetime.timedelta(minutes=appointment_type.duration_minutes)
    step = datetime.timedelta(minutes=step_minutes)
    not_before = not_before or timezone.now()
    zone = zone_of(location)
    days = _local_days(date_from, date_to)
    rooms: list[Room] = []
    room_busy: dict = {}
    if appointment_type.needs_room:
        rooms = list(Room.objects.filter(location=location, is_active=True).order_by("name"))
        if not rooms:
            return []
        room_busy = _room_busy(
            location,
            local_dt(date_from, datetime.time(), zone),
            local_dt(date_to + datetime.timedelta(days=1), datetime.time(), zone),
        )
    slots: list[Slot] = []
    if not appointment_type.needs_technician:
        for day in days:
            opening = (
                local_dt(day, datetime.time(8), zone),
                local_dt(day, datetime.time(17), zone),
            )
            for start in _grid_starts(opening, length, step, zone):
                if start < not_before:
                    continue
                room = _free_room(rooms, room_busy, start, start + length) if rooms else None
                if appointment_type.needs_room and room is None:
                    continue
                slots.append(Slot(start, start + length, None, room))
        return slots[:limit] if limit else slots
    profiles = candidate_profiles(
        appointment_type=appointment_type, location=location, technician=technician
    )
    for td in technician_days(profiles, days).values():
        if td.full:
            continue
        tech_zone = zone_of(td.profile.home_location)
        for free in td.free:
            for start in _grid_starts(free, length, step, tech_zone):
                if start < not_before:
                    continue
                room = None
                if rooms:
                    room = _free_room(rooms, room_busy, start, start + length)
                    if room is None:
                        continue
                slots.append(Slot(start, start + length, td.profile.user, room))
    slots.sort(key=lambda s: (s.starts_at, s.technician.full_name if s.technician else ""))
    return slots[:limit] if limit else slots


def slots_nearest(
    *,
    appointment_type: AppointmentType,
    location: Location,
    around: datetime.datetime,
    technician: User | None = None,
    count: int = 3,
    days: int = 3,
) -> list[Slot]:
    """The ``count`` free slots closest to ``around`` (same technician when one is given)."""
    zone = zone_of(location)
    day = around.astimezone(zone).date()
    slots = slots_find(
        appointment_type=appointment_type,
        location=location,
        date_from=day - datetime.timedelta(days=days),
        date_to=day + datetime.timedelta(days=days),
        technician=technician,
    )
    slots.sort(key=lambda s: (abs((s.starts_at - around).total_seconds()), s.starts_at))
    return sorted(slots[:count], key=lambda s: s.starts_at)


# ---------------------------------------------------------------- checking one booking


def technician_availability_problem(
    *,
    technician: User,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    counts_as_visit: bool,
    exclude_appointment_id: int | None = None,
    profile: TechnicianProfile | Any | None = ...,
) -> str | None:
    """Why ``technician`` cannot take ``[starts_at, ends_at)`` (hours, exceptions, capacity), or
    None. Overlaps are not checked here (the conflict check names the other appointment).
    ``profile`` saves a query when the caller has loaded (and locked) it already."""
    if profile is ...:
        profile = (
            TechnicianProfile.objects.filter(user=technician)
            .select_related("home_location")
            .first()
        )
    if profile is None:
        return None  # not a scheduled field technician (e.g. a clinician's staff block)
    name = technician.full_name
    if not profile.is_active:
        return f"{name} is not taking appointments."
    zone = zone_of(profile.home_location)
    day = starts_at.astimezone(zone).date()
    td = technician_days([profile], [day], exclude_appointment_id=exclude_appointment_id)[
        (technician.pk, day)
    ]
    if not td.working:
        return f"{name} is not working on {fmt_day(day)}."
    if not any(a <= starts_at and ends_at <= b for a, b in td.working):
        hours = ", ".join(fmt_span(a, b, zone) for a, b in td.working)
        return f"{name} works {hours} on {fmt_day(day)}; that time is outside their hours."
    if counts_as_visit and td.full:
        return (
            f"{name} already has {td.visits} visits on {fmt_day(day)} "
            f"(their daily maximum is {profile.capacity_per_day})."
        )
    return None


# ---------------------------------------------------------------- best technician


@dataclass(frozen=True)
class Suggestion:
    technician: User
    reason: str
    day_visits: int
    week_visits: int


def technician_suggest(
    *,
    appointment_type: AppointmentType,
    location: Location,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime | None = None,
) -> Suggestion | None:
    """The best technician for this time: has the skill, works then, is free and under
    capacity; among those, the lightest day, then the lightest week. None when nobody fits."""
    ends_at = ends_at or starts_at + datetime.timedelta(minutes=appointment_type.duration_minutes)
    profiles = candidate_profiles(appointment_type=appointment_type, location=location)
    if not profiles:
        return None
    zone = zone_of(location)
    day = starts_at.astimezone(zone).date()
    days = technician_days(profiles, [day])
    available = [
        td
        for td in days.values()
        if not td.full and any(a <= starts_at and ends_at <= b for a, b in td.free)
    ]
    if not available:
        return None
    monday = day - datetime.timedelta(days=day.weekday())
    week = _week_visits([td.profile.user_id for td in available], monday, zone)
    best = min(
        available,
        key=lambda td: (td.visits, week.get(td.profile.user_id, 0), td.profile.user.full_name),
    )
    user = best.profile.user
    skill = (
        f"has the skill “{Skill(appointment_type.skill).label}”"
        if appointment_type.skill
        else "serves this location"
    )
    hours = ", ".join(fmt_span(a, b, zone) for a, b in best.working)
    others = len(available) - 1
    reason = (
        f"{user.full_name} {skill}, works {hours} that day and is free then; "
        f"{best.visits} of {best.profile.capacity_per_day} visits booked that day and "
        f"{week.get(user.pk, 0)} this week"
        + (
            f" — the lightest load of {len(available)} available technicians."
            if others
            else " — the only technician available then."
        )
    )
    return Suggestion(user, reason, best.visits, week.get(user.pk, 0))


def _week_visits(user_ids: list[int], monday: datetime.date, zone: ZoneInfo) -> dict[int, int]:
    start = local_dt(monday, datetime.time(), zone)
    end = local_dt(monday + datetime.timedelta(days=7), datetime.time(), zone)
    rows = (
        Appointment.objects.filter(
            technician_id__in=user_ids,
            state__in=CAPACITY_STATES,
            starts_at__gte=start,
            starts_at__lt=end,
        )
        .exclude(type__code=AppointmentKind.STAFF_BLOCK)
        .values("technician_id")
        .annotate(n=Count("id"))
    )
    return {r["technician_id"]: r["n"] for r in rows}


# ---------------------------------------------------------------- editing availability


def _profile_check(actor: User, profile: TechnicianProfile) -> None:
    if actor.organization_id != profile.organization_id:
        raise AvailabilityInvalid("That technician is not in your organization.")


def _parse_interval(starts: datetime.time | None, ends: datetime.time | None) -> None:
    if (starts is None) != (ends is None):
        raise AvailabilityInvalid("Give both a start and an end time, or neither for a whole day.")
    if starts is not None and ends is not None and starts >= ends:
        raise AvailabilityInvalid("The end time must be after the start time.")


@transaction.atomic
def technician_profile_set(
    *,
    actor: User,
    user: User,
    home_location: Location,
    skills: Sequence[str],
    capacity_per_day: int,
    is_active: bool = True,
) -> TechnicianProfile:
    """Create or update ``user``'s scheduling profile (home location, skills, capacity)."""
    if user.organization_id != actor.organization_id or (
        home_location.organization_id != actor.organization_id
    ):
        raise AvailabilityInvalid("That technician or location is not in your organization.")
    unknown = sorted(set(skills) - set(Skill.values))
    if unknown:
        raise AvailabilityInvalid("Choose skills from the list.", extra={"field": "skills"})
    if not 1 <= capacity_per_day <= 100:
        raise AvailabilityInvalid(
            "Daily capacity is between 1 and 100 visits.", extra={"field": "capacity_per_day"}
        )
    profile, created = TechnicianProfile.objects.update_or_create(
        user=user,
        defaults={
            "organization_id": home_location.organization_id,
            "home_location": home_location,
            "skills": sorted(set(skills)),
            "capacity_per_day": capacity_per_day,
            "is_active": is_active,
        },
    )
    audit_record(
        actor=actor,
        action="technician.profile_created" if created else "technician.profile_changed",
        obj=profile,
        details={"technician": str(user.public_id), "capacity": capacity_per_day},
    )
    return profile


@transaction.atomic
def working_hours_set(
    *,
    actor: User,
    profile: TechnicianProfile,
    week: Mapping[int, Sequence[tuple[datetime.time, datetime.time]]],
) -> list[WorkingHours]:
    """Replace the weekly hours: ``week`` maps weekday (0 = Monday) to intervals; a weekday not
    in ``week`` is a day off. Overlapping intervals on one day are refused."""
    _profile_check(actor, profile)
    rows = []
    for weekday, intervals in sorted(week.items()):
        if weekday not in range(7):
            raise AvailabilityInvalid("Weekdays run from Monday (0) to Sunday (6).")
        ordered = sorted(intervals)
        for starts, ends in ordered:
            _parse_interval(starts, ends)
        for (_, prev_end), (next_start, _) in itertools.pairwise(ordered):
            if next_start < prev_end:
                raise AvailabilityInvalid(
                    f"The hours on {WEEKDAYS[weekday]} overlap; make them separate intervals."
                )
        rows += [
            WorkingHours(technician=profile, weekday=weekday, starts=s, ends=e) for s, e in ordered
        ]
    WorkingHours.objects.filter(technician=profile).delete()
    WorkingHours.objects.bulk_create(rows)
    audit_record(
        actor=actor,
        action="technician.hours_changed",
        obj=profile,
        details={"intervals": len(rows)},
    )
    return rows


def _bulk_dates(
    *,
    dates: Iterable[datetime.date] | None,
    date_from: datetime.date | None,
    date_to: datetime.date | None,
    weekdays: Iterable[int] | None,
) -> list[datetime.date]:
    chosen: set[datetime.date] = set(dates or ())
    if date_from or date_to:
        if not (date_from and date_to):
            raise AvailabilityInvalid("Give both the first and the last date of the range.")
        if date_to < date_from:
            raise AvailabilityInvalid("The last date is before the first.")
        if (date_to - date_from).days >= MAX_BULK_DATES:
            raise AvailabilityInvalid(f"Change at most {MAX_BULK_DATES} days at once.")
        allowed = set(weekdays) if weekdays is not None else set(range(7))
        chosen |= {d for d in _local_days(date_from, date_to) if d.weekday() in allowed}
    if not chosen:
        raise AvailabilityInvalid("Choose at least one date.")
    if len(chosen) > MAX_BULK_DATES:
        raise AvailabilityInvalid(f"Change at most {MAX_BULK_DATES} days at once.")
    return sorted(chosen)


@transaction.atomic
def availability_exceptions_set(
    *,
    actor: User,
    profile: TechnicianProfile,
    kind: str,
    dates: Iterable[datetime.date] | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    weekdays: Iterable[int] | None = None,
    starts: datetime.time | None = None,
    ends: datetime.time | None = None,
    reason: str = "",
    replace: bool = True,
) -> list[AvailabilityException]:
    """One exception on each chosen date: a set of dates, a range (optionally only some
    weekdays), or both. ``replace`` first removes the technician's other exceptions on those
    dates, so applying the same change twice leaves one row per date."""
    _profile_check(actor, profile)
    if kind not in AvailabilityException.Kind.values:
        raise AvailabilityInvalid("Choose available or unavailable.", extra={"field": "kind"})
    _parse_interval(starts, ends)
    if kind == AvailabilityException.Kind.AVAILABLE and starts is None:
        raise AvailabilityInvalid("Say which hours the extra availability covers.")
    reason = (reason or "").strip()[:30]
    chosen = _bulk_dates(dates=dates, date_from=date_from, date_to=date_to, weekdays=weekdays)
    if replace:
        AvailabilityException.objects.filter(technician=profile, date__in=chosen).delete()
    rows = AvailabilityException.objects.bulk_create(
        AvailabilityException(
            technician=profile, date=d, kind=kind, starts=starts, ends=ends, reason=reason
        )
        for d in chosen
    )
    audit_record(
        actor=actor,
        action="technician.exceptions_set",
        obj=profile,
        details={
            "kind": kind,
            "dates": len(rows),
            "first": str(chosen[0]),
            "last": str(chosen[-1]),
        },
    )
    return rows


@transaction.atomic
def availability_exceptions_clear(
    *,
    actor: User,
    profile: TechnicianProfile,
    dates: Iterable[datetime.date] | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> int:
    """Remove the exceptions on the chosen dates (back to the weekly hours)."""
    _profile_check(actor, profile)
    chosen = _bulk_dates(dates=dates, date_from=date_from, date_to=date_to, weekdays=None)
    deleted, _ = AvailabilityException.objects.filter(technician=profile, date__in=chosen).delete()
    audit_record(
        actor=actor, action="technician.exceptions_cleared", obj=profile, details={"rows": deleted}
    )
    return deleted
