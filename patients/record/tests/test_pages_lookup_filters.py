"""The list's location and technician filters: a plain <select> for a few choices, the
search-as-you-type picker (its JSON endpoints, and text resolved by the server) for many, so an
ADMIN of a large organization gets a list page with no long option lists; and the note that a
broad search was cut at its limit."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import LocationFactory, OrganizationFactory
from patients.record import services
from patients.record.forms import SELECT_MAX, location_label, technician_label
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

LIST = reverse("patients:list")
LOCATIONS = reverse("patients:location_lookup")
TECHNICIANS = reverse("patients:technician_lookup")


@pytest.fixture
def admin(location, make_staff):
    return make_staff(Role.ADMIN, location)


@pytest.fixture
def client(admin, signed_in):
    return signed_in(admin)


def _locations(location, n: int, prefix: str = "Site") -> list:
    return [
        LocationFactory(organization=location.organization, name=f"{prefix} {i:03d}")
        for i in range(n)
    ]


def _options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r"<option[^>]*>", select.group(1)) if select else []


def test_a_few_locations_and_technicians_are_a_select_many_a_picker_with_no_options(
    client, location, make_staff
):
    _locations(location, 3)
    tech = make_staff(Role.FIELD_TECHNICIAN, location)
    html = client.get(LIST).content.decode()
    assert len(_options(html, "location")) == 1 + 4  # "Any location" and each location
    assert len(_options(html, "technician")) == 1 + 1
    assert technician_label(tech) in html
    assert "data-lookup-url" in html  # the physician picker only
    assert LOCATIONS not in html and TECHNICIANS not in html

    _locations(location, SELECT_MAX, prefix="Far")
    for _ in range(SELECT_MAX):
        make_staff(Role.FIELD_TECHNICIAN, location)
    html = client.get(LIST).content.decode()
    assert _options(html, "location") == [] and _options(html, "technician") == []
    assert f'data-lookup-url="{LOCATIONS}"' in html
    assert f'data-lookup-url="{TECHNICIANS}"' in html
    assert "Far 0" not in html and technician_label(tech) not in html
    assert 'placeholder="Any location"' in html and 'placeholder="Any technician"' in html


def test_the_admin_list_runs_the_same_queries_for_3_or_40_locations_and_technicians(
    client, location, make_staff
):
    PatientFactory(home_location=location)

    def count() -> int:
        client.get(LIST)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIST).status_code == 200
        return len(ctx.captured_queries)

    _locations(location, 2)
    make_staff(Role.FIELD_TECHNICIAN, location)
    few = count()
    _locations(location, 40, prefix="More")
    for _ in range(40):
        make_staff(Role.FIELD_TECHNICIAN, location)
    assert count() == few


def test_the_location_filter_takes_the_pickers_label_a_public_id_or_a_typed_name(client, location):
    sites = _locations(location, SELECT_MAX + 1)
    there = sites[7]
    PatientFactory(home_location=there, last_name="There")
    PatientFactory(home_location=location, last_name="Here")
    for given in (location_label(there), str(there.public_id), "  site 007 "):
        response = client.get(LIST, {"location": given})
        assert [p.last_name for p in response.context["rows"]] == ["There"], given
        # The box shows the location as the picker does, whatever the link gave.
        assert f'value="{location_label(there)}"' in response.content.decode()


def test_a_location_that_matches_none_or_is_another_organizations_is_a_clear_error(
    client, location
):
    _locations(location, SELECT_MAX + 1)
    elsewhere = LocationFactory(organization=OrganizationFactory(), name="Elsewhere")
    PatientFactory(home_location=location, last_name="Mine")
    for given, shown in (("Nowhere", "Nowhere"), (str(elsewhere.public_id), "")):
        response = client.get(LIST, {"location": given})
        assert response.status_code == 200
        assert "No location matches" in response.content.decode()
        assert shown in response.content.decode()
        # The filter is left out, the rest of the page works.
        assert [p.last_name for p in response.context["rows"]] == ["Mine"]
    response = client.get(LIST, {"location": "x" * 300})
    assert "too long for a location" in response.content.decode()


def test_the_technician_filter_takes_the_label_or_email_and_tells_namesakes_apart(
    client, location, make_staff
):
    one = make_staff(Role.FIELD_TECHNICIAN, location, full_name="Sam Lee")
    other = make_staff(Role.FIELD_TECHNICIAN, location, full_name="Sam Lee")
    for _ in range(SELECT_MAX):
        make_staff(Role.FIELD_TECHNICIAN, location)
    served = PatientFactory(home_location=location, last_name="Served")
    PatientFactory(home_location=location, last_name="Other")
    services.patient_assignment_add(actor=None, patient=served, technician=one)
    for given in (technician_label(one), one.email.upper()):
        response = client.get(LIST, {"technician": given})
        assert [p.last_name for p in response.context["rows"]] == ["Served"], given
    response = client.get(LIST, {"technician": "Sam Lee"})
    assert "Several technicians match" in response.content.decode()
    assert other.email not in response.content.decode()


def test_location_suggestions_are_my_organizations_by_name_at_most_ten(client, location):
    _locations(location, 12, prefix="North")
    LocationFactory(organization=location.organization, name="South Bay")
    LocationFactory(organization=OrganizationFactory(), name="North Elsewhere")
    body = client.get(LOCATIONS, {"q": "nor"}).json()
    assert [r["name"] for r in body["results"]] == [f"North {i:03d}" for i in range(10)]
    assert body["more"] is True
    body = client.get(LOCATIONS, {"q": "south b"}).json()
    assert body["more"] is False
    (row,) = body["results"]
    assert row["label"] == "South Bay" and row["id"]
    assert client.get(LOCATIONS, {"q": "x" * 101}).status_code == 400


def test_technician_suggestions_by_name_or_email_and_only_for_office_users(
    client, location, make_staff, signed_in
):
    tech = make_staff(Role.FIELD_TECHNICIAN, location, full_name="Rosa Diaz")
    make_staff(Role.EMPLOYEE, location, full_name="Rosa Employee")  # not a technician
    body = client.get(TECHNICIANS, {"q": "rosa"}).json()
    assert body["results"] == [
        {
            "id": str(tech.public_id),
            "label": technician_label(tech),
            "name": "Rosa Diaz",
            "detail": tech.email,
        }
    ]
    assert client.get(TECHNICIANS, {"q": tech.email[:5]}).json()["results"][0]["name"] == (
        "Rosa Diaz"
    )
    # A technician is not offered the technician filter, nor its suggestions.
    assert signed_in(tech).get(TECHNICIANS, {"q": "rosa"}).status_code == 404


def test_a_broad_search_cut_at_its_limit_says_so(client, location, monkeypatch):
    monkeypatch.setattr("patients.record.selectors.BROAD_MATCH_LIMIT", 3)
    for i in range(3):
        PatientFactory(home_location=location, first_name="Quentin", last_name=f"Q{i}")
    response = client.get(LIST, {"q": "quentin"})
    assert len(response.context["rows"]) == 3
    assert "refine the search" not in response.content.decode()  # all of them are shown

    PatientFactory(home_location=location, first_name="Quentin", last_name="Q3")
    for params, headers in (
        ({"q": "quentin"}, {}),
        ({"q": "quentin"}, {"HX-Request": "true", "HX-Target": "patient-results"}),
    ):
        response = client.get(LIST, params, headers=headers)
        assert len(response.context["rows"]) == 3
        assert "Showing the first 3 matches; refine the search." in response.content.decode()
    # A whole surname is not a broad match: no note.
    assert "refine the search" not in client.get(LIST, {"q": "Q3"}).content.decode()


def test_the_note_gives_the_real_limit_with_its_thousands_separator(rf, admin, location):
    from django.template.loader import render_to_string

    from patients.record.selectors import BROAD_MATCH_LIMIT

    request = rf.get(LIST)
    admin.is_verified = lambda: True  # as django-otp's middleware marks a signed-in user
    request.user = admin
    context = {"rows": [PatientFactory(home_location=location)], "view_mode": "list"}
    html = render_to_string(
        "patients/_results.html", {**context, "capped_at": BROAD_MATCH_LIMIT}, request
    )
    assert "Showing the first 1,000 matches; refine the search." in html
    assert "refine the search" not in render_to_string("patients/_results.html", context, request)


def test_the_admins_create_and_edit_forms_pick_the_home_location_when_there_are_many(
    client, location
):
    from patients.models import Patient
    from patients.record.tests.test_pages import form_data

    create = reverse("patients:create")
    _locations(location, SELECT_MAX + 1)
    html = client.get(create).content.decode()
    assert _options(html, "home_location") == [] and "Site 000" not in html
    assert f'data-lookup-url="{LOCATIONS}"' in html
    there = LocationFactory(organization=location.organization, name="Lakeside Sleep Center")
    response = client.post(create, form_data(location, home_location="lakeside sleep center"))
    patient = Patient.objects.get()
    assert response.status_code == 302 and patient.home_location == there
    # Editing shows the location as the picker does; a name matching none is a clear error.
    edit = reverse("patients:edit", kwargs={"public_id": patient.public_id})
    assert f'value="{location_label(there)}"' in client.get(edit).content.decode()
    response = client.post(edit, form_data(location, home_location="Atlantis"))
    assert response.status_code == 400 and "No location matches" in response.content.decode()
    patient.refresh_from_db()
    assert patient.home_location == there
