"""A field technician's pages, made for a phone: "my day" (visits in order with the address,
a map link, the patient's contact, an equipment checklist and check in / complete buttons) and
"my availability" (own weekly hours and dated exceptions).

A technician sees only their own visits, and of each patient only what DOMAIN.md allows them:
name, contact, address. Every write calls one of scheduling-core's services.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from clinic.audit.services import audit_access
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.models import User
from clinic.tenancy import scope_queryset
from clinic.times import local_today
from clinic.web import actor
from scheduling.availability.services import (
    availability_exceptions_clear,
    availability_exceptions_set,
    working_hours_set,
)
from scheduling.calendar.views import state_action_run
from scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentState,
    AvailabilityException,
    TechnicianProfile,
    WorkingHours,
)
from scheduling.permissions import is_technician, location_zone

field_page = staff_required(check=is_technician)

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# What to bring, per visit kind, until the equipment app gives each visit its own list.
CHECKLISTS: dict[str, list[str]] = {
    AppointmentKind.EQUIPMENT_SETUP: ["PAP device", "Mask (fitted size)", "Tubing", "Humidifier"],
    AppointmentKind.HOME_TESTING: ["Home sleep test kit", "Sensors and belts", "Return bag"],
    AppointmentKind.SUPPLY_PICKUP: ["Supplies on the order", "Delivery ticket"],
    AppointmentKind.FOLLOW_UP: ["Compliance report", "Spare cushions"],
    AppointmentKind.DIAGNOSTIC_STUDY: ["Study equipment"],
}

FIELD_ACTIONS = {
    "check-in": ("appointment_check_in", "Checked in."),
    "complete": ("appointment_complete", "Visit completed."),
}


def _profile(user: User) -> TechnicianProfile | None:
    return (
        scope_queryset(TechnicianProfile.objects.select_related("home_location"), user)
        .filter(user=user)
        .first()
    )


def _address(patient: Any) -> str:
    parts = [patient.address_line1, patient.address_line2, patient.city, patient.state]
    text = ", ".join(p for p in parts if p)
    return f"{text} {patient.postal_code}".strip()


def _map_link(address: str) -> str:
    # The technician's own maps app does the routing; nothing but the address goes there.
    return "https://www.google.com/maps/search/?" + urlencode({"api": 1, "query": address})


@dataclass(frozen=True)
class DayVisit:
    """One visit on "my day", with what the page shows about it."""

    appointment: Appointment
    local_start: datetime.datetime  # naive, location time
    local_end: datetime.datetime
    checklist: list[str]
    address: str
    map_link: str

    @classmethod
    def of(cls, appointment: Appointment) -> DayVisit:
        zone = location_zone(appointment.location)
        address = _address(appointment.patient) if appointment.patient else ""
        return cls(
            appointment=appointment,
            local_start=appointment.starts_at.astimezone(zone).replace(tzinfo=None),
            local_end=appointment.ends_at.astimezone(zone).replace(tzinfo=None),
            checklist=CHECKLISTS.get(appointment.type.code, []),
            address=address,
            map_link=_map_link(address) if address else "",
        )

    @property
    def is_today(self) -> bool:
        """Whether the visit is today at its location: only then is it checked in/completed."""
        return local_today(self.appointment.location) == self.local_start.date()

    @property
    def waits_for_its_day(self) -> bool:
        return not self.is_today and self.appointment.state in (
            AppointmentState.BOOKED,
            AppointmentState.CHECKED_IN,
            AppointmentState.IN_PROGRESS,
        )

    @property
    def can_check_in(self) -> bool:
        return self.is_today and self.appointment.state == AppointmentState.BOOKED

    @property
    def can_complete(self) -> bool:
        return self.is_today and self.appointment.state in (
            AppointmentState.CHECKED_IN,
            AppointmentState.IN_PROGRESS,
        )


def _day(request: HttpRequest, zone: Any) -> datetime.date:
    value = request.GET.get("date") or ""
    try:
        return (
            datetime.date.fromisoformat(value) if value else timezone.now().astimezone(zone).date()
        )
    except ValueError:
        return timezone.now().astimezone(zone).date()


@field_page
def my_day(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    profile = _profile(user)
    zone = location_zone(profile.home_location) if profile else datetime.UTC
    day = _day(request, zone)
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=zone)
    end = start + datetime.timedelta(days=1)
    rows = list(
        Appointment.objects.filter(
            organization=user.organization,
            technician=user,
            starts_at__lt=end,
            ends_at__gt=start,
        )
        .exclude(state__in=(AppointmentState.CANCELLED, AppointmentState.ENTERED_IN_ERROR))
        .select_related("type", "location", "patient__home_location", "patient__organization")
        .order_by("starts_at", "id")
    )
    visits = [DayVisit.of(a) for a in rows]
    for visit in rows:
        if visit.patient is not None:
            audit_access(
                actor=user,
                obj=visit.patient,
                action="patient.viewed",
                details={"appointment": str(visit.public_id), "page": "my_day"},
            )
    return render(
        request,
        "scheduling/my_day.html",
        {
            "visits": visits,
            "day": day,
            "previous_day": day - datetime.timedelta(days=1),
            "next_day": day + datetime.timedelta(days=1),
            "profile": profile,
            "zone": str(zone),
        },
    )


@field_page
@require_POST
def my_day_action(request: HttpRequest, public_id: uuid.UUID, action: str) -> HttpResponse:
    user = actor(request)
    if action not in FIELD_ACTIONS:
        raise Http404
    appointment = (
        Appointment.objects.filter(
            organization=user.organization, technician=user, public_id=public_id
        )
        .select_related("location", "type", "patient")
        .first()
    )
    if appointment is None:
        raise Http404
    state_action_run(request, appointment, FIELD_ACTIONS[action])
    day = appointment.starts_at.astimezone(location_zone(appointment.location)).date()
    return redirect(reverse("scheduling:my_day") + f"?date={day.isoformat()}#visit-{public_id}")


# ---------------------------------------------------------------- my availability


class HoursForm(forms.Form):
    """One weekday's working hours (empty = not working that day)."""

    starts = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    ends = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts"), data.get("ends")
        if bool(starts) != bool(ends):
            raise forms.ValidationError("Give both a start and an end, or neither.")
        if starts and ends and starts >= ends:
            raise forms.ValidationError("The day must end after it starts.")
        return data


class ExceptionForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        label="Until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="For several days in a row; leave empty for one day.",
    )
    kind = forms.ChoiceField(choices=AvailabilityException.Kind.choices)
    starts = forms.TimeField(
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="Leave the times empty for the whole day.",
    )
    ends = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    reason = forms.ChoiceField(
        required=False,
        choices=[
            ("", "—"),
            ("pto", "Time off"),
            ("sick", "Sick"),
            ("training", "Training"),
            ("extra", "Extra hours"),
        ],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts"), data.get("ends")
        if bool(starts) != bool(ends):
            raise forms.ValidationError("Give both times, or neither for the whole day.")
        if starts and ends and starts >= ends:
            raise forms.ValidationError("The end time must be after the start time.")
        if data.get("kind") == AvailabilityException.Kind.AVAILABLE and not starts:
            raise forms.ValidationError("Extra hours need a start and an end time.")
        date, until = data.get("date"), data.get("until")
        if date and until and until < date:
            raise forms.ValidationError("'Until' must be on or after the first date.")
        if date and until and (until - date).days > 366:
            raise forms.ValidationError("Add at most a year at a time.")
        return data


def _hours_forms(profile: TechnicianProfile, data: Any = None) -> list[tuple[str, HoursForm]]:
    current: dict[int, WorkingHours] = {}
    for hours in profile.working_hours.all():
        current.setdefault(hours.weekday, hours)
    forms_ = []
    for weekday, name in enumerate(WEEKDAYS):
        found = current.get(weekday)
        initial = {"starts": found.starts, "ends": found.ends} if found else {}
        forms_.append((name, HoursForm(data, prefix=f"d{weekday}", initial=initial)))
    return forms_


@field_page
@require_http_methods(["GET", "POST"])
def my_availability(request: HttpRequest) -> HttpResponse:

    user = actor(request)
    profile = _profile(user)
    if profile is None:
        return render(request, "scheduling/my_availability.html", {"profile": None})
    hours_forms = _hours_forms(profile)
    exception_form = ExceptionForm()
    if request.method == "POST" and request.POST.get("form") == "hours":
        hours_forms = _hours_forms(profile, request.POST)
        if all(f.is_valid() for _, f in hours_forms):
            week = {
                weekday: (
                    [(f.cleaned_data["starts"], f.cleaned_data["ends"])]
                    if f.cleaned_data.get("starts")
                    else []
                )
                for weekday, (_, f) in enumerate(hours_forms)
            }
            try:
                working_hours_set(actor=user, profile=profile, week=week)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "Weekly hours saved.")
                return redirect("scheduling:my_availability")
    elif request.method == "POST" and request.POST.get("form") == "exception":
        exception_form = ExceptionForm(request.POST)
        if exception_form.is_valid():
            data = exception_form.cleaned_data
            first, last = data["date"], data.get("until") or data["date"]
            days = (last - first).days + 1
            try:
                availability_exceptions_set(
                    actor=user,
                    profile=profile,
                    date_from=first,
                    date_to=last,
                    kind=data["kind"],
                    starts=data.get("starts"),
                    ends=data.get("ends"),
                    reason=data.get("reason") or "",
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Saved for {days} day(s).")
                return redirect("scheduling:my_availability")
    today = timezone.now().astimezone(location_zone(profile.home_location)).date()
    exceptions = list(profile.exceptions.filter(date__gte=today).order_by("date", "starts")[:60])
    return render(
        request,
        "scheduling/my_availability.html",
        {
            "profile": profile,
            "hours_forms": hours_forms,
            "exception_form": exception_form,
            "exceptions": exceptions,
        },
    )


@field_page
@require_POST
def exception_remove(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:

    user = actor(request)
    profile = _profile(user)
    exception = (
        profile.exceptions.filter(public_id=public_id).first() if profile is not None else None
    )
    if profile is None or exception is None:
        raise Http404
    try:
        availability_exceptions_clear(actor=user, profile=profile, dates=[exception.date])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Removed.")
    return redirect("scheduling:my_availability")
