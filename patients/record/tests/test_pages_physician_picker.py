"""The referring-physician picker: its JSON suggestions (scoped, validated, bounded), the
list filter and the create/edit forms resolving what the box holds (the picker's label, an
NPI, a public id or a name), and pages that no longer read every physician to render."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import OrganizationFactory
from patients.models import Patient
from patients.record.forms import physician_label
from patients.record.tests.test_pages import CREATE, LIST, form_data, names
from patients.tests.factories import PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db

LOOKUP = reverse("patients:physician_lookup")


@pytest.fixture
def client(location, make_staff, signed_in):
    return signed_in(make_staff(Role.EMPLOYEE, location))


def _suggested(response) -> list[str]:
    assert response.status_code == 200
    return [row["name"] for row in response.json()["results"]]


def test_suggestions_match_name_starts_practice_and_npi_of_my_organization_only(client, location):
    org = location.organization
    ruiz = PhysicianFactory(organization=org, first_name="Ana", last_name="Ruiz", practice="ENT")
    PhysicianFactory(organization=org, first_name="Rupert", last_name="Hale", practice="Sleep")
    PhysicianFactory(organization=org, first_name="Bo", last_name="Kim", practice="Ruxton ENT")
    PhysicianFactory(organization=OrganizationFactory(), first_name="Ana", last_name="Ruiz")
    assert _suggested(client.get(LOOKUP, {"q": "ru"})) == [
        "Dr Rupert Hale (Sleep)", "Dr Bo Kim (Ruxton ENT)", "Dr Ana Ruiz (ENT)"
    ]  # fmt: skip
    assert _suggested(client.get(LOOKUP, {"q": "dr ana ru"})) == ["Dr Ana Ruiz (ENT)"]
    assert _suggested(client.get(LOOKUP, {"q": ruiz.npi})) == ["Dr Ana Ruiz (ENT)"]
    row = client.get(LOOKUP, {"q": "ruiz"}).json()["results"][0]
    assert row == {
        "id": str(ruiz.public_id),
        "label": physician_label(ruiz),
        "name": "Dr Ana Ruiz (ENT)",
        "detail": f"NPI {ruiz.npi}",
        "npi": ruiz.npi,
    }
    assert _suggested(client.get(LOOKUP, {"q": "nobody"})) == []


def test_suggestions_are_bounded_and_say_when_more_match(client, location):
    PhysicianFactory.create_batch(12, organization=location.organization, first_name="Lee")
    body = client.get(LOOKUP, {"q": "lee"}).json()
    assert len(body["results"]) == 10 and body["more"] is True
    body = client.get(LOOKUP, {"q": ""}).json()
    assert len(body["results"]) == 10 and body["more"] is True
    PhysicianFactory.create_batch(
        2, organization=location.organization, first_name="Mo", last_name="Ode"
    )
    assert client.get(LOOKUP, {"q": "ode"}).json()["more"] is False


def test_a_too_long_query_is_refused_with_a_message(client):
    response = client.get(LOOKUP, {"q": "x" * 101})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Type at most 100 characters."


def test_suggestions_need_a_signed_in_patients_user(location, make_staff, signed_in):
    PhysicianFactory(organization=location.organization, last_name="Ruiz")
    from django.test import Client

    assert Client().get(LOOKUP, {"q": "ruiz"}).status_code in (302, 401, 403)
    support = signed_in(make_staff(Role.SUPPORT, location))
    assert support.get(LOOKUP, {"q": "ruiz"}).status_code in (403, 404)
    technician = signed_in(make_staff(Role.FIELD_TECHNICIAN, location))
    assert _suggested(technician.get(LOOKUP, {"q": "ruiz"})) != []


def test_the_list_filter_takes_the_pickers_label_an_npi_a_public_id_or_a_name(client, location):
    doc = PhysicianFactory(organization=location.organization, first_name="Ana", last_name="Ruiz")
    PatientFactory(home_location=location, last_name="Referred", referring_physician=doc)
    PatientFactory(home_location=location, last_name="Other")
    for given in (physician_label(doc), doc.npi, str(doc.public_id), "Dr Ana Ruiz", "ruiz"):
        response = client.get(LIST, {"physician": given})
        assert names(response) == ["Referred"], given
        # The box shows the physician as the picker would, whatever the link held.
        assert physician_label(doc) in response.content.decode()


def test_a_physician_the_list_cannot_resolve_is_explained_and_not_applied(client, location):
    org = location.organization
    PhysicianFactory(organization=org, first_name="Ana", last_name="Lee")
    PhysicianFactory(organization=org, first_name="Bo", last_name="Lee")
    foreign = PhysicianFactory(organization=OrganizationFactory())
    PatientFactory(home_location=location, last_name="Anyone")
    response = client.get(LIST, {"physician": "lee"})
    assert "Several referring physicians match “lee”" in response.content.decode()
    assert names(response) == ["Anyone"]
    response = client.get(LIST, {"physician": foreign.npi})
    assert "No referring physician matches" in response.content.decode()
    assert names(response) == ["Anyone"]


def test_the_list_page_reads_no_physicians_however_many_there_are(client, location):
    PatientFactory(home_location=location)
    PhysicianFactory.create_batch(2, organization=location.organization, last_name="Few")
    client.get(LIST)
    with CaptureQueriesContext(connection) as few:
        first = client.get(LIST)
    PhysicianFactory.create_batch(40, organization=location.organization, last_name="Many")
    with CaptureQueriesContext(connection) as many:
        second = client.get(LIST)
    assert len(many) == len(few)
    assert not any("patients_physician" in q["sql"] for q in many.captured_queries)
    assert b"Many" not in second.content and b"Few" not in first.content
    assert b'data-picker data-lookup-url="/patients/physicians/lookup"' in second.content


def test_create_takes_the_picked_physician_and_edit_shows_it(client, location):
    doc = PhysicianFactory(organization=location.organization, first_name="Ana", last_name="Ruiz")
    response = client.post(CREATE, form_data(location, referring_physician=physician_label(doc)))
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert patient.referring_physician == doc
    edit = client.get(reverse("patients:edit", kwargs={"public_id": patient.public_id}))
    assert f'value="{physician_label(doc)}"' in edit.content.decode()
    assert "Dr Ana Ruiz" in edit.content.decode()


def test_create_refuses_a_physician_it_cannot_resolve_and_writes_nothing(client, location):
    foreign = PhysicianFactory(organization=OrganizationFactory())
    response = client.post(CREATE, form_data(location, referring_physician=foreign.npi))
    assert response.status_code == 400
    assert "No referring physician matches" in response.content.decode()
    assert not Patient.objects.exists()
