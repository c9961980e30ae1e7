"""A technician's private iCalendar feed: a token shown once and stored hashed, revocable,
minimal content (type, time, location, short reference; no patient data)."""

from __future__ import annotations

import datetime
import re

import icalendar
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinic.models import AuditEvent, Role
from patients.tests.factories import PatientFactory
from scheduling.calendar.ical import token_hash
from scheduling.models import AppointmentState
from scheduling.tests.factories import AppointmentFactory, technician

pytestmark = pytest.mark.django_db

SETTINGS = reverse("scheduling:feed_settings")


@pytest.fixture
def tech(location):
    return technician(location, full_name="Terry Tech")


def issue(client) -> str:
    page = client.post(SETTINGS, {"action": "issue"}).content.decode()
    match = re.search(r'id="feed-url">([^<]+)<', page)
    assert match, "the new link is shown once"
    return match.group(1)


def test_the_feed_has_my_visits_with_no_patient_data(signed_in, location, tech):
    patient = PatientFactory(home_location=location, first_name="Penelope", last_name="Zyxwv")
    start = timezone.now().replace(microsecond=0) + datetime.timedelta(days=2)
    mine = AppointmentFactory(location=location, technician=tech, patient=patient, starts_at=start)
    AppointmentFactory(
        location=location,
        technician=tech,
        starts_at=start + datetime.timedelta(hours=3),
        state=AppointmentState.CANCELLED,
    )
    AppointmentFactory(location=location, technician=technician(location), starts_at=start)

    url = issue(signed_in(tech))
    response = Client().get(url)  # a calendar app: no session
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert response["Cache-Control"] == "private, no-store"
    body = response.content.decode()
    for secret in ("Penelope", "Zyxwv", patient.mrn, str(patient.public_id)):
        assert secret not in body
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [f"{mine.public_id}@tandem"]
    event = events[0]
    assert str(event["summary"]) == mine.type.name
    assert str(event["location"]) == location.name
    assert event.decoded("dtstart") == start
    assert str(event["description"]) == f"Ref {str(mine.public_id)[:8]}"


def test_only_a_hash_of_the_token_is_stored_and_a_new_link_revokes_the_old(signed_in, tech):
    client = signed_in(tech)
    first = issue(client)
    token = first.rsplit("/", 1)[1].removesuffix(".ics")
    profile = tech.technician_profile
    profile.refresh_from_db()
    assert profile.feed_token_hash == token_hash(token)
    assert token not in profile.feed_token_hash

    second = issue(client)
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200
    assert AuditEvent.objects.filter(action="calendar_feed.issued", actor=tech).count() == 2


def test_switching_the_link_off_makes_it_404(signed_in, tech):
    client = signed_in(tech)
    url = issue(client)
    client.post(SETTINGS, {"action": "revoke"})
    assert Client().get(url).status_code == 404
    assert AuditEvent.objects.filter(action="calendar_feed.revoked", actor=tech).exists()


def test_a_deactivated_technicians_link_stops_working(signed_in, tech):
    url = issue(signed_in(tech))
    tech.is_active = False
    tech.save()
    assert Client().get(url).status_code == 404


@pytest.mark.parametrize("token", ["x", "a" * 43, "a" * 150])
def test_unknown_tokens_are_404(token):
    assert Client().get(f"/schedule/feed/{token}.ics").status_code == 404


def test_office_staff_have_no_feed_settings(signed_in, make_staff, location):
    clerk = make_staff(role=Role.EMPLOYEE, location=location)
    assert signed_in(clerk).post(SETTINGS, {"action": "issue"}).status_code == 404
    assert not AuditEvent.objects.filter(action="calendar_feed.issued").exists()
