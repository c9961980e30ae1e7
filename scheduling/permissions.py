"""Who may use which calendar page, and the helpers the pages, the API and the live stream share.

Roles are held per location:

- the location calendar and the dispatch board: an organization ADMIN, or EMPLOYEE / CLINICIAN
  at that location; booking and moving: ADMIN or EMPLOYEE there;
- a FIELD_TECHNICIAN has "my day", "my availability" and their own calendar feed, never the
  location calendar (it names patients who are not theirs);
- SUPPORT has none of it.

Patient names on the calendar follow the patients app: shown where the user sees whole records
(``patients.record.permissions.full_access_location_ids``), otherwise a short reference only.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from clinic.errors import NotFound
from clinic.models import Location, Role
from clinic.tenancy import scope_queryset
from patients.record.permissions import full_access_location_ids

if TYPE_CHECKING:
    from clinic.models import User
    from scheduling.models import Appointment

CALENDAR_ROLES = frozenset({Role.EMPLOYEE, Role.CLINICIAN})
BOOKING_ROLES = frozenset({Role.EMPLOYEE})


def _roles_at(user: User, location_id: int) -> set[str]:
    return {m.role for m in user._memberships if m.location_id == location_id}


def can_use_calendar(user: User) -> bool:
    """The calendar pages at all (nav item)."""
    return user.is_org_admin or user.has_role(*CALENDAR_ROLES)


def can_view_calendar(user: User, location: Location) -> bool:
    if user.organization_id is None or location.organization_id != user.organization_id:
        return False
    return user.is_org_admin or bool(_roles_at(user, location.pk) & CALENDAR_ROLES)


def can_book_at(user: User, location: Location) -> bool:
    if user.organization_id is None or location.organization_id != user.organization_id:
        return False
    return user.is_org_admin or bool(_roles_at(user, location.pk) & BOOKING_ROLES)


def is_technician(user: User) -> bool:
    return user.has_role(Role.FIELD_TECHNICIAN)


def calendar_locations(user: User) -> QuerySet[Location]:
    """Locations whose calendar the user may open, in name order."""
    locations = scope_queryset(Location.objects.filter(is_active=True), user)
    if user.is_org_admin:
        return locations
    ids = {m.location_id for m in user._memberships if m.role in CALENDAR_ROLES}
    return locations.filter(pk__in=ids)


def calendar_location(user: User, public_id: Any) -> Location:
    """The location whose calendar ``user`` asked for; NotFound when not theirs or malformed."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise NotFound("That location does not exist or is not available to you.") from exc
    location = calendar_locations(user).filter(public_id=key).first()
    if location is None:
        raise NotFound("That location does not exist or is not available to you.")
    return location


def location_among(locations: list[Location], public_id: Any) -> Location:
    """``calendar_location`` over a list already read (no query); the same NotFound."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise NotFound("That location does not exist or is not available to you.") from exc
    found = next((loc for loc in locations if loc.public_id == key), None)
    if found is None:
        raise NotFound("That location does not exist or is not available to you.")
    return found


def location_zone(location: Location) -> ZoneInfo:
    try:
        return ZoneInfo(location.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_when(value: str | None, zone: ZoneInfo) -> datetime.datetime | None:
    """A browser's date or date-time: with an offset as given, without one in ``zone``."""
    if not value or len(value) > 40:
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is None:
        try:
            day = parse_date(value)
        except ValueError:
            return None
        if day is None:
            return None
        moment = datetime.datetime.combine(day, datetime.time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def patient_label(user: User, appointment: Appointment, full_ids: set[int] | None = None) -> str:
    """What the calendar calls the patient: the name where the user sees whole records."""
    patient = appointment.patient
    if patient is None:
        return ""
    if full_ids is None:
        full_ids = full_access_location_ids(user)
    if user.is_org_admin or patient.home_location_id in full_ids:
        return f"{patient.last_name}, {patient.first_name[:1]}."
    return f"Patient {str(patient.public_id)[:8]}"


def booking_locations(user: User) -> list[Location]:
    """The calendar locations where ``user`` may book."""
    return [loc for loc in calendar_locations(user) if can_book_at(user, loc)]


def can_book(user: User) -> bool:
    """Whether ``user`` may book anywhere (the booking and waitlist pages)."""
    return bool(booking_locations(user))
