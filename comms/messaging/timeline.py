"""One timeline per patient: SMS, email, reminders, notes and system events, newest first.

Apps add what they know with ``timeline_source_register(fn)``; ``fn(*, user, patient, since=None,
kinds=None)`` returns ``TimelineEntry`` rows the user may see (each source checks its own
permissions and runs a fixed number of queries). comms registers its messages, notes and patient
status changes here; comms-gmail registers email and scheduling-ui appointments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.urls import reverse

from comms.messaging.permissions import can_message_patient, can_see_clinical_timeline
from comms.models import Channel, Message
from patients.models import PatientNote, PatientStatus, PatientStatusChange

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "sms", "email", "reminder", "note", "status", "appointment", ...
    title: str
    detail: str = ""
    url: str = ""


TimelineSource = Callable[..., list[TimelineEntry]]

# Filter chips of the communications tab, in order (sources may add other kinds).
KIND_LABELS: dict[str, str] = {
    "sms": "Text messages",
    "email": "Email",
    "reminder": "Reminders",
    "note": "Notes",
    "status": "Status changes",
    "appointment": "Appointments",
}
REMINDER_PURPOSES = frozenset({"appointment_reminder", "resupply_reminder", "reminder"})
PER_SOURCE = 100

_SOURCES: dict[str, TimelineSource] = {}


def timeline_source_register(fn: TimelineSource) -> TimelineSource:
    """Add (or replace, by dotted name) a source of timeline entries. Usable as a decorator."""
    _SOURCES[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def timeline_for(
    *,
    user: User,
    patient: Patient,
    since: datetime | None = None,
    kinds: Iterable[str] | None = None,
    limit: int = PER_SOURCE,
) -> list[TimelineEntry]:
    """Every source's entries for ``patient``, newest first (at most ``limit``)."""
    wanted = set(kinds) if kinds else None
    entries: list[TimelineEntry] = []
    for source in list(_SOURCES.values()):
        for entry in source(user=user, patient=patient, since=since, kinds=wanted):
            if wanted is None or entry.kind in wanted:
                entries.append(entry)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def _wants(kinds: set[str] | None, *names: str) -> bool:
    return kinds is None or bool(kinds.intersection(names))


# ---------------------------------------------------------------- comms' own sources

_DIRECTION_TITLE = {"outbound": "Text sent", "inbound": "Text received"}


def messages_source(
    *, user: User, patient: Patient, since: datetime | None = None, kinds: Any = None
) -> list[TimelineEntry]:

    if not _wants(kinds, "sms", "reminder") or not can_message_patient(user, patient):
        return []
    qs = Message.objects.filter(patient=patient, channel=Channel.SMS)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    url = reverse("comms:patient", kwargs={"public_id": patient.public_id})
    entries = []
    for m in qs.order_by("-created_at", "-id")[:PER_SOURCE]:
        reminder = m.purpose in REMINDER_PURPOSES
        title = "Reminder sent" if reminder else _DIRECTION_TITLE.get(m.direction, "Text")
        status = m.get_status_display()
        if m.not_really_sent:
            status += " · not really sent (development gateway)"
        entries.append(
            TimelineEntry(
                at=m.created_at,
                kind="reminder" if reminder else "sms",
                title=f"{title} · {status}",
                detail=m.body,
                url=f"{url}#message-{m.public_id}",
            )
        )
    return entries


def notes_source(
    *, user: User, patient: Patient, since: datetime | None = None, kinds: Any = None
) -> list[TimelineEntry]:

    if not _wants(kinds, "note") or not can_see_clinical_timeline(user, patient):
        return []
    qs = PatientNote.objects.filter(patient=patient).select_related("author")
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return [
        TimelineEntry(
            at=n.created_at,
            kind="note",
            title=f"Note by {n.author or 'System'}",
            detail=n.text,
        )
        for n in qs.order_by("-created_at")[:PER_SOURCE]
    ]


def status_source(
    *, user: User, patient: Patient, since: datetime | None = None, kinds: Any = None
) -> list[TimelineEntry]:

    if not _wants(kinds, "status") or not can_see_clinical_timeline(user, patient):
        return []
    labels = dict(PatientStatus.choices)
    qs = PatientStatusChange.objects.filter(patient=patient).select_related("actor")
    if since is not None:
        qs = qs.filter(at__gte=since)
    return [
        TimelineEntry(
            at=c.at,
            kind="status",
            title=f"Status: {labels.get(c.from_status, c.from_status)} → "
            f"{labels.get(c.to_status, c.to_status)}",
            detail=c.reason,
        )
        for c in qs.order_by("-at")[:PER_SOURCE]
    ]
