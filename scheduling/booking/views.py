"""The booking form: find the patient (the patients app's search), pick a type and a location,
see free slots from scheduling-core's slot finder and its best-technician suggestion with the
reason, then book through its booking service. Works without JavaScript (the form's own GET
shows the slots); htmx only refreshes parts in place. One column on a phone.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.models import Location, Membership, Role, User
from clinic.tenancy import get_scoped
from clinic.web import actor
from patients.models import Patient
from patients.record.selectors import patients_filtered, patients_visible_to
from scheduling.availability.services import slots_find, technician_suggest
from scheduling.booking import services
from scheduling.booking.forms import choices_set
from scheduling.booking.selectors import organization_types
from scheduling.models import AppointmentType
from scheduling.permissions import booking_locations, can_book, location_zone, parse_when
from scheduling.series.services import Rule, series_check, series_create

SEARCH_LIMIT = 8
SLOT_DAYS = 7
SLOTS_PER_DAY = 24
SLOT_STEP_MINUTES = 30


booking_page = staff_required(check=can_book)


class BookingForm(forms.Form):
    patient = forms.UUIDField(
        label="Patient", required=False, error_messages={"invalid": "Pick a patient from the list."}
    )
    type = forms.ChoiceField(label="Appointment type")
    location = forms.ChoiceField(label="Location")
    date = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"}), help_text="Slots for 7 days."
    )
    technician = forms.ChoiceField(label="Technician", required=False)
    slot = forms.CharField(required=False, max_length=120)
    notes = forms.CharField(
        label="Notes", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(
        self,
        data: Any,
        *,
        types: list[AppointmentType],
        locations: list[Location],
        technicians: list[User],
        **kw: Any,
    ) -> None:
        super().__init__(data, **kw)
        choices_set(
            self,
            "technician",
            [("", "Any technician (suggested)")]
            + [(str(t.public_id), t.full_name) for t in technicians],
        )
        choices_set(self, "type", [(str(t.public_id), t.name) for t in types])
        choices_set(self, "location", [(str(loc.public_id), loc.name) for loc in locations])


WEEKDAYS = [
    ("MO", "Mon"), ("TU", "Tue"), ("WE", "Wed"), ("TH", "Thu"), ("FR", "Fri"), ("SA", "Sat"),
    ("SU", "Sun"),
]  # fmt: skip


class RepeatForm(forms.Form):
    """The series part of the booking form: the pieces of an RRULE (RFC 5545)."""

    repeat = forms.ChoiceField(
        label="Repeat",
        required=False,
        choices=[("", "Does not repeat"), ("DAILY", "Daily"), ("WEEKLY", "Weekly"),
                 ("MONTHLY", "Monthly")],
    )  # fmt: skip
    interval = forms.IntegerField(
        label="Every",
        required=False,
        min_value=1,
        max_value=99,
        help_text="1 = every day / week / month, 2 = every other …",
        error_messages={"min_value": "Every 1 to 99.", "max_value": "Every 1 to 99."},
    )
    byday = forms.MultipleChoiceField(
        label="On",
        required=False,
        choices=WEEKDAYS,
        widget=forms.CheckboxSelectMultiple,
        help_text="Weekly: the days of the week (none = the slot's own day).",
    )
    ends = forms.ChoiceField(
        label="Ends",
        required=False,
        choices=[("count", "After a number of visits"), ("until", "On a date")],
        widget=forms.RadioSelect,
    )
    count = forms.IntegerField(
        label="Visits",
        required=False,
        min_value=1,
        max_value=500,
        error_messages={"min_value": "From 1 to 500 visits.", "max_value": "From 1 to 500 visits."},
    )
    until = forms.DateField(
        label="Last date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:

        super().clean()
        data = self.cleaned_data
        data["rrule"] = ""
        freq = data.get("repeat")
        if not freq or self.errors:
            return data
        ends = data.get("ends") or "count"
        if ends == "count" and not data.get("count"):
            self.add_error("count", "Say how many visits, or choose an end date.")
        if ends == "until" and not data.get("until"):
            self.add_error("until", "Give the last date, or choose a number of visits.")
        if data.get("byday") and freq != "WEEKLY":
            self.add_error("byday", "Days of the week go with a weekly repeat.")
        if self.errors:
            return data
        data["rrule"] = Rule(
            freq=freq,
            interval=data.get("interval") or 1,
            byday=tuple(data.get("byday") or ()),
            count=data["count"] if ends == "count" else None,
            until=data["until"].strftime("%Y%m%d") if ends == "until" else None,
        ).text()
        return data


def _plan_key(*parts: Any) -> str:
    """Names what a series preview showed, so only that plan can be confirmed."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _technicians(locations: list[Location]) -> list[User]:
    """Field technicians working at any of ``locations`` (one query)."""
    ids = Membership.objects.filter(location__in=locations, role=Role.FIELD_TECHNICIAN).values(
        "user_id"
    )
    return list(User.objects.filter(pk__in=ids, is_active=True).order_by("full_name", "pk"))


def _selected(items: list[Any], value: Any) -> Any:
    return next((i for i in items if str(i.public_id) == str(value)), None)


def _slot_value(slot: Any, zone: Any) -> str:
    technician = getattr(slot, "technician", None)
    start = slot.starts_at.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes")
    return f"{start}|{technician.public_id if technician else ''}"


def _parse_slot(value: str, zone: Any) -> tuple[datetime.datetime, str] | None:
    start_text, _, technician = (value or "").partition("|")
    start = parse_when(start_text, zone)
    if start is None:
        return None
    if technician:
        try:
            technician = str(uuid.UUID(technician))
        except ValueError:
            return None
    return start, technician


def find_slots(
    user: User,
    *,
    appointment_type: AppointmentType,
    location: Location,
    day: datetime.date,
    technician: User | None = None,
) -> dict[str, Any]:
    """Free slots for a week from ``day`` and the suggested technician, grouped by local day."""

    zone = location_zone(location)
    try:
        found = slots_find(
            appointment_type=appointment_type,
            location=location,
            date_from=day,
            date_to=day + datetime.timedelta(days=SLOT_DAYS - 1),
            technician=technician,
            step_minutes=SLOT_STEP_MINUTES,
        )
    except ApplicationError as exc:
        return {"days": [], "suggestion": None, "first": None, "note": exc.message}
    # One choice per start time (the first free technician the finder lists for it).
    by_day: dict[datetime.date, list[dict[str, Any]]] = {}
    seen: set[datetime.datetime] = set()
    for slot in found:
        local = slot.starts_at.astimezone(zone)
        items = by_day.setdefault(local.date(), [])
        if slot.starts_at in seen or len(items) >= SLOTS_PER_DAY:
            continue
        seen.add(slot.starts_at)
        items.append(
            {
                "value": _slot_value(slot, zone),
                "time": local.replace(tzinfo=None),
                "who": slot.technician.full_name if slot.technician else "",
            }
        )
    # The best technician for the earliest free time, with scheduling-core's reason.
    suggestion = None
    if found and appointment_type.needs_technician and technician is None:
        suggestion = technician_suggest(
            appointment_type=appointment_type,
            location=location,
            starts_at=found[0].starts_at,
            ends_at=found[0].ends_at,
        )
    return {
        "days": sorted(by_day.items()),
        "suggestion": suggestion,
        "first": found[0].starts_at.astimezone(zone).replace(tzinfo=None) if found else None,
        "note": "",
    }


@booking_page
@require_http_methods(["GET", "POST"])
def book(request: HttpRequest) -> HttpResponse:
    """The booking page: the forms, then (a POST that is not "find slots") one booking or one
    series through its service; otherwise the page again with the free slots."""
    page = BookingPage.start(request)
    if page is None:
        return render(request, "scheduling/book.html", {"no_types": True})
    if page.form.is_bound and page.form.is_valid():
        page.choose()
        if request.method == "POST" and not page.params.get("find"):
            done = page.submit()
            if done is not None:
                return done
        page.slots_find()
    elif not page.form.is_bound:
        page.patient_preselect()
    return page.render()


@dataclass
class BookingPage:
    """What the booking page holds for one request: its forms, what they chose, and what the
    page shows back (the slots, a series plan, a refusal with the nearest free times)."""

    request: HttpRequest
    user: User
    params: Any
    locations: list[Location]
    types: list[AppointmentType]
    technicians: list[User]
    form: BookingForm
    repeat_form: RepeatForm
    patient: Patient | None = None
    appointment_type: AppointmentType | None = None
    location: Location | None = None
    results: dict[str, Any] | None = None
    error: str = ""
    alternatives: list[Any] = field(default_factory=list)
    plan: dict[str, Any] | None = None

    @classmethod
    def start(cls, request: HttpRequest) -> BookingPage | None:
        """The bound (or initial) forms; None when the organization has no appointment types."""
        user = actor(request)
        locations = booking_locations(user)
        types = list(organization_types(user))
        if not types:
            return None
        params = request.POST if request.method == "POST" else request.GET
        initial_location = params.get("location") or str(locations[0].public_id)
        zone_location = _selected(locations, initial_location) or locations[0]
        zone = location_zone(zone_location)
        start_hint = parse_when(params.get("start"), zone)
        today = timezone.now().astimezone(zone).date()
        initial = {
            "location": str(zone_location.public_id),
            "type": str(types[0].public_id),
            "date": (start_hint.date() if start_hint else today).isoformat(),
        }
        data = params.copy() if params else None
        if data is not None:
            for key, value in {**initial, "interval": "1", "ends": "count"}.items():
                data.setdefault(key, value)
        technicians = _technicians(locations)
        return cls(
            request=request,
            user=user,
            params=params,
            locations=locations,
            types=types,
            technicians=technicians,
            form=BookingForm(
                data, types=types, locations=locations, technicians=technicians, initial=initial
            ),
            repeat_form=RepeatForm(data, initial={"interval": 1, "ends": "count"}),
        )

    @property
    def repeat_ok(self) -> bool:
        return not self.repeat_form.is_bound or self.repeat_form.is_valid()

    def choose(self) -> None:
        """The type, location and patient the valid form names (the patient among those the
        user may see)."""
        cleaned = self.form.cleaned_data
        self.appointment_type = _selected(self.types, cleaned["type"])
        self.location = _selected(self.locations, cleaned["location"])
        if cleaned.get("patient"):
            self.patient = (
                patients_visible_to(self.user).filter(public_id=cleaned["patient"]).first()
            )
            if self.patient is None:
                self.form.add_error("patient", "Pick a patient from the list.")

    def submit(self) -> HttpResponse | None:
        """Book the chosen slot (or preview / create the series): the redirect once booked,
        else None with the reason on the page."""
        form, cleaned = self.form, self.form.cleaned_data
        location = self.location
        assert location is not None
        parsed = _parse_slot(cleaned.get("slot", ""), location_zone(location))
        if self.patient is None and not form.errors.get("patient"):
            form.add_error("patient", "Find and pick the patient first.")
        if parsed is None:
            form.add_error("slot", "Pick one of the free times.")
        if form.errors or not self.repeat_ok or parsed is None:
            return None
        starts_at, technician_id = parsed
        technician = (
            get_scoped(User.objects.all(), self.user, public_id=technician_id)
            if technician_id
            else None
        )
        rrule = self.repeat_form.cleaned_data.get("rrule", "")
        if rrule:
            return self._series(starts_at=starts_at, technician=technician, rrule=rrule)
        try:
            appointment = services.appointment_book(
                actor=self.user,
                patient=self.patient,
                type=self.appointment_type,  # type: ignore[arg-type]
                location=location,
                starts_at=starts_at,
                technician=technician,
                notes=cleaned.get("notes", ""),
            )
        except ApplicationError as exc:
            self.error = exc.message
            self.alternatives = _alternatives(exc.extra.get("suggestions") or [], location)
            return None
        messages.success(self.request, "Booked. It is on every open calendar now.")
        local = appointment.starts_at.astimezone(location_zone(location))
        return redirect(
            reverse("scheduling:calendar")
            + f"?location={location.public_id}&view=day&date={local.date()}"
        )

    def _series(
        self, *, starts_at: datetime.datetime, technician: User | None, rrule: str
    ) -> HttpResponse | None:
        cleaned = self.form.cleaned_data
        assert self.patient is not None and self.appointment_type is not None
        assert self.location is not None
        key = _plan_key(
            rrule, cleaned.get("slot"), self.patient.public_id,
            self.appointment_type.public_id, self.location.public_id,
        )  # fmt: skip
        outcome = _series_book(
            self.request,
            confirm=self.params.get("confirm_series") == key,
            patient=self.patient,
            appointment_type=self.appointment_type,
            location=self.location,
            starts_at=starts_at,
            technician=technician,
            rrule=rrule,
            notes=cleaned.get("notes", ""),
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        self.plan = {**outcome, "key": key}
        self.error = self.plan.get("error", "")
        return None

    def slots_find(self) -> None:
        if self.appointment_type is None or self.location is None:
            return
        cleaned = self.form.cleaned_data
        self.results = find_slots(
            self.user,
            appointment_type=self.appointment_type,
            location=self.location,
            day=cleaned["date"],
            technician=_selected(self.technicians, cleaned.get("technician")),
        )

    def patient_preselect(self) -> None:
        """``?patient=`` from a patient's record: that patient, when the user may see them."""
        wanted = _uuid(self.request.GET.get("patient"))
        if wanted is not None:
            self.patient = patients_visible_to(self.user).filter(public_id=wanted).first()

    def render(self) -> HttpResponse:
        form, request = self.form, self.request
        status = (
            400
            if request.method == "POST" and (form.errors or self.error or not self.repeat_ok)
            else 200
        )
        if self.params.get("find") and not self.error:
            status = 200
        if self.plan is not None and not self.plan.get("error"):
            status = 200  # a series preview: nothing is wrong yet
        return render(
            request,
            "scheduling/book.html",
            {
                "form": form,
                "repeat_form": self.repeat_form,
                "plan": self.plan,
                "patient": self.patient,
                "results": self.results,
                "error": self.error,
                "alternatives": self.alternatives,
                "chosen_slot": form.data.get("slot", "") if form.is_bound else "",
            },
            status=status,
        )


def _series_book(
    request: HttpRequest,
    *,
    confirm: bool,
    patient: Patient | None,
    appointment_type: AppointmentType,
    location: Location,
    starts_at: datetime.datetime,
    technician: User | None,
    rrule: str,
    notes: str,
) -> HttpResponse | dict[str, Any]:
    """A series: first the per-date plan (nothing saved), then, confirmed, the whole series or
    nothing. Returns the redirect after creating, else what the page shows."""

    user = actor(request)
    zone = location_zone(location)
    kwargs: dict[str, Any] = {
        "actor": user,
        "patient": patient,
        "type": appointment_type,
        "location": location,
        "starts_at": starts_at,
        "technician": technician,
        "rrule": rrule,
    }
    try:
        if confirm:
            _series, booked = series_create(**kwargs, notes=notes)
            messages.success(
                request,
                f"Booked a series of {len(booked)} visits. They are on every open calendar.",
            )
            first = booked[0].starts_at.astimezone(zone)
            return redirect(
                reverse("scheduling:calendar")
                + f"?location={location.public_id}&view=week&date={first.date()}"
            )
        found = series_check(**kwargs)
    except ApplicationError as exc:
        dates = exc.extra.get("dates") if exc.extra else None
        if not dates:
            return {"error": exc.message, "dates": [], "ok": False}
        # Conflicts found while confirming (someone booked in between): show them per date.
        return {"error": exc.message, "dates": _plan_rows(dates, zone, []), "ok": False}
    rows = _plan_rows(found.report, zone, found.starts)
    bad = len(found.report)
    return {
        "error": "",
        "dates": rows,
        "ok": bad == 0,
        "total": len(found.starts),
        "bad": bad,
        "rule": found.rule.text(),
    }


def _plan_rows(
    report: list[dict[str, Any]], zone: Any, starts: list[datetime.datetime]
) -> list[dict[str, Any]]:
    """One row per date of the series: its local time and what stands in the way, if anything."""
    problems = {r["starts_at"]: r["problems"] for r in report}
    moments = starts or [datetime.datetime.fromisoformat(r["starts_at"]) for r in report]
    return [
        {
            "time": m.astimezone(zone).replace(tzinfo=None),
            "problems": problems.get(m.isoformat(), []),
        }
        for m in moments
    ]


def _alternatives(suggestions: list[dict[str, Any]], location: Location) -> list[dict[str, Any]]:
    """The nearest free times a refused booking offers, as slots the form can pick."""
    zone = location_zone(location)
    out = []
    for item in suggestions[:5]:
        start = parse_when(item.get("starts_at"), zone)
        if start is None:
            continue
        local = start.astimezone(zone).replace(tzinfo=None)
        out.append(
            {
                "value": f"{local.isoformat(timespec='minutes')}|{item.get('technician') or ''}",
                "time": local,
                "who": item.get("technician_name") or "",
            }
        )
    return out


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@booking_page
@require_POST
def patient_search(request: HttpRequest) -> HttpResponse:
    """The patients app's search (name, MRN, phone, date of birth), as a pick list. A POST, so
    what was typed (part of a name) never lands in a URL or an access log."""
    user = actor(request)
    query = (request.POST.get("q") or "").strip()[:100]
    rows: list[Patient] = []
    if len(query) >= 2:
        rows = list(
            patients_filtered(patients_visible_to(user), {"q": query}, user=user).select_related(
                "home_location"
            )[:SEARCH_LIMIT]
        )
    return render(
        request,
        "scheduling/_patient_choices.html",
        {"rows": rows, "query": query, "limit": SEARCH_LIMIT},
    )


@booking_page
def slots(request: HttpRequest) -> HttpResponse:
    """The slot list alone, for htmx when the type, location or date changes."""
    user = actor(request)
    locations = booking_locations(user)
    types = list(organization_types(user))
    technicians = _technicians(locations)
    form = BookingForm(request.GET, types=types, locations=locations, technicians=technicians)
    form.is_valid()
    cleaned = form.cleaned_data
    appointment_type = _selected(types, cleaned.get("type"))
    location = _selected(locations, cleaned.get("location"))
    if appointment_type is None or location is None or not cleaned.get("date"):
        raise Http404
    results = find_slots(
        user,
        appointment_type=appointment_type,
        location=location,
        day=cleaned["date"],
        technician=_selected(technicians, cleaned.get("technician")),
    )
    return render(request, "scheduling/_slots.html", {"results": results, "chosen_slot": ""})
