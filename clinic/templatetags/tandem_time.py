"""Dates and times on pages, by the one rule of ``clinic.times`` (docs/architecture.md, "Time").

    {% load tandem_time %}
    {{ visit.starts_at|local_datetime:visit.location }}  3 Dec 2026, 20:30 CST (title: zone)
    {{ entry.created_at|local_date:entry.location }}      3 Dec 2026
    {{ device.last_used_at|local_datetime:user }}         the user's organization's zone
    {{ patient.date_of_birth|plain_date }}                13 Aug 1983 (never moved through a zone)

Each instant renders as ``<time datetime="<ISO in UTC>" title="<zone name>">``.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from clinic import times

register = template.Library()


def _tag(value: datetime.datetime, where: Any, text: str) -> SafeString:
    zone = times.zone_for(where)
    iso = times.local(value, times.UTC).isoformat()
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, zone.key, text)


@register.filter
def local_datetime(value: Any, where: Any = None) -> str:
    if not isinstance(value, datetime.datetime):
        return "" if value in (None, "") else str(value)
    return _tag(value, where, times.local_datetime_text(value, where))


@register.filter
def local_date(value: Any, where: Any = None) -> str:
    if isinstance(value, datetime.datetime):
        return _tag(value, where, times.local_date_text(value, where))
    if isinstance(value, datetime.date):
        return times.date_text(value)
    return "" if value in (None, "") else str(value)


@register.filter
def local_time(value: Any, where: Any = None) -> str:
    if not isinstance(value, datetime.datetime):
        return "" if value in (None, "") else str(value)
    return _tag(value, where, times.local_time_text(value, where))


@register.filter
def plain_date(value: Any) -> str:
    """A calendar date (date of birth, received date) as it is: "13 Aug 1983"."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return times.date_text(value)
    return "" if value in (None, "") else str(value)


@register.filter
def zone_name(where: Any) -> str:
    """The IANA name of the zone ``where`` is shown in ("America/Chicago")."""
    return times.zone_for(where).key
