"""The patient list's insurance and technician filters and member-id search: who gets them,
that they narrow correctly, that they keep keyset paging and a constant number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import LocationFactory, MembershipFactory
from patients.bulk.tests.test_export import exported
from patients.clinical.tests.factories import InsurancePolicyFactory, PayerFactory
from patients.record import services
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

LIST = reverse("patients:list")


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def client(employee, signed_in):
    return signed_in(employee)


def names(response) -> list[str]:
    return [p.last_name for p in response.context["rows"]]


def covered(patient, payer, **kwargs):
    return InsurancePolicyFactory(patient=patient, payer=payer, **kwargs)


def test_payer_filter_keeps_patients_whose_active_policy_is_with_that_payer(client, location):
    org = location.organization
    medicare, acme = PayerFactory(organization=org, name="Medicare"), PayerFactory(organization=org)
    covered(PatientFactory(home_location=location, last_name="Primary"), medicare)
    covered(
        PatientFactory(home_location=location, last_name="Secondary"), medicare, rank="SECONDARY"
    )
    covered(PatientFactory(home_location=location, last_name="Lapsed"), medicare, is_active=False)
    covered(PatientFactory(home_location=location, last_name="Other"), acme)
    PatientFactory(home_location=location, last_name="Uninsured")
    assert names(client.get(LIST, {"payer": str(medicare.public_id)})) == ["Primary", "Secondary"]
    assert names(client.get(LIST, {"payer": str(acme.public_id)})) == ["Other"]


def test_technician_filter_keeps_the_technicians_assigned_patients(client, location, make_staff):
    tech = make_staff(Role.FIELD_TECHNICIAN, location)
    other = make_staff(Role.FIELD_TECHNICIAN, location)
    served = PatientFactory(home_location=location, last_name="Served")
    services.patient_assignment_add(actor=None, patient=served, technician=tech)
    elsewhere = PatientFactory(home_location=location, last_name="Elsewhere")
    services.patient_assignment_add(actor=None, patient=elsewhere, technician=other)
    PatientFactory(home_location=location, last_name="Nobody")
    response = client.get(LIST, {"technician": str(tech.public_id)})
    assert names(response) == ["Served"]
    options = response.context["form"].fields["technician"].queryset
    assert set(options) == {tech, other}


def test_payer_or_technician_of_another_organization_is_an_error_not_a_filter(client, location):
    PatientFactory(home_location=location, last_name="Mine")
    foreign_payer = PayerFactory()
    foreign_tech = MembershipFactory(role=Role.FIELD_TECHNICIAN).user
    for name, value in (("payer", foreign_payer.public_id), ("technician", foreign_tech.public_id)):
        response = client.get(LIST, {name: str(value)})
        assert response.status_code == 200
        assert name in response.context["form"].errors
        assert names(response) == ["Mine"]
    assert client.get(LIST, {"payer": "not-a-uuid"}).status_code == 200


def test_member_id_search_finds_the_policy_holder_however_it_is_typed(client, location):
    holder = PatientFactory(home_location=location, last_name="Holder")
    covered(holder, PayerFactory(organization=location.organization), member_id="XQW123456789")
    digits = PatientFactory(home_location=location, last_name="Digits")
    covered(digits, PayerFactory(organization=location.organization), member_id="987654321")
    PatientFactory(home_location=location, last_name="Bystander")
    assert names(client.get(LIST, {"q": "XQW123456789"})) == ["Holder"]
    assert names(client.get(LIST, {"q": "xqw-1234 56789"})) == ["Holder"]
    assert names(client.get(LIST, {"q": "987-654-321"})) == ["Digits"]
    assert names(client.get(LIST, {"q": "XQW12345678"})) == []  # exact only


def test_member_id_search_ignores_other_organizations_policies(client, location):
    PatientFactory(home_location=location, last_name="Mine")
    covered(PatientFactory(last_name="Foreign"), PayerFactory(), member_id="ZZ99887766")
    assert names(client.get(LIST, {"q": "ZZ99887766"})) == []
    mine = PatientFactory(home_location=location, last_name="Holder")
    covered(mine, PayerFactory(organization=location.organization), member_id="ZZ11223344")
    assert names(client.get(LIST, {"q": "ZZ11223344"})) == ["Holder"]


def test_technician_cannot_search_or_filter_by_insurance(location, make_staff, signed_in):
    """Insurance is not part of a technician's view of their patients: member-id search finds
    nothing and there is no payer (or technician) filter to use."""
    tech = make_staff(Role.FIELD_TECHNICIAN, location)
    patient = PatientFactory(home_location=location, last_name="Assigned")
    services.patient_assignment_add(actor=None, patient=patient, technician=tech)
    payer = PayerFactory(organization=location.organization)
    covered(patient, payer, member_id="TT55554444")
    client = signed_in(tech)
    assert names(client.get(LIST)) == ["Assigned"]
    assert names(client.get(LIST, {"q": "TT55554444"})) == []
    response = client.get(LIST, {"payer": str(payer.public_id)})
    assert "payer" not in response.context["form"].fields
    assert "technician" not in response.context["form"].fields
    assert names(response) == ["Assigned"]  # an unknown parameter is ignored, not applied
    assert b'name="payer"' not in response.content


def test_employee_who_is_also_a_technician_elsewhere_sees_insurance_only_at_home(
    location, make_staff, signed_in
):
    user = make_staff(Role.EMPLOYEE, location)
    away = LocationFactory(organization=location.organization)
    MembershipFactory(user=user, location=away, role=Role.FIELD_TECHNICIAN)
    payer = PayerFactory(organization=location.organization)
    home = PatientFactory(home_location=location, last_name="Home")
    covered(home, payer, member_id="HH11112222")
    assigned = PatientFactory(home_location=away, last_name="Assigned")
    services.patient_assignment_add(actor=None, patient=assigned, technician=user)
    covered(assigned, payer, member_id="AA33334444")
    client = signed_in(user)
    assert names(client.get(LIST)) == ["Assigned", "Home"]
    assert names(client.get(LIST, {"payer": str(payer.public_id)})) == ["Home"]
    assert names(client.get(LIST, {"q": "HH11112222"})) == ["Home"]
    assert names(client.get(LIST, {"q": "AA33334444"})) == []


def test_filtered_lists_page_by_keyset_over_every_match_once(client, location, make_staff):
    tech = make_staff(Role.FIELD_TECHNICIAN, location)
    payer = PayerFactory(organization=location.organization)
    for i in range(28):
        p = PatientFactory(home_location=location, last_name=f"P{i:02d}", first_name="Same")
        covered(p, payer)
        services.patient_assignment_add(actor=None, patient=p, technician=tech)
    PatientFactory(home_location=location, last_name="P99")
    filters = {"payer": str(payer.public_id), "technician": str(tech.public_id)}
    seen: list[str] = []
    params = dict(filters)
    while True:
        response = client.get(LIST, params)
        seen += names(response)
        if not response.context["has_next"]:
            break
        assert "payer=" in response.context["query"]  # the next link keeps the filters
        params = {**filters, "after": str(response.context["next_after"])}
    assert seen == [f"P{i:02d}" for i in range(28)]


def test_list_with_payer_technician_and_member_id_runs_constant_queries(
    client, location, make_staff
):
    tech = make_staff(Role.FIELD_TECHNICIAN, location)
    payer = PayerFactory(organization=location.organization)
    filters = [
        {"payer": str(payer.public_id), "technician": str(tech.public_id)},
        {"q": "MBR0000001"},
        {"q": "Smith"},
    ]

    def add(n: int) -> None:
        for _ in range(n):
            p = PatientFactory(home_location=location, last_name="Smith")
            covered(p, payer)
            services.patient_assignment_add(actor=None, patient=p, technician=tech)
            PayerFactory(organization=location.organization)  # more choices in the select
            make_staff(Role.FIELD_TECHNICIAN, location)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            for params in filters:
                response = client.get(LIST, params)
                assert response.status_code == 200
        return len(ctx.captured_queries)

    add(3)
    few = count()
    add(27)
    assert count() == few


def test_export_applies_the_payer_and_technician_filters(location, make_staff, signed_in):
    admin = make_staff(Role.ADMIN, location)
    tech = make_staff(Role.FIELD_TECHNICIAN, location)
    payer = PayerFactory(organization=location.organization)
    both = PatientFactory(home_location=location, last_name="Both")
    covered(both, payer)
    services.patient_assignment_add(actor=None, patient=both, technician=tech)
    covered(PatientFactory(home_location=location, last_name="Payeronly"), payer)
    PatientFactory(home_location=location, last_name="Neither")
    params = {"payer": str(payer.public_id), "technician": str(tech.public_id)}
    body = exported(signed_in(admin), params).decode()
    assert "Both" in body and "Payeronly" not in body and "Neither" not in body
