"""The calendar's JSON API (mounted at /schedule/api/): one view per operation, explicit
serializers, scoped to the user's calendar locations before anything else happens.

- ``GET events``: the appointments of one location in a date range, FullCalendar-shaped.
- ``POST appointments/<public_id>/move``: a drag or resize, re-validated by scheduling-core's
  move service (conflicts, working hours, the version the browser last saw); a refusal is
  ``{"error": {"code", "message"}}`` with the explanation to show.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api import staff
from clinic.errors import ApplicationError, NotFound, PermissionDenied
from clinic.models import User
from clinic.realtime.services import stream_version
from clinic.tenancy import get_scoped, scope_queryset
from patients.record.permissions import full_access_location_ids
from scheduling.booking import services
from scheduling.calendar.realtime import calendar_stream_key
from scheduling.models import ACTIVE_STATES, Appointment, AppointmentState, AppointmentType
from scheduling.permissions import (
    calendar_location,
    can_book_at,
    location_zone,
    parse_when,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from clinic.models import Location

MAX_RANGE = datetime.timedelta(days=62)
LONGEST_APPOINTMENT = datetime.timedelta(hours=24)
HIDDEN_STATES = (AppointmentState.CANCELLED, AppointmentState.ENTERED_IN_ERROR)
NO_TECHNICIAN = "none"


def _local(moment: datetime.datetime, zone: ZoneInfo) -> str:
    """FullCalendar with a named time zone and no zone plugin expects local times, no offset."""
    return moment.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")


def _text_color(color: str) -> str:
    """Dark text on light type colours, white on dark ones."""
    try:
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        return "#ffffff"
    return "#111827" if (0.299 * r + 0.587 * g + 0.114 * b) > 160 else "#ffffff"


_EVENT_FIELDS = (
    "public_id",
    "starts_at",
    "ends_at",
    "state",
    "version",
    "type__public_id",
    "type__name",
    "type__color",
    "patient__public_id",
    "patient__first_name",
    "patient__last_name",
    "patient__home_location_id",
    "technician__public_id",
    "technician__full_name",
)


def calendar_appointments(
    user: User,
    location: Location,
    *,
    start: datetime.datetime,
    end: datetime.datetime,
    technician: str | None = None,
    type_: str | None = None,
) -> list[tuple[Any, ...]]:
    """What a calendar of ``location`` shows in ``[start, end)``, one query, as plain tuples
    in ``_EVENT_FIELDS`` order: a busy week is hundreds of rows, and building four model
    instances per row (appointment, type, patient, technician) cost more than the query."""
    qs = (
        scope_queryset(Appointment.objects.all(), user)
        .filter(location=location, starts_at__lt=end, ends_at__gt=start)
        # A lower bound on starts_at too, so the (location, starts_at) index is read for the
        # range only, not for every earlier year (types last at most a day: a check constraint).
        .filter(starts_at__gt=start - LONGEST_APPOINTMENT)
        .exclude(state__in=HIDDEN_STATES)
        .order_by("starts_at", "id")
    )
    if technician == NO_TECHNICIAN:
        qs = qs.filter(technician__isnull=True)
    elif technician:
        qs = qs.filter(technician__public_id=technician)
    if type_:
        qs = qs.filter(type__public_id=type_)
    return list(qs.values_list(*_EVENT_FIELDS))


_ZERO = "00000000-0000-0000-0000-000000000000"


class EventBuilder:
    """FullCalendar events from ``calendar_appointments`` rows, built as plain dicts (a
    serializer per row costs more than the query; ``EventOut`` documents the shape). What is
    the same for every row (URL template, text colours, who may edit, whose names show) is
    worked out once."""

    def __init__(self, user: User, location: Location, zone: ZoneInfo) -> None:
        self.zone = zone
        self.can_edit = can_book_at(user, location)
        self.full_ids = full_access_location_ids(user)
        self.all_names = user.is_org_admin
        self.template = reverse("scheduling:appointment", kwargs={"public_id": _ZERO})
        self.text_colors: dict[str, str] = {}

    def label(self, public_id: Any, first: str, last: str, home_location_id: int) -> str:
        """The same rule as ``views_access.patient_label``: names where whole records show."""
        if public_id is None:
            return ""
        if self.all_names or home_location_id in self.full_ids:
            return f"{last}, {first[:1]}."
        return f"Patient {str(public_id)[:8]}"

    def event(self, row: tuple[Any, ...]) -> dict[str, Any]:
        (public_id, starts_at, ends_at, state, version, type_id, type_name, color,
         patient_id, first, last, home, tech_id, tech_name) = row  # fmt: skip
        label = self.label(patient_id, first, last, home)
        text_color = self.text_colors.get(color)
        if text_color is None:
            text_color = self.text_colors[color] = _text_color(color)
        public = str(public_id)
        return {
            "id": public,
            "title": type_name + (f" · {label}" if label else ""),
            "start": _local(starts_at, self.zone),
            "end": _local(ends_at, self.zone),
            "color": color,
            "text_color": text_color,
            "state": state,
            "version": version,
            "type": str(type_id),
            "technician": str(tech_id) if tech_id else None,
            "technician_name": tech_name or "",
            "url": self.template.replace(_ZERO, public),
            "editable": self.can_edit and state in ACTIVE_STATES,
        }


# ---------------------------------------------------------------- events in a range


class EventsQuery(serializers.Serializer):
    location = serializers.UUIDField()
    start = serializers.CharField(max_length=40)
    end = serializers.CharField(max_length=40)
    technician = serializers.CharField(max_length=40, required=False, allow_blank=True)
    type = serializers.UUIDField(required=False, allow_null=True)

    def validate_technician(self, value: str) -> str:
        if value in ("", NO_TECHNICIAN):
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError as exc:
            raise serializers.ValidationError("Pick a technician from the list.") from exc


class EventOut(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    start = serializers.CharField()
    end = serializers.CharField()
    color = serializers.CharField()
    text_color = serializers.CharField()
    state = serializers.CharField()
    version = serializers.IntegerField()
    type = serializers.UUIDField()
    technician = serializers.UUIDField(allow_null=True)
    technician_name = serializers.CharField()
    url = serializers.CharField()
    editable = serializers.BooleanField()


class EventsOut(serializers.Serializer):
    version = serializers.IntegerField(help_text="The location's calendar stream version")
    timezone = serializers.CharField()
    events = EventOut(many=True)


class CalendarEventsView(APIView):
    """Appointments of one location between ``start`` and ``end`` (at most 62 days)."""

    @extend_schema(
        parameters=[EventsQuery],
        responses=EventsOut,
        operation_id="schedule_events",
    )
    def get(self, request: Request) -> Response:
        user = staff(request)
        query = EventsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        location = calendar_location(user, data["location"])
        zone = location_zone(location)
        start, end = parse_when(data["start"], zone), parse_when(data["end"], zone)
        if start is None or end is None or end <= start:
            raise ApplicationError("Give a start and an end date, the end after the start.")
        if end - start > MAX_RANGE:
            raise ApplicationError("Ask for at most 62 days at a time.")
        version = stream_version(calendar_stream_key(location.pk))
        rows = calendar_appointments(
            user,
            location,
            start=start,
            end=end,
            technician=data.get("technician") or None,
            type_=str(data["type"]) if data.get("type") else None,
        )
        builder = EventBuilder(user, location, zone)
        events = [builder.event(row) for row in rows]
        return Response({"version": version, "timezone": str(zone), "events": events})


# ---------------------------------------------------------------- move (drag and drop, resize)


class MoveIn(serializers.Serializer):
    start = serializers.CharField(max_length=40)
    end = serializers.CharField(max_length=40)
    version = serializers.IntegerField(min_value=1)
    technician = serializers.UUIDField(required=False, allow_null=True)


class MoveOut(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.IntegerField()
    start = serializers.CharField()
    end = serializers.CharField()


def appointment_for_change(user: User, public_id: Any) -> Appointment:
    """An appointment the user may move or act on (NotFound when not visible)."""
    appointment = get_scoped(
        Appointment.objects.select_related("location", "type", "technician"),
        user,
        public_id=public_id,
    )
    if not can_book_at(user, appointment.location):
        raise PermissionDenied("You may look at this calendar but not change it.")
    return appointment


class AppointmentMoveView(APIView):
    """Move or resize one appointment; the server decides, the browser only proposes."""

    @extend_schema(request=MoveIn, responses=MoveOut, operation_id="schedule_appointment_move")
    def post(self, request: Request, public_id: uuid.UUID) -> Response:

        user = staff(request)
        appointment = appointment_for_change(user, public_id)
        body = MoveIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        zone = location_zone(appointment.location)
        start, end = parse_when(data["start"], zone), parse_when(data["end"], zone)
        if start is None or end is None:
            raise ApplicationError("That time could not be read. Drag the visit again.")
        kwargs: dict[str, Any] = {}
        if "technician" in data:
            kwargs["technician"] = _technician(user, data["technician"])
        moved = services.appointment_move(
            actor=user,
            appointment=appointment,
            starts_at=start,
            ends_at=end,
            expected_version=data["version"],
            **kwargs,
        )
        return Response(
            MoveOut(
                {
                    "id": moved.public_id,
                    "version": moved.version,
                    "start": _local(moved.starts_at, zone),
                    "end": _local(moved.ends_at, zone),
                }
            ).data
        )


def _technician(user: User, public_id: uuid.UUID | None) -> User | None:
    if public_id is None:
        return None
    try:
        return get_scoped(User.objects.all(), user, public_id=public_id)
    except NotFound as exc:
        raise ApplicationError("Pick a technician from the board.") from exc


__all__ = ["AppointmentMoveView", "AppointmentType", "CalendarEventsView"]
