"""Referring physicians pages: list, search, add with NPI check, edit, scoping."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from patients.models import Physician
from patients.tests.factories import PhysicianFactory

pytestmark = pytest.mark.django_db

LIST = reverse("patients:physicians")
CREATE = reverse("patients:physician_create")


@pytest.fixture
def client(location, make_staff, signed_in):
    return signed_in(make_staff(Role.EMPLOYEE, location))


def test_list_and_search_show_only_my_organizations_physicians(client, location):
    PhysicianFactory(
        organization=location.organization, last_name="Ourdoctor", practice="Lungs R Us"
    )
    PhysicianFactory(last_name="Theirdoctor")
    body = client.get(LIST).content.decode()
    assert "Ourdoctor" in body and "Theirdoctor" not in body
    assert "Ourdoctor" in client.get(LIST, {"q": "lungs"}).content.decode()
    assert "Ourdoctor" not in client.get(LIST, {"q": "nobody"}).content.decode()


def test_add_physician_normalizes_phone_and_is_audited(client, location):
    response = client.post(
        CREATE,
        {"first_name": "Ann", "last_name": "Lee", "npi": "1234567893", "phone": "201-555-0123"},
    )
    assert response.status_code == 302
    physician = Physician.objects.get()
    assert physician.organization == location.organization
    assert physician.phone == "+12015550123"
    assert AuditEvent.objects.filter(action="physician.created").count() == 1


def test_bad_npi_is_refused_with_a_message(client):
    response = client.post(CREATE, {"first_name": "Ann", "last_name": "Lee", "npi": "1234567890"})
    assert response.status_code == 400
    assert "check digit" in response.content.decode()
    assert not Physician.objects.exists()


def test_edit_physician(client, location):
    physician = PhysicianFactory(organization=location.organization)
    url = reverse("patients:physician_edit", kwargs={"public_id": physician.public_id})
    assert client.get(url).status_code == 200
    data = {
        "first_name": "Grace",
        "last_name": physician.last_name,
        "npi": physician.npi,
        "practice": "New Practice",
    }
    assert client.post(url, data).status_code == 302
    physician.refresh_from_db()
    assert physician.practice == "New Practice"


def test_another_organizations_physician_is_404(client):
    physician = PhysicianFactory()
    url = reverse("patients:physician_edit", kwargs={"public_id": physician.public_id})
    assert client.get(url).status_code == 404
    assert (
        client.post(url, {"first_name": "X", "last_name": "Y", "npi": physician.npi}).status_code
        == 404
    )


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_technicians_and_support_do_not_manage_physicians(location, make_staff, signed_in, role):
    client = signed_in(make_staff(role, location))
    assert client.get(LIST).status_code == 404
    assert (
        client.post(CREATE, {"first_name": "A", "last_name": "B", "npi": "1234567893"}).status_code
        == 404
    )
    assert not Physician.objects.exists()
