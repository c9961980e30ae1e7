"""Appointments on the patient's communications timeline (comms.messaging.timeline source)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.urls import reverse

from clinic.tenancy import scope_queryset
from comms.messaging.timeline import TimelineEntry
from patients.record.permissions import FULL, access_level
from scheduling.models import Appointment

if TYPE_CHECKING:
    from clinic.models import User

TIMELINE_LIMIT = 100


def appointments_timeline(
    *, user: User, patient: Any, since: datetime.datetime | None = None, kinds: Any = None
) -> list[Any]:

    if kinds is not None and "appointment" not in kinds:
        return []
    level = access_level(user, patient)
    if level is None:
        return []
    qs = (
        scope_queryset(Appointment.objects.all(), user, all_locations=True)
        .filter(patient=patient)
        .select_related("type", "location")
        .order_by("-starts_at", "-id")
    )
    if level != FULL:
        qs = qs.filter(technician=user)  # a technician's limited view: their own visits
    if since is not None:
        qs = qs.filter(starts_at__gte=since)
    return [
        TimelineEntry(
            at=a.starts_at,
            kind="appointment",
            title=f"{a.type.name} ({a.get_state_display().lower()})",
            detail=a.location.name,
            url=reverse("scheduling:appointment", kwargs={"public_id": a.public_id}),
        )
        for a in qs[:TIMELINE_LIMIT]
    ]
