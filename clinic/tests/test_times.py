"""The one rule for dates and times (clinic.times, the tandem_time filters), tried at a US
evening instant whose UTC date is already the next day: 2026-12-04 02:30 UTC is 3 Dec 20:30
in Chicago. Every page below used to show 4 Dec (or the UTC clock) there."""

from __future__ import annotations

import datetime

import pytest
from django.template import engines
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic import times
from clinic.models import Role
from clinic.tests.factories import LocationFactory

UTC = datetime.UTC
EVENING = datetime.datetime(2026, 12, 4, 2, 30, tzinfo=UTC)  # 3 Dec 20:30 in Chicago
SUMMER = datetime.datetime(2026, 7, 4, 2, 30, tzinfo=UTC)  # 3 Jul 21:30 CDT


def _render(text: str, **context) -> str:
    return engines["django"].from_string("{% load tandem_time %}" + text).render(context)


def test_helpers_show_the_local_date_and_the_zone():
    assert times.local_date_text(EVENING, "America/Chicago") == "3 Dec 2026"
    assert times.local_datetime_text(EVENING, "America/Chicago") == "3 Dec 2026, 20:30 CST"
    assert times.local_datetime_text(SUMMER, "America/Chicago") == "3 Jul 2026, 21:30 CDT"
    assert times.local_time_text(EVENING, "Asia/Kolkata") == "08:00 IST"
    assert times.local_datetime_text(EVENING, "UTC") == "4 Dec 2026, 02:30 UTC"
    assert times.local_date_text(EVENING, "Not/AZone") == "4 Dec 2026"  # unknown: UTC, no error


def test_a_calendar_date_is_never_moved_through_a_zone():
    born = datetime.date(1983, 8, 13)
    assert times.date_text(born) == "13 Aug 1983"
    assert times.local_date_text(born, "Pacific/Kiritimati") == "13 Aug 1983"
    assert _render("{{ d|plain_date }}", d=born) == "13 Aug 1983"
    assert _render("{{ d|local_date:'America/Chicago' }}", d=born) == "13 Aug 1983"


@pytest.mark.django_db
def test_the_rule_a_location_zone_else_the_organization_zone():
    location = LocationFactory(timezone="America/Chicago")
    organization = location.organization
    organization.timezone = "America/Los_Angeles"
    organization.save()

    class Someone:
        pass

    user = Someone()
    user.organization = organization
    assert times.zone_for(location).key == "America/Chicago"
    assert times.zone_for(organization).key == "America/Los_Angeles"
    assert times.zone_for(user).key == "America/Los_Angeles"
    assert times.local_datetime_text(EVENING, user) == "3 Dec 2026, 18:30 PST"


def test_filters_put_the_zone_name_on_hover_and_keep_the_instant():
    html = _render("{{ t|local_datetime:'America/Chicago' }}", t=EVENING)
    assert html == (
        '<time datetime="2026-12-04T02:30:00+00:00" title="America/Chicago">'
        "3 Dec 2026, 20:30 CST</time>"
    )
    assert ">3 Dec 2026</time>" in _render("{{ t|local_date:'America/Chicago' }}", t=EVENING)
    assert ">20:30 CST</time>" in _render("{{ t|local_time:'America/Chicago' }}", t=EVENING)
    assert _render("{{ t|local_datetime:'America/Chicago' }}", t=None) == ""


def test_local_today_is_the_date_on_the_location_wall(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: EVENING)
    assert times.local_today("America/Chicago") == datetime.date(2026, 12, 3)
    assert times.local_today("UTC") == datetime.date(2026, 12, 4)


@pytest.mark.django_db
def test_account_page_shows_last_used_in_the_organization_zone(make_staff, signed_in):
    user = make_staff(role=Role.EMPLOYEE)
    organization = user.organization
    organization.timezone = "America/Chicago"
    organization.save()
    client = signed_in(user)
    TOTPDevice.objects.filter(user=user).update(last_used_at=EVENING)
    body = client.get("/account").content.decode()
    assert "last used" in body
    assert "3 Dec 2026, 20:30 CST" in body
    assert "4 Dec 2026" not in body
