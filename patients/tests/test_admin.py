"""The patients models in the Django admin: scoped to the organization, no deletes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import Role
from patients.tests.factories import PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


def test_org_admin_sees_and_searches_only_their_patients(location, make_staff, signed_in):
    client = signed_in(make_staff(Role.ADMIN, location))
    PatientFactory(home_location=location, last_name="Ourpatient", mrn="OURS-1")
    theirs = PatientFactory(last_name="Theirpatient")
    changelist = reverse("admin:patients_patient_changelist")
    body = client.get(changelist).content.decode()
    assert "Ourpatient" in body and "Theirpatient" not in body
    assert "Ourpatient" in client.get(changelist, {"q": "OURS-1"}).content.decode()
    change = reverse("admin:patients_patient_change", args=[theirs.pk])
    assert client.get(change).status_code == 404


def test_patients_cannot_be_deleted_in_the_admin(location, make_staff, signed_in):
    client = signed_in(make_staff(Role.ADMIN, location))
    p = PatientFactory(home_location=location)
    response = client.post(reverse("admin:patients_patient_delete", args=[p.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert type(p).objects.filter(pk=p.pk).exists()


def test_physician_added_in_the_admin_belongs_to_the_admins_organization(
    location, make_staff, signed_in
):
    from patients.models import Physician

    client = signed_in(make_staff(Role.ADMIN, location))
    PhysicianFactory()  # another organization's
    response = client.post(
        reverse("admin:patients_physician_add"),
        {"first_name": "Ann", "last_name": "Lee", "npi": "1234567893", "practice": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    physician = Physician.objects.get(npi="1234567893")
    assert physician.organization == location.organization


def test_physician_with_bad_npi_is_refused_in_the_admin(location, make_staff, signed_in):
    from patients.models import Physician

    client = signed_in(make_staff(Role.ADMIN, location))
    response = client.post(
        reverse("admin:patients_physician_add"),
        {"first_name": "Ann", "last_name": "Lee", "npi": "1234567890"},
    )
    assert response.status_code == 200
    assert not Physician.objects.exists()
