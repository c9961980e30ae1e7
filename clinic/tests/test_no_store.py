"""Pages and API answers for a signed-in person may hold patient data: no browser or proxy
may keep a copy (``Cache-Control: no-store``), set in one place (NoStoreMiddleware)."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.models import Role
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def no_store(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return "no-store" in directives and "public" not in directives


@pytest.fixture
def clerk(make_staff, location):
    return make_staff(Role.EMPLOYEE, location)


def test_patient_pages_are_not_stored(clerk, location, signed_in):
    patient = PatientFactory(home_location=location)
    client = signed_in(clerk)
    detail = reverse("patients:detail", kwargs={"public_id": patient.public_id})
    edit = reverse("patients:edit", kwargs={"public_id": patient.public_id})
    for url in (reverse("patients:list"), detail, detail + "?tab=history", edit):
        response = client.get(url)
        assert response.status_code == 200, url
        assert no_store(response), (url, response.get("Cache-Control"))


def test_api_answers_are_not_stored(clerk, location, signed_in):
    client = signed_in(clerk)
    monday = timezone.localdate()
    week = {
        "location": str(location.public_id),
        "start": monday.isoformat(),
        "end": (monday + datetime.timedelta(days=7)).isoformat(),
    }
    for url, params in (
        (reverse("scheduling:api_events"), week),
        (reverse("api-me"), {}),
        (reverse("api-notifications"), {}),
    ):
        response = client.get(url, params)
        assert response.status_code == 200, url
        assert no_store(response), (url, response.get("Cache-Control"))


def test_a_refused_api_call_is_not_stored_either(db, client):
    response = client.get(reverse("api-me"))
    assert response.status_code in (401, 403)
    assert no_store(response)


def test_public_pages_for_anonymous_visitors_keep_their_own_headers(db, client):
    # Control: the sign-in page says never_cache itself; static assets are not touched here.
    assert no_store(client.get(reverse("clinic:login")))
