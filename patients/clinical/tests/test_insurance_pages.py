"""The insurance page of a patient: masked member ids, add / edit / verify / deactivate through
the forms, who may see and change it, audit of every view, constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory
from patients.clinical.tests.factories import InsurancePolicyFactory, PayerFactory
from patients.models import InsurancePolicy, Payer
from patients.record.services import patient_assignment_add
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

MEMBER_ID = "WQX5550193377"


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def client(employee, signed_in):
    return signed_in(employee)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


@pytest.fixture
def payer(location):
    return PayerFactory(organization=location.organization, name="Acme Health")


def url(name, patient, **kwargs):
    return reverse(f"patients:{name}", kwargs={"public_id": patient.public_id, **kwargs})


def policy_url(name, policy):
    return url(name, policy.patient, policy_id=policy.public_id)


def form_data(payer, **overrides):
    data = {
        "rank": "PRIMARY",
        "payer": str(payer.public_id),
        "plan_name": "Gold PPO",
        "member_id": MEMBER_ID,
        "group_number": "G-100",
        "subscriber_name": "",
        "subscriber_relationship": "self",
        "subscriber_date_of_birth": "",
        "effective_from": "2026-01-01",
        "effective_to": "2026-12-31",
    }
    data.update(overrides)
    return data


def test_page_lists_policies_with_only_the_last_four_of_the_member_id(client, patient, payer):
    InsurancePolicyFactory(patient=patient, payer=payer, member_id=MEMBER_ID)
    response = client.get(url("insurance", patient))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Acme Health" in body and "3377" in body
    assert MEMBER_ID not in body and "5550193" not in body


def test_every_view_of_the_page_is_audited_with_ids_only(client, employee, patient):
    client.get(url("insurance", patient))
    client.get(url("insurance", patient))
    rows = AuditEvent.objects.filter(action="patient.insurance_viewed", actor=employee)
    assert rows.count() == 2
    assert {r.object_id for r in rows} == {str(patient.public_id)}


def test_adding_a_policy_through_the_form(client, patient, payer):
    response = client.post(url("insurance_add", patient), form_data(payer))
    assert response.status_code == 302
    policy = InsurancePolicy.objects.get(patient=patient)
    assert policy.member_id == MEMBER_ID and policy.plan_name == "Gold PPO"
    page = client.get(response["Location"])
    assert "Policy added." in page.content.decode()


def test_second_primary_policy_shows_the_rank_message(client, patient, payer):
    InsurancePolicyFactory(patient=patient, payer=payer, rank="PRIMARY")
    response = client.post(url("insurance_add", patient), form_data(payer))
    assert response.status_code == 400
    assert "already has an active primary policy" in response.content.decode()
    assert InsurancePolicy.objects.filter(patient=patient).count() == 1


def test_dates_out_of_order_are_refused_with_a_message(client, patient, payer):
    response = client.post(
        url("insurance_add", patient),
        form_data(payer, effective_from="2026-06-01", effective_to="2026-01-01"),
    )
    assert response.status_code == 400
    assert "cannot end before it starts" in response.content.decode()
    assert not InsurancePolicy.objects.exists()


def test_unknown_payer_is_refused_without_a_server_error(client, patient, payer):
    foreign = PayerFactory()
    response = client.post(url("insurance_add", patient), form_data(foreign))
    assert response.status_code == 400
    assert "Choose a payer from the list." in response.content.decode()


def test_edit_form_never_shows_the_member_id_and_blank_keeps_it(client, patient, payer):
    policy = InsurancePolicyFactory(patient=patient, payer=payer, member_id=MEMBER_ID)
    page = client.get(policy_url("insurance_edit", policy))
    assert page.status_code == 200 and MEMBER_ID not in page.content.decode()
    assert "3377" in page.content.decode()
    response = client.post(
        policy_url("insurance_edit", policy), form_data(payer, member_id="", plan_name="Silver")
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.member_id == MEMBER_ID and policy.plan_name == "Silver"


def test_verify_and_deactivate_through_the_page(client, employee, patient, payer):
    policy = InsurancePolicyFactory(patient=patient, payer=payer)
    assert (
        client.post(policy_url("insurance_verify", policy), {"status": "verified"}).status_code
        == 302
    )
    policy.refresh_from_db()
    assert policy.verification_status == "verified" and policy.verified_by == employee
    bad = client.post(policy_url("insurance_verify", policy), {"status": "maybe"})
    assert bad.status_code == 400 and "Choose verified or failed." in bad.content.decode()
    assert client.post(policy_url("insurance_deactivate", policy)).status_code == 302
    policy.refresh_from_db()
    assert not policy.is_active


def test_adding_a_payer_from_the_page(client, patient, employee):
    response = client.post(
        url("payer_add", patient),
        {"payer-name": "Medicare Part B", "payer-payer_code": "MCR", "payer-kind": "medicare"},
    )
    assert response.status_code == 302
    assert Payer.objects.get(organization=employee.organization).kind == "medicare"


def test_policy_of_another_patient_is_not_reachable_through_this_one(client, patient, payer):
    other = PatientFactory(home_location=patient.home_location)
    policy = InsurancePolicyFactory(patient=other, payer=payer)
    response = client.post(url("insurance_deactivate", patient, policy_id=policy.public_id))
    assert response.status_code == 404
    policy.refresh_from_db()
    assert policy.is_active


# -- who may see and change it ----------------------------------------------------------------


@pytest.mark.parametrize(
    "role, at_home, sees, changes",
    [
        (Role.ADMIN, False, True, True),
        (Role.EMPLOYEE, True, True, True),
        (Role.CLINICIAN, True, True, False),
        (Role.EMPLOYEE, False, False, False),
        (Role.FIELD_TECHNICIAN, True, False, False),
        (Role.SUPPORT, True, False, False),
    ],
)
def test_role_matrix(role, at_home, sees, changes, location, patient, payer, make_staff, signed_in):
    where = location if at_home else LocationFactory(organization=location.organization)
    user = make_staff(role, where)
    if role == Role.FIELD_TECHNICIAN:
        patient_assignment_add(actor=None, patient=patient, technician=user)
    policy = InsurancePolicyFactory(patient=patient, payer=payer, rank="SECONDARY")
    client = signed_in(user)
    before = set(AuditEvent.objects.values_list("id", flat=True))

    page = client.get(url("insurance", patient))
    assert page.status_code == (200 if sees else 404)
    add = client.post(url("insurance_add", patient), form_data(payer))
    deactivate = client.post(policy_url("insurance_deactivate", policy))
    policy.refresh_from_db()
    if changes:
        assert add.status_code == deactivate.status_code == 302
        assert not policy.is_active
        return
    assert add.status_code == deactivate.status_code == 404
    assert policy.is_active and InsurancePolicy.objects.count() == 1
    new = AuditEvent.objects.exclude(id__in=before)
    actions = sorted(new.values_list("action", flat=True))
    if sees:  # a clinician: the page view is audited, the refused changes leave a refusal each
        assert actions == ["patient.access_refused"] * 2 + ["patient.insurance_viewed"]
    elif role == Role.FIELD_TECHNICIAN:
        # The patient is theirs to visit; the section is not: only the refusals remain.
        assert actions == ["patient.access_refused"] * 3
        assert all(r.details["section"] == "insurance" for r in new)
    else:
        assert actions == []
    assert MEMBER_ID not in page.content.decode()


def test_query_count_does_not_grow_with_the_number_of_policies(client, patient, location):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url("insurance", patient)).status_code == 200
        return len(ctx.captured_queries)

    InsurancePolicyFactory(patient=patient, payer=PayerFactory(organization=location.organization))
    few = count()
    for rank in ("SECONDARY", "TERTIARY"):
        InsurancePolicyFactory(
            patient=patient, rank=rank, payer=PayerFactory(organization=location.organization)
        )
    for _ in range(4):
        policy = InsurancePolicyFactory(
            patient=patient,
            payer=PayerFactory(organization=location.organization),
            rank="PRIMARY",
            is_active=False,
        )
        assert policy.pk
    PayerFactory.create_batch(5, organization=location.organization)
    assert count() == few
