"""The one rule for showing dates and times (docs/architecture.md, "Time").

Everything that happens at a location is shown in that location's zone; everything else in
the user's organization's zone. A shown time always carries its zone: the abbreviation beside
it ("20:30 CST") and the zone's name on hover (the template filters in
``clinic/templatetags/tandem_time.py`` wrap these helpers in ``<time title="America/Chicago">``).

One format across the product: dates "3 Dec 2026", date-times "3 Dec 2026, 20:30 CST", times
"20:30 CST". Calendar dates that belong to no instant (a date of birth, a referral's received
date, an authorization's end) are shown as they are, never moved through a zone
(``date_text``).

``where`` is a Location or an Organization (their ``timezone``), a User (their
organization's), a ZoneInfo, an IANA name, or None (the active zone, UTC by default).
Services, emails and SMS call these helpers directly.
"""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

UTC = ZoneInfo("UTC")


def zone_named(name: str | None) -> ZoneInfo:
    """The zone of an IANA name; UTC for an empty or unknown one (never an error on a page)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_for(where: Any) -> ZoneInfo:
    """The zone of a location, an organization, a user's organization, or a zone (see module)."""
    if where is None or where == "":
        current = timezone.get_current_timezone()
        return current if isinstance(current, ZoneInfo) else UTC
    if isinstance(where, ZoneInfo):
        return where
    if isinstance(where, str):
        return zone_named(where)
    name = getattr(where, "timezone", None)
    if isinstance(name, str):
        return zone_named(name)
    organization = getattr(where, "organization", None)
    if organization is not None and isinstance(getattr(organization, "timezone", None), str):
        return zone_named(organization.timezone)
    return UTC


def local_now(where: Any) -> datetime.datetime:
    return timezone.now().astimezone(zone_for(where))


def local_today(where: Any) -> datetime.date:
    """Today's date where ``where`` is (a location's wall calendar, not the UTC date)."""
    return local_now(where).date()


def local(value: datetime.datetime, where: Any) -> datetime.datetime:
    """An instant on the wall clock of ``where`` (a naive value is taken as UTC)."""
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone_for(where))


def date_text(value: datetime.date) -> str:
    """A calendar date as it is: "13 Aug 1983"."""
    return f"{value.day} {value:%b %Y}"


def local_date_text(value: datetime.date | datetime.datetime, where: Any = None) -> str:
    """The date of an instant where it happened ("3 Dec 2026"); a plain date is kept as it is."""
    if isinstance(value, datetime.datetime):
        value = local(value, where).date()
    return date_text(value)


def zone_abbreviation(value: datetime.datetime) -> str:
    """ "CST", "EDT"; zones without a letter abbreviation show their offset ("+0530")."""
    name = value.tzname() or ""
    if name and not name.startswith(("+", "-")):
        return name
    return value.strftime("%z") or "UTC"


def local_time_text(value: datetime.datetime, where: Any = None) -> str:
    """ "20:30 CST"."""
    moment = local(value, where)
    return f"{moment:%H:%M} {zone_abbreviation(moment)}"


def local_datetime_text(value: datetime.datetime, where: Any = None) -> str:
    """ "3 Dec 2026, 20:30 CST"."""
    moment = local(value, where)
    return f"{date_text(moment.date())}, {moment:%H:%M} {zone_abbreviation(moment)}"
