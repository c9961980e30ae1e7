"""The waitlist page of one location: add a waiting patient (type, preferred dates and times),
the list in the order patients joined, and the offers made to them when a slot frees, which the
office accepts or declines on the patient's behalf (a phone call) and which expire on their own.

Who: whoever may book at the location (``can_book_at``); everything else is a 404. The page
names patients, so each view of it is audited against the location.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from clinic.audit.services import audit_access
from clinic.errors import ApplicationError
from clinic.models import Location, User
from clinic.tenancy import get_scoped
from clinic.web import actor, form_submit
from patients.models import Patient
from patients.record.permissions import full_access_location_ids
from patients.record.selectors import patients_visible_to
from scheduling.booking.forms import choices_set
from scheduling.booking.selectors import organization_types
from scheduling.booking.views import booking_page
from scheduling.models import AppointmentKind, AppointmentType, WaitlistEntry, WaitlistOffer
from scheduling.permissions import booking_locations, location_zone
from scheduling.waitlist.services import (
    waitlist_add,
    waitlist_offer_accept,
    waitlist_offer_decline,
    waitlist_remove,
)

LIST_LIMIT = 200
RECENT_OFFERS = 3  # answered offers shown per entry, beside the open ones


class WaitlistForm(forms.Form):
    patient = forms.UUIDField(
        label="Patient",
        error_messages={
            "required": "Find and pick the patient first.",
            "invalid": "Pick a patient from the list.",
        },
    )
    type = forms.ChoiceField(
        label="Appointment type",
        error_messages={"invalid_choice": "Choose an appointment type from the list."},
    )
    earliest_date = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Give the first date.", "invalid": "Give a date."},
    )
    latest_date = forms.DateField(
        label="Until",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Give the last date.", "invalid": "Give a date."},
    )
    earliest_time = forms.TimeField(
        label="Not before",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        error_messages={"invalid": "Give a time like 09:00."},
    )
    latest_time = forms.TimeField(
        label="Not after",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        error_messages={"invalid": "Give a time like 17:00."},
    )

    def __init__(self, data: Any = None, *, types: list[AppointmentType], **kw: Any) -> None:
        super().__init__(data, **kw)
        choices_set(self, "type", [(str(t.public_id), t.name) for t in types])

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        first, last = data.get("earliest_date"), data.get("latest_date")
        if first and last and last < first:
            self.add_error("latest_date", "The last date is before the first.")
        early, late = data.get("earliest_time"), data.get("latest_time")
        if early and late and late <= early:
            self.add_error("latest_time", "“Not after” must be later than “Not before”.")
        return data


def _location(request: HttpRequest, locations: list[Location]) -> Location:
    wanted = request.GET.get("location") or request.POST.get("location")
    if not wanted:
        return locations[0]
    found = next((loc for loc in locations if str(loc.public_id) == wanted), None)
    if found is None:
        raise Http404
    return found


def _page_url(location: Location) -> str:
    return reverse("scheduling:waitlist") + f"?location={location.public_id}"


def _entries(location: Location) -> list[WaitlistEntry]:
    """Waiting entries in order, each with its open and latest offers (three queries)."""
    offers = WaitlistOffer.objects.select_related("technician").order_by("-created_at")
    return list(
        WaitlistEntry.objects.filter(location=location, state=WaitlistEntry.State.WAITING)
        .select_related("patient", "type")
        .prefetch_related(Prefetch("offers", queryset=offers))
        .order_by("created_at", "id")[:LIST_LIMIT]
    )


def _rows(user: User, entries: list[WaitlistEntry], zone: Any) -> list[dict[str, Any]]:
    full_ids = full_access_location_ids(user)
    now = timezone.now()
    rows = []
    for place, entry in enumerate(entries, start=1):
        patient = entry.patient
        named = user.is_org_admin or patient.home_location_id in full_ids
        offers = []
        answered = 0
        for offer in entry.offers.all():
            is_open = offer.state == WaitlistOffer.State.PENDING and offer.expires_at > now
            if not is_open and offer.state == WaitlistOffer.State.PENDING:
                label = "Expired"  # the minute job has not swept it yet
            else:
                label = offer.get_state_display()
            if not is_open:
                answered += 1
                if answered > RECENT_OFFERS:
                    continue
            offers.append(
                {
                    "offer": offer,
                    "open": is_open,
                    "label": label,
                    "state": "expired" if label == "Expired" else offer.state,
                    "starts": offer.starts_at.astimezone(zone).replace(tzinfo=None),
                    "ends": offer.ends_at.astimezone(zone).replace(tzinfo=None),
                    "expires": offer.expires_at.astimezone(zone).replace(tzinfo=None),
                    "minutes_left": max(0, int((offer.expires_at - now).total_seconds() // 60)),
                }
            )
        rows.append(
            {
                "place": place,
                "entry": entry,
                "who": f"{patient.last_name}, {patient.first_name}"
                if named
                else f"Patient {str(patient.public_id)[:8]}",
                "offers": offers,
            }
        )
    return rows


@booking_page
@require_http_methods(["GET", "POST"])
def waitlist(request: HttpRequest) -> HttpResponse:

    user = actor(request)
    locations = booking_locations(user)
    location = _location(request, locations)
    zone = location_zone(location)
    types = [t for t in organization_types(user) if t.code != AppointmentKind.STAFF_BLOCK]
    today = timezone.now().astimezone(zone).date()
    form = WaitlistForm(
        request.POST if request.method == "POST" else None,
        types=types,
        initial={
            "earliest_date": today.isoformat(),
            "latest_date": (today + datetime.timedelta(days=14)).isoformat(),
        },
    )
    patient: Patient | None = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            patient = patients_visible_to(user).filter(public_id=data["patient"]).first()
            if patient is None:
                form.add_error("patient", "Pick a patient from the list.")
            appointment_type = next((t for t in types if str(t.public_id) == data["type"]), None)
            if patient is not None and appointment_type is not None:
                waiting, wanted_type = patient, appointment_type
                added = form_submit(
                    request,
                    form,
                    lambda data: waitlist_add(
                        actor=user,
                        patient=waiting,
                        type=wanted_type,
                        location=location,
                        earliest_date=data["earliest_date"],
                        latest_date=data["latest_date"],
                        earliest_time=data.get("earliest_time"),
                        latest_time=data.get("latest_time"),
                    ),
                    success="Added to the waitlist.",
                    redirect_to=_page_url(location),
                )
                if added is not None:
                    return added
        else:
            wanted = _uuid(request.POST.get("patient"))
            if wanted is not None:
                patient = patients_visible_to(user).filter(public_id=wanted).first()
        status = 400
    audit_access(actor=user, obj=location, action="waitlist.viewed", details={"view": "waitlist"})
    return render(
        request,
        "scheduling/waitlist.html",
        {
            "location": location,
            "locations": locations,
            "form": form,
            "patient": patient,
            "rows": _rows(user, _entries(location), zone),
            "limit": LIST_LIMIT,
            "zone": str(zone),
        },
        status=status,
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _offer(request: HttpRequest, public_id: uuid.UUID) -> WaitlistOffer:
    user = actor(request)
    offer = get_scoped(WaitlistOffer.objects.select_related("location"), user, public_id=public_id)
    if offer.location not in booking_locations(user):
        raise Http404
    return offer


@booking_page
@require_POST
def offer_accept(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:

    offer = _offer(request, public_id)
    try:
        appointment = waitlist_offer_accept(actor=actor(request), offer=offer)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        local = appointment.starts_at.astimezone(location_zone(offer.location))
        messages.success(request, f"Accepted: booked for {local:%a %d %b, %H:%M}.")
    return redirect(_page_url(offer.location))


@booking_page
@require_POST
def offer_decline(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:

    offer = _offer(request, public_id)
    try:
        waitlist_offer_decline(actor=actor(request), offer=offer)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Declined. The slot goes to the next patient in line.")
    return redirect(_page_url(offer.location))


@booking_page
@require_POST
def entry_remove(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:

    user = actor(request)
    entry = get_scoped(WaitlistEntry.objects.select_related("location"), user, public_id=public_id)
    if entry.location not in booking_locations(user):
        raise Http404
    waitlist_remove(actor=user, entry=entry)
    messages.success(request, "Taken off the waitlist.")
    return redirect(_page_url(entry.location))
