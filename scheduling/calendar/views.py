"""Portal pages of the calendar: month / week / day, the dispatch board (a day column per
technician), one appointment with its state actions, and the patient record's Appointments tab.

The pages render a shell; FullCalendar (static/src/calendar.js) loads the events from
``scheduling.calendar.api`` and follows the location's live stream. Writes call scheduling-core's
services; their refusals come back as a readable message.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinic import times
from clinic.audit.services import audit_access
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.models import Location, User
from clinic.tenancy import get_scoped, scope_queryset
from clinic.web import actor
from patients.record.permissions import access_level, can_see_section
from patients.record.selectors import patient_get_visible
from scheduling.booking import services
from scheduling.booking.forms import choices_set
from scheduling.booking.selectors import location_technicians, organization_types
from scheduling.booking.services import UNCHANGED
from scheduling.calendar.realtime import calendar_stream_name
from scheduling.models import ACTIVE_STATES, Appointment, AppointmentState, AppointmentType
from scheduling.permissions import (
    calendar_locations,
    can_book_at,
    can_use_calendar,
    can_view_calendar,
    location_among,
    location_zone,
)
from scheduling.series.services import SeriesInvalid, rrule_parse, series_cancel, series_edit

calendar_page = staff_required(check=can_use_calendar)

VIEWS = {
    "month": "dayGridMonth",
    "week": "timeGridWeek",
    "day": "timeGridDay",
}
FC_TO_VIEW = {v: k for k, v in VIEWS.items()}


class CalendarFilterForm(forms.Form):
    location = forms.ChoiceField(label="Location", required=False)
    technician = forms.ChoiceField(label="Technician", required=False)
    type = forms.ChoiceField(label="Type", required=False)
    view = forms.ChoiceField(
        label="View",
        required=False,
        choices=[(k, k.capitalize()) for k in VIEWS] + [(v, v) for v in VIEWS.values()],
    )
    date = forms.DateField(label="Date", required=False)

    def __init__(
        self,
        data: Any,
        *,
        locations: list[Location],
        technicians: list[User],
        types: list[AppointmentType],
    ) -> None:
        super().__init__(data)
        choices_set(self, "location", [(str(loc.public_id), loc.name) for loc in locations])
        choices_set(
            self,
            "technician",
            [
                ("", "All technicians"),
                ("none", "No technician"),
            ]
            + [(str(t.public_id), t.full_name) for t in technicians],
        )
        choices_set(self, "type", [("", "All types")] + [(str(t.public_id), t.name) for t in types])


def _calendar_context(request: HttpRequest) -> dict[str, Any]:
    """The location, filters and lists both calendar pages share (a fixed number of queries)."""
    user = actor(request)
    locations = list(calendar_locations(user))
    if not locations:
        raise Http404
    wanted = request.GET.get("location")
    location = location_among(locations, wanted) if wanted else locations[0]
    technicians = list(location_technicians(location))
    types = list(organization_types(user))
    form = CalendarFilterForm(
        request.GET or None, locations=locations, technicians=technicians, types=types
    )
    data: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # errors show; valid filters still apply
        data = form.cleaned_data
    zone = location_zone(location)
    day = data.get("date") or timezone.now().astimezone(zone).date()
    return {
        "location": location,
        "locations": locations,
        "technicians": technicians,
        "types": types,
        "form": form,
        "technician": data.get("technician") or "",
        "type": data.get("type") or "",
        "view": VIEWS.get(data.get("view") or "", data.get("view") or "timeGridWeek"),
        "day": day,
        "zone": str(zone),
        "stream": calendar_stream_name(location),
        "can_book": can_book_at(user, location),
    }


@calendar_page
def calendar(request: HttpRequest) -> HttpResponse:
    context = _calendar_context(request)
    context["view_name"] = FC_TO_VIEW.get(context["view"], "week")
    audit_access(
        actor=actor(request),
        obj=context["location"],
        action="calendar.viewed",
        details={"view": context["view_name"]},
    )
    return render(request, "scheduling/calendar.html", context)


@calendar_page
def dispatch(request: HttpRequest) -> HttpResponse:
    context = _calendar_context(request)
    technician = context["technician"]
    columns: list[dict[str, Any]] = [
        {"public_id": str(t.public_id), "name": t.full_name}
        for t in context["technicians"]
        if not technician or technician == str(t.public_id)
    ]
    if not technician or technician == "none":
        columns.append({"public_id": "", "name": "No technician"})
    context["columns"] = columns
    context["previous_day"] = context["day"] - datetime.timedelta(days=1)
    context["next_day"] = context["day"] + datetime.timedelta(days=1)
    audit_access(
        actor=actor(request),
        obj=context["location"],
        action="calendar.viewed",
        details={"view": "dispatch"},
    )
    return render(request, "scheduling/dispatch.html", context)


# ---------------------------------------------------------------- one appointment


def _appointment_visible(user: User, public_id: uuid.UUID) -> Appointment:
    appointment = get_scoped(
        Appointment.objects.select_related(
            "location", "type", "patient", "patient__home_location", "technician", "room", "series"
        ),
        user,
        public_id=public_id,
    )
    if not can_view_calendar(user, appointment.location):
        raise Http404
    return appointment


SCOPE_CHOICES = [
    ("this", "This visit only"),
    ("following", "This and the following visits"),
    ("all", "All visits still ahead"),
]


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        help_text="Told to whoever looks at this appointment later, not to the patient.",
    )
    scope = forms.ChoiceField(
        label="Which visits",
        choices=SCOPE_CHOICES,
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose this visit, this and following, or all."},
    )


class SeriesEditForm(forms.Form):
    """Change the time of day, length or technician of visits of a series."""

    time = forms.TimeField(
        label="Time of day",
        widget=forms.TimeInput(attrs={"type": "time"}),
        error_messages={"invalid": "Give a time like 09:30."},
    )
    duration = forms.IntegerField(
        label="Length (minutes)",
        min_value=5,
        max_value=480,
        error_messages={
            "min_value": "From 5 to 480 minutes.",
            "max_value": "From 5 to 480 minutes.",
        },
    )
    technician = forms.ChoiceField(label="Technician", required=False)
    scope = forms.ChoiceField(
        label="Which visits",
        choices=SCOPE_CHOICES,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose this visit, this and following, or all.",
            "invalid_choice": "Choose this visit, this and following, or all.",
        },
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, data: Any = None, *, technicians: list[User], **kw: Any) -> None:
        super().__init__(data, **kw)
        choices_set(
            self,
            "technician",
            [("", "Keep as is"), ("none", "No technician")]
            + [(str(t.public_id), t.full_name) for t in technicians],
        )


ACTIONS: dict[str, tuple[str, str]] = {
    # action in the URL: (service function, message)
    "check-in": ("appointment_check_in", "Checked in."),
    "start": ("appointment_start", "Visit started."),
    "complete": ("appointment_complete", "Visit completed."),
    "no-show": ("appointment_no_show", "Marked as a no-show."),
}


DAY_BOUND_SERVICES = frozenset(
    {"appointment_check_in", "appointment_start", "appointment_complete"}
)


def available_actions(appointment: Appointment) -> list[tuple[str, str]]:
    """The state actions that make sense now (the service still decides)."""
    state = appointment.state
    if state == AppointmentState.BOOKED:
        return [("check-in", "Check in"), ("no-show", "No-show")]
    if state == AppointmentState.CHECKED_IN:
        return [("start", "Start visit"), ("complete", "Complete")]
    if state == AppointmentState.IN_PROGRESS:
        return [("complete", "Complete")]
    return []


@calendar_page
def appointment_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    appointment = _appointment_visible(user, public_id)
    if appointment.patient is not None:
        audit_access(
            actor=user,
            obj=appointment.patient,
            action="patient.viewed",
            details={"appointment": str(appointment.public_id)},
        )
    can_change = can_book_at(user, appointment.location)
    zone = location_zone(appointment.location)
    return render(
        request,
        "scheduling/appointment.html",
        _detail_context(user, appointment, zone, can_change),
    )


def _detail_context(
    user: User,
    appointment: Appointment,
    zone: Any,
    can_change: bool,
    edit_form: SeriesEditForm | None = None,
    series_error: str = "",
    series_dates: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    level = access_level(user, appointment.patient) if appointment.patient else None
    in_series = appointment.series_id is not None
    if in_series and edit_form is None and can_change:
        local = appointment.starts_at.astimezone(zone)
        edit_form = SeriesEditForm(
            technicians=list(location_technicians(appointment.location)),
            initial={
                "time": local.strftime("%H:%M"),
                "duration": int(
                    (appointment.ends_at - appointment.starts_at).total_seconds() // 60
                ),
                "scope": "this",
                "version": appointment.version,
            },
        )
    return {
        "appointment": appointment,
        "in_series": in_series,
        "series_words": rule_words(appointment.series.rrule) if appointment.series else "",
        "edit_form": edit_form,
        "series_error": series_error,
        "series_dates": series_dates or [],
        "zone": str(zone),
        "show_patient": can_see_section(level, "identity"),
        "can_change": can_change and appointment.state in ACTIVE_STATES,
        "actions": available_actions(appointment) if can_change else [],
        # Check-in, start and complete are refused on another day unless staff give a reason.
        "not_today": times.local(appointment.starts_at, appointment.location).date()
        != times.local_today(appointment.location),
        "day_bound": ("check-in", "start", "complete"),
        "cancel_form": CancelForm(initial={"scope": "this"}),
        "calendar_url": reverse("scheduling:calendar")
        + f"?location={appointment.location.public_id}"
        f"&view=day&date={appointment.starts_at.astimezone(zone).date()}",
    }


_FREQ_WORDS = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}
_DAY_WORDS = {
    "MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat", "SU": "Sun"
}  # fmt: skip


def rule_words(rrule: str) -> str:
    """A series' rule as a person says it: "Every 2 weeks on Mon, Thu, 8 visits"."""

    try:
        rule = rrule_parse(rrule)
    except SeriesInvalid:
        return rrule
    unit = _FREQ_WORDS[rule.freq]
    text = f"Every {rule.interval} {unit}s" if rule.interval > 1 else f"Every {unit}"
    if rule.byday:
        text += " on " + ", ".join(_DAY_WORDS.get(d[-2:], d) for d in rule.byday)
    if rule.count:
        text += f", {rule.count} visits"
    if rule.until:
        until = rule.until[:8]
        text += f", until {until[:4]}-{until[4:6]}-{until[6:]}"
    return text


@calendar_page
@require_POST
def appointment_cancel(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:

    user = actor(request)
    appointment = _appointment_visible(user, public_id)
    if not can_book_at(user, appointment.location):
        raise Http404
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            str(form.errors["scope"][0]) if "scope" in form.errors else "Say why it is cancelled.",
        )
        return redirect("scheduling:appointment", public_id=public_id)
    scope = form.cleaned_data.get("scope") or "this"
    try:
        if appointment.series_id is not None and scope != "this":
            done = series_cancel(
                actor=user,
                appointment=appointment,
                scope=scope,
                reason=form.cleaned_data["reason"],
            )
        else:
            done = [
                services.appointment_cancel(
                    actor=user, appointment=appointment, reason=form.cleaned_data["reason"]
                )
            ]
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("scheduling:appointment", public_id=public_id)
    if len(done) > 1:
        messages.success(request, f"{len(done)} visits of the series cancelled.")
    else:
        messages.success(request, "Appointment cancelled. The slot is free again.")
    return redirect(reverse("scheduling:calendar") + f"?location={appointment.location.public_id}")


@calendar_page
@require_POST
def appointment_series_edit(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Time of day, length or technician of this visit, this and the following, or all."""

    user = actor(request)
    appointment = _appointment_visible(user, public_id)
    if not can_book_at(user, appointment.location) or appointment.series_id is None:
        raise Http404
    zone = location_zone(appointment.location)
    technicians = list(location_technicians(appointment.location))
    form = SeriesEditForm(request.POST, technicians=technicians)
    error = ""
    dates: list[dict[str, Any]] = []
    if form.is_valid():
        data = form.cleaned_data
        local_day = appointment.starts_at.astimezone(zone).date()
        starts_at = datetime.datetime.combine(local_day, data["time"], tzinfo=zone)
        technician: Any = None
        if data["technician"] == "":
            technician = UNCHANGED
        elif data["technician"] != "none":
            technician = next(
                (t for t in technicians if str(t.public_id) == data["technician"]), None
            )
            if technician is None:
                form.add_error("technician", "Pick a technician from the list.")
        if not form.errors:
            try:
                moved = series_edit(
                    actor=user,
                    appointment=appointment,
                    scope=data["scope"],
                    expected_version=data["version"],
                    starts_at=starts_at,
                    duration_minutes=data["duration"],
                    technician=technician,
                )
            except ApplicationError as exc:
                error = exc.message
                for row in (exc.extra or {}).get("dates") or []:
                    when = datetime.datetime.fromisoformat(row["starts_at"]).astimezone(zone)
                    dates.append({"time": when.replace(tzinfo=None), "problems": row["problems"]})
            else:
                messages.success(
                    request,
                    f"{len(moved)} visits changed." if len(moved) > 1 else "Visit changed.",
                )
                return redirect("scheduling:appointment", public_id=public_id)
    appointment.refresh_from_db()
    context = _detail_context(user, appointment, zone, True, form, error, dates)
    return render(request, "scheduling/appointment.html", context, status=400)


@calendar_page
@require_POST
def appointment_action(request: HttpRequest, public_id: uuid.UUID, action: str) -> HttpResponse:
    user = actor(request)
    appointment = _appointment_visible(user, public_id)
    if action not in ACTIONS or not can_book_at(user, appointment.location):
        raise Http404
    state_action_run(request, appointment, ACTIONS[action])
    return redirect("scheduling:appointment", public_id=public_id)


def state_action_run(
    request: HttpRequest, appointment: Appointment, action: tuple[str, str]
) -> None:
    """Call one of scheduling-core's state services; its refusal becomes the page's message."""

    service_name, done = action
    extra: dict[str, str] = {}
    if service_name in DAY_BOUND_SERVICES and request.POST.get("not_today"):
        # Office staff recording a visit on another day than its own (the service decides who).
        extra["override_reason"] = request.POST.get("reason", "")
    try:
        getattr(services, service_name)(actor=actor(request), appointment=appointment, **extra)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)


# ---------------------------------------------------------------- patient record tab

PAST_LIMIT = 50


@dataclass(frozen=True)
class AppointmentRow:
    appointment: Appointment
    local_start: datetime.datetime  # naive, in the appointment's location's time zone

    @classmethod
    def of(cls, appointment: Appointment) -> AppointmentRow:
        zone = location_zone(appointment.location)
        return cls(appointment, appointment.starts_at.astimezone(zone).replace(tzinfo=None))


@staff_required
def patient_appointments(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = patient_get_visible(user, public_id)
    level = access_level(user, patient)
    if level is None:
        raise Http404
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": "appointments"})
    now = timezone.now()
    rows = (
        scope_queryset(Appointment.objects.all(), user, all_locations=True)
        .filter(patient=patient)
        .select_related("type", "location", "technician")
    )
    if level != "full":
        rows = rows.filter(technician=user)  # a technician's limited view: their own visits
    upcoming = [
        AppointmentRow.of(a)
        for a in rows.filter(ends_at__gte=now).order_by("starts_at", "id")[:PAST_LIMIT]
    ]
    past = [
        AppointmentRow.of(a)
        for a in rows.filter(ends_at__lt=now).order_by("-starts_at", "-id")[:PAST_LIMIT]
    ]
    book_locations = [loc for loc in calendar_locations(user) if can_book_at(user, loc)]
    return render(
        request,
        "scheduling/patient_appointments.html",
        {
            "patient": patient,
            "full": level == "full",
            "upcoming": upcoming,
            "past": past,
            "can_book": bool(book_locations),
            "limit": PAST_LIMIT,
            "today": datetime.date.today(),
        },
    )
