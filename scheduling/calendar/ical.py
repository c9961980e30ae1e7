"""A technician's private iCalendar feed: subscribe once in a phone's calendar app.

The feed URL carries a random token; only its SHA-256 is stored (``TechnicianProfile.
feed_token_hash``), so the database never holds a working link. Issuing a new token revokes the
old one; revoking clears it. The feed is minimal on purpose: type, time, location and a short
reference per visit, never a patient's name or anything else about them, because a calendar app
shows it on a lock screen and syncs it to other servers.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets

import icalendar
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from clinic.audit.services import audit_record
from clinic.decorators import staff_required
from clinic.models import User
from scheduling.models import Appointment, AppointmentState, TechnicianProfile
from scheduling.permissions import is_technician

FEED_PAST = datetime.timedelta(days=30)
FEED_AHEAD = datetime.timedelta(days=90)
FEED_STATES = (
    AppointmentState.BOOKED,
    AppointmentState.CHECKED_IN,
    AppointmentState.IN_PROGRESS,
    AppointmentState.FULFILLED,
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def feed_token_issue(*, actor: User, profile: TechnicianProfile) -> str:
    """A new feed token for ``profile`` (the previous one stops working). Returned once."""
    token = secrets.token_urlsafe(32)
    profile.feed_token_hash = token_hash(token)
    profile.feed_token_created_at = timezone.now()
    profile.save(update_fields=["feed_token_hash", "feed_token_created_at", "updated_at"])
    audit_record(actor=actor, action="calendar_feed.issued", obj=profile)
    return token


@transaction.atomic
def feed_token_revoke(*, actor: User, profile: TechnicianProfile) -> None:
    profile.feed_token_hash = ""
    profile.feed_token_created_at = None
    profile.save(update_fields=["feed_token_hash", "feed_token_created_at", "updated_at"])
    audit_record(actor=actor, action="calendar_feed.revoked", obj=profile)


def feed_calendar(profile: TechnicianProfile, *, now: datetime.datetime) -> bytes:
    """The iCalendar text of a technician's visits from 30 days ago to 90 days ahead."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Tandem//Technician schedule//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Tandem visits")
    visits = (
        Appointment.objects.filter(
            organization_id=profile.organization_id,
            technician_id=profile.user_id,
            state__in=FEED_STATES,
            starts_at__lt=now + FEED_AHEAD,
            ends_at__gt=now - FEED_PAST,
        )
        .select_related("type", "location")
        .order_by("starts_at", "id")
    )
    for visit in visits:
        event = icalendar.Event()
        event.add("uid", f"{visit.public_id}@tandem")
        event.add("dtstamp", now)
        event.add("dtstart", visit.starts_at)
        event.add("dtend", visit.ends_at)
        event.add("summary", visit.type.name)
        event.add("location", visit.location.name)
        event.add("description", f"Ref {str(visit.public_id)[:8]}")
        if visit.state == AppointmentState.FULFILLED:
            event.add("status", "CONFIRMED")
        event.add("sequence", visit.version)
        cal.add_component(event)
    return cal.to_ical()


def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The feed itself: no session (calendar apps fetch it), the token is the key."""
    if not token or len(token) > 100:
        raise Http404
    profile = (
        TechnicianProfile.objects.filter(
            feed_token_hash=token_hash(token), is_active=True, user__is_active=True
        )
        .exclude(feed_token_hash="")
        .first()
    )
    if profile is None:
        raise Http404
    response = HttpResponse(
        feed_calendar(profile, now=timezone.now()), content_type="text/calendar; charset=utf-8"
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = 'inline; filename="tandem-visits.ics"'
    return response


@staff_required(check=is_technician)
@require_http_methods(["GET", "POST"])
def feed_settings(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    profile = TechnicianProfile.objects.filter(user=user, organization=user.organization).first()
    if profile is None:
        return render(request, "scheduling/feed_settings.html", {"profile": None})
    new_url = ""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            feed_token_revoke(actor=user, profile=profile)
            messages.success(request, "The feed link no longer works.")
            return redirect("scheduling:feed_settings")
        token = feed_token_issue(actor=user, profile=profile)
        # Shown once, on this response only; the database keeps just its hash.
        new_url = request.build_absolute_uri(reverse("scheduling:feed", kwargs={"token": token}))
    return render(
        request,
        "scheduling/feed_settings.html",
        {"profile": profile, "new_url": new_url},
    )
