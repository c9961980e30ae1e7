"""Recurring series (RFC 5545 RRULE: FREQ, INTERVAL, BYDAY, COUNT or UNTIL).

Occurrences are real appointment rows, created up to a horizon (``HORIZON``) and extended by a
daily job. The rule is expanded in the location's time zone, so a 9:00 visit stays at 9:00
across daylight-saving changes. Every occurrence is checked before anything is saved, and the
problems are reported per date; then each occurrence is booked through ``appointment_book``
(audit, event, reminders, the exclusion constraints) in the same transaction, so a series is
created whole or not at all.

Edits and cancellations take a scope: ``this`` occurrence, ``following`` (this and the later
ones: the series is split, as calendar programs do) or ``all`` (every occurrence still ahead).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du
from django.db import transaction
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, Conflict
from scheduling.availability.services import fmt_day, zone_of
from scheduling.booking.services import (
    UNCHANGED,
    BookingConflict,
    BookingInvalid,
    appointment_book,
    appointment_cancel,
    appointment_move,
    booking_location,
    booking_problems,
    booking_validate,
)
from scheduling.models import Appointment, AppointmentState, AppointmentType, RecurringSeries, Room

if TYPE_CHECKING:
    from clinic.models import Location, User
    from patients.models import Patient

HORIZON = datetime.timedelta(days=90)
MAX_OCCURRENCES = 400  # per call: a daily rule over the horizon fits comfortably
SCOPES = ("this", "following", "all")
_FREQS = {"DAILY": du.DAILY, "WEEKLY": du.WEEKLY, "MONTHLY": du.MONTHLY, "YEARLY": du.YEARLY}
_DAYS = {"MO": du.MO, "TU": du.TU, "WE": du.WE, "TH": du.TH, "FR": du.FR, "SA": du.SA, "SU": du.SU}
_BYDAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")


class SeriesInvalid(ApplicationError):
    code = "series_invalid"


class SeriesConflicts(Conflict):
    """Some dates of the series cannot be booked; ``extra["dates"]`` lists each with why."""

    code = "series_conflicts"


# ---------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Rule:
    freq: str
    interval: int = 1
    byday: tuple[str, ...] = ()
    count: int | None = None
    until: str | None = None  # as written: YYYYMMDD or YYYYMMDDTHHMMSS[Z]

    def text(self) -> str:
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.byday:
            parts.append("BYDAY=" + ",".join(self.byday))
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until}")
        return ";".join(parts)


def rrule_parse(text: str) -> Rule:
    """Read an RRULE, refusing what we do not support with a message a person can act on."""
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text:
        raise SeriesInvalid("Give a repeat rule, e.g. FREQ=WEEKLY;BYDAY=MO,WE;COUNT=8.")
    if len(text) > 300:
        raise SeriesInvalid("That repeat rule is too long.")
    values: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            raise SeriesInvalid(f"“{part[:30]}” is not a NAME=VALUE part of a repeat rule.")
        if key not in ("FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL"):
            raise SeriesInvalid(
                f"The repeat rule part {key[:20]} is not supported; use FREQ, INTERVAL, BYDAY, "
                "COUNT or UNTIL."
            )
        if key in values:
            raise SeriesInvalid(f"{key} appears twice in the repeat rule.")
        values[key] = value.strip().upper()
    freq = values.get("FREQ")
    if freq is None:
        raise SeriesInvalid("A repeat rule needs FREQ (DAILY, WEEKLY, MONTHLY or YEARLY).")
    if freq not in _FREQS:
        raise SeriesInvalid("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY.")
    if "COUNT" in values and "UNTIL" in values:
        raise SeriesInvalid("A repeat rule ends by COUNT or by UNTIL, never both.")
    interval = _int(values.get("INTERVAL", "1"), "INTERVAL", 1, 99)
    count = _int(values["COUNT"], "COUNT", 1, 500) if "COUNT" in values else None
    byday: tuple[str, ...] = ()
    if "BYDAY" in values:
        byday = tuple(d.strip() for d in values["BYDAY"].split(","))
        for day in byday:
            m = _BYDAY.fullmatch(day)
            if not m:
                raise SeriesInvalid("BYDAY lists days as MO, TU, WE, TH, FR, SA, SU.")
            if m.group(1) and freq not in ("MONTHLY", "YEARLY"):
                raise SeriesInvalid("Numbered days (like 1MO) only go with MONTHLY or YEARLY.")
    until = values.get("UNTIL")
    if until is not None:
        _until_local(until, ZoneInfo("UTC"))  # validates the format
    return Rule(freq=freq, interval=interval, byday=byday, count=count, until=until)


def _int(value: str, name: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise SeriesInvalid(f"{name} must be a whole number from {low} to {high}.")
    return int(value)


def _until_local(value: str, zone: ZoneInfo) -> datetime.datetime:
    """UNTIL as a naive local datetime (inclusive): a date means the end of that day."""
    try:
        if len(value) == 8:
            day = datetime.datetime.strptime(value, "%Y%m%d")
            return day.replace(hour=23, minute=59, second=59)
        if value.endswith("Z"):
            utc = datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
            return utc.astimezone(zone).replace(tzinfo=None)
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%S")
    except ValueError as exc:
        raise SeriesInvalid("UNTIL is a date like 20301231 or 20301231T170000Z.") from exc


def _weekday(code: str) -> Any:
    m = _BYDAY.fullmatch(code)
    assert m is not None
    day = _DAYS[m.group(2)]
    return day(int(m.group(1))) if m.group(1) else day


def _expand(rule: Rule, dtstart: datetime.datetime, zone: ZoneInfo) -> du.rrule:
    """The dateutil rule over naive local times (wall clock in ``zone``)."""
    kwargs: dict[str, Any] = {
        "dtstart": dtstart.astimezone(zone).replace(tzinfo=None),
        "interval": rule.interval,
    }
    if rule.byday:
        kwargs["byweekday"] = [_weekday(d) for d in rule.byday]
    if rule.count is not None:
        kwargs["count"] = rule.count
    if rule.until is not None:
        kwargs["until"] = _until_local(rule.until, zone)
    return du.rrule(_FREQS[rule.freq], **kwargs)


def _aware(local: datetime.datetime, zone: ZoneInfo) -> datetime.datetime:
    return local.replace(tzinfo=zone).astimezone(datetime.UTC)


def occurrences(
    rule: Rule,
    *,
    dtstart: datetime.datetime,
    zone: ZoneInfo,
    after: datetime.datetime | None = None,
    until: datetime.datetime,
) -> list[datetime.datetime]:
    """The rule's starts (aware, UTC) that are after ``after`` and at or before ``until``."""
    out = []
    for local in _expand(rule, dtstart, zone):
        moment = _aware(local, zone)
        if moment > until:
            break
        if after is not None and moment <= after:
            continue
        out.append(moment)
        if len(out) > MAX_OCCURRENCES:
            raise SeriesInvalid("That rule makes too many visits; repeat less often.")
    return out


def _has_more(rule: Rule, dtstart: datetime.datetime, zone: ZoneInfo, moment: Any) -> bool:
    """Whether the rule has an occurrence after ``moment`` at all."""
    local = moment.astimezone(zone).replace(tzinfo=None)
    return _expand(rule, dtstart, zone).after(local) is not None


# ---------------------------------------------------------------- creating


def _check_dates(
    *,
    organization_id: int,
    appointment_type: AppointmentType,
    starts: list[datetime.datetime],
    length: datetime.timedelta,
    technician: User | None,
    room: Room | None,
    patient: Patient | None,
    zone: ZoneInfo,
    exclude: dict[datetime.datetime, int] | None = None,
) -> list[dict[str, Any]]:
    """Per date, what stands in the way (empty when every date is free)."""
    report = []
    for start in starts:
        problems = booking_problems(
            organization_id=organization_id,
            appointment_type=appointment_type,
            starts_at=start,
            ends_at=start + length,
            technician=technician,
            room=room,
            patient=patient,
            exclude_pk=(exclude or {}).get(start),
        )
        if problems:
            report.append(
                {
                    "date": start.astimezone(zone).date().isoformat(),
                    "starts_at": start.isoformat(),
                    "problems": problems.sentences,
                }
            )
    return report


def _refuse(report: list[dict[str, Any]], total: int, zone: ZoneInfo) -> SeriesConflicts:
    lines = [
        f"{fmt_day(datetime.date.fromisoformat(r['date']))}: {' '.join(r['problems'])}"
        for r in report
    ]
    return SeriesConflicts(
        f"{len(report)} of {total} dates cannot be booked, so nothing was saved. "
        + " | ".join(lines),
        extra={"dates": report},
    )


@dataclass(frozen=True)
class SeriesPlan:
    """What a series would book: the rule, every start, and per date what stands in the way."""

    rule: Rule
    location: Location
    length: datetime.timedelta
    zone: ZoneInfo
    horizon: datetime.datetime
    starts: list[datetime.datetime]
    report: list[dict[str, Any]]


def series_check(
    *,
    actor: User,
    patient: Patient | None,
    type: AppointmentType,
    starts_at: datetime.datetime,
    rrule: str,
    location: Location | None = None,
    duration_minutes: int | None = None,
    technician: User | None = None,
    room: Room | None = None,
) -> SeriesPlan:
    """Plan a series without saving anything: the dates it makes up to the horizon and, per
    date, the conflicts (what the booking form shows before the series is created)."""
    rule = rrule_parse(rrule)
    location = booking_location(patient=patient, location=location)
    length = datetime.timedelta(minutes=duration_minutes or type.duration_minutes)
    booking_validate(
        actor=actor,
        location=location,
        appointment_type=type,
        patient=patient,
        technician=technician,
        room=room,
        starts_at=starts_at,
        ends_at=starts_at + length,
    )
    zone = zone_of(location)
    horizon = timezone.now() + HORIZON
    starts = occurrences(rule, dtstart=starts_at, zone=zone, until=horizon)
    if not starts:
        raise SeriesInvalid("That rule gives no dates in the next 90 days.")
    report = _check_dates(
        organization_id=location.organization_id,
        appointment_type=type,
        starts=starts,
        length=length,
        technician=technician,
        room=room,
        patient=patient,
        zone=zone,
    )
    return SeriesPlan(rule, location, length, zone, horizon, starts, report)


@transaction.atomic
def series_create(
    *,
    actor: User,
    patient: Patient | None,
    type: AppointmentType,
    starts_at: datetime.datetime,
    rrule: str,
    location: Location | None = None,
    duration_minutes: int | None = None,
    technician: User | None = None,
    room: Room | None = None,
    notes: str = "",
) -> tuple[RecurringSeries, list[Appointment]]:
    """Create a series and book its occurrences up to the horizon, or nothing at all."""
    plan = series_check(
        actor=actor,
        patient=patient,
        type=type,
        starts_at=starts_at,
        rrule=rrule,
        location=location,
        duration_minutes=duration_minutes,
        technician=technician,
        room=room,
    )
    rule, location, length, zone, horizon, starts = (
        plan.rule, plan.location, plan.length, plan.zone, plan.horizon, plan.starts,
    )  # fmt: skip
    if plan.report:
        raise _refuse(plan.report, len(starts), zone)
    series = RecurringSeries.objects.create(
        organization_id=location.organization_id,
        location=location,
        patient=patient,
        type=type,
        technician=technician,
        room=room,
        rrule=rule.text(),
        dtstart=starts_at,
        duration_minutes=int(length.total_seconds() // 60),
        timezone=str(zone),
        generated_until=horizon,
        notes=(notes or "").strip(),
        created_by=actor,
    )
    booked = [
        appointment_book(
            actor=actor,
            patient=patient,
            type=type,
            location=location,
            starts_at=start,
            ends_at=start + length,
            technician=technician,
            room=room,
            notes=series.notes,
            series=series,
            recurrence_id=start,
        )
        for start in starts
    ]
    audit_record(
        actor=actor,
        action="series.created",
        obj=series,
        details={"occurrences": len(booked), "rule": rule.freq},
    )
    return series, booked


# ---------------------------------------------------------------- extending


def series_extend(
    *, series: RecurringSeries, now: datetime.datetime | None = None
) -> tuple[int, list[str]]:
    """Book the occurrences that came inside the horizon since the last run. A date that
    cannot be booked any more (someone took the time) is skipped and audited, never forced.
    Returns (booked, skipped dates). Safe to run twice: occurrences are unique per series."""

    now = now or timezone.now()
    with transaction.atomic():
        series = (
            RecurringSeries.objects.select_for_update(of=("self",))
            .select_related("location", "type", "patient", "technician", "room")
            .get(pk=series.pk)
        )
        if series.ended_at is not None:
            return 0, []
        horizon = now + HORIZON
        zone = ZoneInfo(series.timezone)
        rule = rrule_parse(series.rrule)
        after = max(series.generated_until or series.dtstart, now)
        starts = occurrences(rule, dtstart=series.dtstart, zone=zone, after=after, until=horizon)
        existing = set(
            Appointment.objects.filter(series=series, recurrence_id__in=starts).values_list(
                "recurrence_id", flat=True
            )
        )
        booked, skipped = 0, []
        length = datetime.timedelta(minutes=series.duration_minutes)
        for start in starts:
            if start in existing:
                continue
            try:
                with transaction.atomic():
                    appointment_book(
                        actor=None,
                        patient=series.patient,
                        type=series.type,
                        location=series.location,
                        starts_at=start,
                        ends_at=start + length,
                        technician=series.technician,
                        room=series.room,
                        notes=series.notes,
                        series=series,
                        recurrence_id=start,
                    )
                booked += 1
            except (BookingConflict, BookingInvalid) as exc:
                day = start.astimezone(zone).date().isoformat()
                skipped.append(day)
                audit_record(
                    actor=None,
                    action="series.occurrence_skipped",
                    obj=series,
                    details={"date": day, "code": exc.code},
                )
        series.generated_until = horizon
        if not _has_more(rule, series.dtstart, zone, horizon):
            series.ended_at = now  # the rule has run out: nothing left to generate
        series.save(update_fields=["generated_until", "ended_at", "updated_at"])
        return booked, skipped


def series_extend_due(*, now: datetime.datetime | None = None) -> int:
    """The daily job: extend every running series whose horizon is less than a day ahead."""
    now = now or timezone.now()
    ids = list(
        RecurringSeries.objects.filter(
            ended_at__isnull=True, generated_until__lt=now + HORIZON - datetime.timedelta(days=1)
        ).values_list("pk", flat=True)
    )
    total = 0
    for pk in ids:
        booked, _ = series_extend(series=RecurringSeries(pk=pk), now=now)
        total += booked
    return total


# ---------------------------------------------------------------- edit and cancel by scope


def _targets(appointment: Appointment, scope: str) -> list[Appointment]:
    """The booked occurrences a scoped change applies to, in order."""
    if scope not in SCOPES:
        raise SeriesInvalid("Choose this occurrence, this and following, or all.")
    if scope == "this" or appointment.series_id is None:
        return [appointment]
    qs = Appointment.objects.filter(
        series_id=appointment.series_id, state=AppointmentState.BOOKED
    ).select_related("location", "type", "technician", "room", "patient")
    if scope == "following":
        qs = qs.filter(recurrence_id__gte=appointment.recurrence_id)
    else:
        qs = qs.filter(starts_at__gte=timezone.now())
    return list(qs.order_by("recurrence_id"))


def _shift_local(moment: datetime.datetime, delta: datetime.timedelta, zone: ZoneInfo) -> Any:
    local = moment.astimezone(zone).replace(tzinfo=None) + delta
    return local.replace(tzinfo=zone).astimezone(datetime.UTC)


@transaction.atomic
def series_cancel(
    *, actor: User, appointment: Appointment, scope: str, reason: str
) -> list[Appointment]:
    """Cancel this occurrence, this and the following ones, or all those still ahead; the
    latter two end the series so the daily job books no more."""
    if scope == "this" or appointment.series_id is None:
        return [appointment_cancel(actor=actor, appointment=appointment, reason=reason)]
    series = RecurringSeries.objects.select_for_update().get(pk=appointment.series_id)
    done = [
        appointment_cancel(actor=actor, appointment=target, reason=reason)
        for target in _targets(appointment, scope)
    ]
    if scope == "following" and appointment.recurrence_id is not None:
        _end_before(series, appointment.recurrence_id)
    series.ended_at = timezone.now()
    series.save(update_fields=["rrule", "ended_at", "updated_at"])
    audit_record(
        actor=actor,
        action="series.cancelled",
        obj=series,
        details={"scope": scope, "occurrences": len(done)},
    )
    return done


def _end_before(series: RecurringSeries, boundary: datetime.datetime) -> None:
    """Cut the rule so its last occurrence is before ``boundary`` (UNTIL, in UTC)."""
    rule = rrule_parse(series.rrule)
    last = boundary - datetime.timedelta(seconds=1)
    series.rrule = Rule(
        freq=rule.freq,
        interval=rule.interval,
        byday=rule.byday,
        until=last.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ"),
    ).text()


@transaction.atomic
def series_edit(
    *,
    actor: User,
    appointment: Appointment,
    scope: str,
    expected_version: int | None,
    starts_at: datetime.datetime | None = None,
    duration_minutes: int | None = None,
    technician: User | None = UNCHANGED,
    room: Room | None = UNCHANGED,
) -> list[Appointment]:
    """Change the time of day, length, technician or room of one occurrence, this and the
    following ones, or all those ahead. Every changed date is checked first; conflicts are
    reported per date and nothing is saved. Moving a series to another day is done one
    occurrence at a time (the rule's days stay as they are)."""
    if scope == "this" or appointment.series_id is None:
        start = starts_at or appointment.starts_at
        length = (
            datetime.timedelta(minutes=duration_minutes)
            if duration_minutes
            else appointment.ends_at - appointment.starts_at
        )
        return [
            appointment_move(
                actor=actor,
                appointment=appointment,
                starts_at=start,
                ends_at=start + length,
                expected_version=expected_version,
                technician=technician,
                room=room,
            )
        ]
    series = RecurringSeries.objects.select_for_update().get(pk=appointment.series_id)
    current = Appointment.objects.get(pk=appointment.pk)
    if expected_version is not None and current.version != expected_version:
        # appointment_move words the refusal (with the current values) the same way.
        appointment_move(
            actor=actor,
            appointment=current,
            starts_at=current.starts_at,
            expected_version=expected_version,
        )
    zone = ZoneInfo(series.timezone)
    delta = datetime.timedelta(0)
    if starts_at is not None:
        delta = starts_at.astimezone(zone).replace(tzinfo=None) - current.starts_at.astimezone(
            zone
        ).replace(tzinfo=None)
        if starts_at.astimezone(zone).date() != current.starts_at.astimezone(zone).date():
            raise SeriesInvalid(
                "A series keeps its days: change the time of day here, or move one occurrence "
                "on its own."
            )
    length = datetime.timedelta(minutes=duration_minutes or series.duration_minutes)
    new_tech = series.technician if technician is UNCHANGED else technician
    new_room = series.room if room is UNCHANGED else room
    targets = _targets(current, scope)
    planned = {t.pk: _shift_local(t.starts_at, delta, zone) for t in targets}
    for target in targets:
        booking_validate(
            actor=actor,
            location=target.location,
            appointment_type=target.type,
            patient=target.patient,
            technician=new_tech,
            room=new_room,
            starts_at=planned[target.pk],
            ends_at=planned[target.pk] + length,
        )
    report = _check_dates(
        organization_id=series.organization_id,
        appointment_type=series.type,
        starts=[planned[t.pk] for t in targets],
        length=length,
        technician=new_tech,
        room=new_room,
        patient=series.patient,
        zone=zone,
        exclude={planned[t.pk]: t.pk for t in targets},
    )
    if report:
        raise _refuse(report, len(targets), zone)
    moved = [
        appointment_move(
            actor=actor,
            appointment=target,
            starts_at=planned[target.pk],
            ends_at=planned[target.pk] + length,
            expected_version=target.version,
            technician=new_tech,
            room=new_room,
        )
        for target in targets
    ]
    _series_follow(
        series, current=current, scope=scope, delta=delta, length=length, tech=new_tech,
        room=new_room, moved=moved, zone=zone, actor=actor,
    )  # fmt: skip
    return moved


def _series_follow(
    series: RecurringSeries,
    *,
    current: Appointment,
    scope: str,
    delta: datetime.timedelta,
    length: datetime.timedelta,
    tech: User | None,
    room: Room | None,
    moved: list[Appointment],
    zone: ZoneInfo,
    actor: User,
) -> None:
    """Make the rule generate what the edited occurrences now look like. ``all`` changes the
    series in place; ``following`` splits it: the old series ends before this occurrence and a
    new one carries on from it (the moved occurrences move to the new series)."""
    minutes = int(length.total_seconds() // 60)
    if scope == "all" or current.recurrence_id is None or current.recurrence_id <= series.dtstart:
        target = series
        target.dtstart = _shift_local(series.dtstart, delta, zone)
    else:
        rule = rrule_parse(series.rrule)
        count = None
        if rule.count is not None:
            before = occurrences(
                rule,
                dtstart=series.dtstart,
                zone=zone,
                until=current.recurrence_id - datetime.timedelta(seconds=1),
            )
            count = max(rule.count - len(before), 1)
        _end_before(series, current.recurrence_id)
        series.ended_at = timezone.now()
        series.save(update_fields=["rrule", "ended_at", "updated_at"])
        target = RecurringSeries.objects.create(
            organization_id=series.organization_id,
            location_id=series.location_id,
            patient_id=series.patient_id,
            type_id=series.type_id,
            rrule=Rule(
                freq=rule.freq,
                interval=rule.interval,
                byday=rule.byday,
                count=count,
                until=rule.until,
            ).text(),
            dtstart=_shift_local(current.recurrence_id, delta, zone),
            duration_minutes=minutes,
            timezone=series.timezone,
            generated_until=series.generated_until,
            notes=series.notes,
            created_by=actor,
        )
    target.duration_minutes = minutes
    target.technician = tech
    target.room = room
    target.save()
    for appt in moved:
        assert appt.recurrence_id is not None
        appt.series = target
        appt.recurrence_id = _shift_local(appt.recurrence_id, delta, zone)
        appt.save(update_fields=["series", "recurrence_id", "updated_at"])
    audit_record(
        actor=actor,
        action="series.changed",
        obj=target,
        details={"scope": scope, "occurrences": len(moved), "split_from": str(series.public_id)},
    )
