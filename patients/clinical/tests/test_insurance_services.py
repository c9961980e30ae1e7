"""Insurance policies: encryption of member ids, lookup by hash within scope, one active policy
per rank, effective dates, verification, deactivation and audit rows without PHI."""

from __future__ import annotations

import datetime
import json

import pytest
from django.db import IntegrityError, connection, transaction

from clinic.crypto import lookup_hash
from clinic.errors import ApplicationError, Conflict
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory
from patients.clinical import services
from patients.clinical.tests.factories import InsurancePolicyFactory, PayerFactory
from patients.models import InsurancePolicy, Payer, VerificationStatus
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

MEMBER_ID = "XQZ-8841 2207"


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


@pytest.fixture
def payer(location):
    return PayerFactory(organization=location.organization, name="Acme Health")


def add(actor, patient, payer, **fields):
    return services.insurance_policy_add(
        actor=actor, patient=patient, rank=fields.pop("rank", "PRIMARY"), payer=payer, **fields
    )


# -- encryption and lookup --------------------------------------------------------------------


def test_member_id_is_encrypted_at_rest_and_read_back_plain(employee, patient, payer):
    policy = add(employee, patient, payer, member_id=MEMBER_ID)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT member_id, member_id_hash FROM patients_insurancepolicy WHERE id = %s",
            [policy.pk],
        )
        stored, digest = cursor.fetchone()
    assert stored and "8841" not in stored and MEMBER_ID not in stored
    assert digest == lookup_hash("XQZ88412207")
    assert InsurancePolicy.objects.get(pk=policy.pk).member_id == MEMBER_ID


def test_member_id_is_not_copied_into_the_change_history(employee, patient, payer):
    add(employee, patient, payer, member_id=MEMBER_ID)
    columns = [
        c.name
        for c in connection.introspection.get_table_description(
            connection.cursor(), "patients_insurancepolicyevent"
        )
    ]
    assert "member_id" not in columns and "member_id_hash" not in columns


def test_policy_is_found_by_member_id_however_it_is_typed(employee, patient, payer):
    policy = add(employee, patient, payer, member_id=MEMBER_ID)
    add(employee, patient, payer, rank="SECONDARY", member_id="OTHER1")
    found = services.policies_find_by_member_id(user=employee, member_id="xqz 8841-2207")
    assert list(found) == [policy]


def test_member_id_lookup_stays_within_what_the_user_may_see(
    employee, patient, payer, location, make_staff
):
    add(employee, patient, payer, member_id=MEMBER_ID)
    elsewhere = LocationFactory(organization=location.organization)
    colleague_elsewhere = make_staff(Role.EMPLOYEE, elsewhere)
    other_org_admin = make_staff(Role.ADMIN, LocationFactory())
    support = make_staff(Role.SUPPORT, location)
    for user in (colleague_elsewhere, other_org_admin, support):
        assert not services.policies_find_by_member_id(user=user, member_id=MEMBER_ID).exists()
    admin = make_staff(Role.ADMIN, elsewhere)
    assert services.policies_find_by_member_id(user=admin, member_id=MEMBER_ID).count() == 1


def test_assigned_technician_cannot_find_policies(employee, patient, payer, location, make_staff):
    from patients.record.services import patient_assignment_add

    add(employee, patient, payer, member_id=MEMBER_ID)
    tech = make_staff(Role.FIELD_TECHNICIAN, location)
    patient_assignment_add(actor=None, patient=patient, technician=tech)
    assert not services.policies_find_by_member_id(user=tech, member_id=MEMBER_ID).exists()
    # The same search by someone with the full record finds it.
    assert services.policies_find_by_member_id(user=employee, member_id=MEMBER_ID).count() == 1


def test_blank_member_id_finds_nothing(employee, patient, payer):
    add(employee, patient, payer, member_id=MEMBER_ID)
    assert not services.policies_find_by_member_id(user=employee, member_id=" - ").exists()
    assert services.policies_find_by_member_id(user=employee, member_id=MEMBER_ID).count() == 1


def test_masked_member_id_shows_only_the_last_four(employee, patient, payer):
    policy = add(employee, patient, payer, member_id="ABCD123456")
    assert policy.member_id_masked == "••••••3456"
    assert add(employee, patient, payer, rank="SECONDARY", member_id="12").member_id_masked == (
        "••••12"
    )


# -- one active policy per rank ---------------------------------------------------------------


def test_second_active_primary_policy_is_refused_with_a_message(employee, patient, payer):
    add(employee, patient, payer, member_id="A1")
    before = AuditEvent.objects.count()
    with pytest.raises(Conflict, match="already has an active primary policy"):
        add(employee, patient, payer, member_id="A2")
    assert InsurancePolicy.objects.filter(patient=patient).count() == 1
    assert AuditEvent.objects.count() == before


def test_database_refuses_a_second_active_policy_of_the_same_rank(patient, payer):
    InsurancePolicyFactory(patient=patient, payer=payer, rank="PRIMARY")
    with pytest.raises(IntegrityError), transaction.atomic():
        InsurancePolicyFactory(patient=patient, payer=payer, rank="PRIMARY")


def test_deactivating_a_policy_frees_its_rank(employee, patient, payer):
    first = add(employee, patient, payer)
    services.insurance_policy_deactivate(actor=employee, policy=first)
    second = add(employee, patient, payer)
    first.refresh_from_db()
    assert not first.is_active and second.is_active


def test_changing_rank_onto_a_taken_rank_is_refused(employee, patient, payer):
    add(employee, patient, payer)
    secondary = add(employee, patient, payer, rank="SECONDARY")
    with pytest.raises(Conflict):
        services.insurance_policy_update(actor=employee, policy=secondary, rank="PRIMARY")
    secondary.refresh_from_db()
    assert secondary.rank == "SECONDARY"


# -- effective dates and other input ----------------------------------------------------------


def test_coverage_that_ends_before_it_starts_is_refused(employee, patient, payer):
    with pytest.raises(ApplicationError, match="cannot end before it starts") as exc:
        add(
            employee,
            patient,
            payer,
            effective_from=datetime.date(2026, 5, 1),
            effective_to=datetime.date(2026, 4, 30),
        )
    assert exc.value.extra["field"] == "effective_to"
    assert not InsurancePolicy.objects.exists()


def test_database_refuses_effective_dates_out_of_order(patient, payer):
    with pytest.raises(IntegrityError), transaction.atomic():
        InsurancePolicyFactory(
            patient=patient,
            payer=payer,
            effective_from=datetime.date(2026, 5, 1),
            effective_to=datetime.date(2026, 4, 30),
        )


def test_same_day_coverage_is_allowed(employee, patient, payer):
    day = datetime.date(2026, 5, 1)
    assert add(employee, patient, payer, effective_from=day, effective_to=day).pk


def test_payer_of_another_organization_is_refused(employee, patient):
    foreign = PayerFactory()
    with pytest.raises(ApplicationError, match="your organization's payers"):
        add(employee, patient, foreign)


def test_payer_names_are_unique_in_an_organization(employee, payer):
    with pytest.raises(Conflict):
        services.payer_add(actor=employee, name="acme health")
    assert services.payer_add(actor=employee, name="Blue Shield", payer_code="bs-1").payer_code == (
        "BS-1"
    )
    assert Payer.objects.filter(organization=employee.organization).count() == 2


# -- verification and updates -----------------------------------------------------------------


def test_verification_records_outcome_by_whom_and_when(employee, patient, payer):
    policy = add(employee, patient, payer)
    services.insurance_policy_verify(actor=employee, policy=policy, status="verified")
    policy.refresh_from_db()
    assert policy.verification_status == VerificationStatus.VERIFIED
    assert policy.verified_by == employee and policy.verified_at is not None


def test_unknown_verification_outcome_is_refused(employee, patient, payer):
    policy = add(employee, patient, payer)
    with pytest.raises(ApplicationError):
        services.insurance_policy_verify(actor=employee, policy=policy, status="unverified")


def test_changing_the_member_id_makes_the_policy_unverified_again(employee, patient, payer):
    policy = add(employee, patient, payer, member_id="OLD1")
    services.insurance_policy_verify(actor=employee, policy=policy, status="verified")
    services.insurance_policy_update(actor=employee, policy=policy, member_id="NEW-22")
    policy.refresh_from_db()
    assert policy.verification_status == VerificationStatus.UNVERIFIED
    assert policy.verified_by is None
    assert policy.member_id_hash == lookup_hash("NEW22")


def test_changing_the_plan_name_keeps_the_verification(employee, patient, payer):
    policy = add(employee, patient, payer)
    services.insurance_policy_verify(actor=employee, policy=policy, status="verified")
    services.insurance_policy_update(actor=employee, policy=policy, plan_name="Gold PPO")
    policy.refresh_from_db()
    assert policy.verification_status == VerificationStatus.VERIFIED


def test_inactive_policy_cannot_be_changed_or_verified(employee, patient, payer):
    policy = add(employee, patient, payer)
    services.insurance_policy_deactivate(actor=employee, policy=policy)
    with pytest.raises(ApplicationError):
        services.insurance_policy_update(actor=employee, policy=policy, plan_name="X")
    with pytest.raises(ApplicationError):
        services.insurance_policy_verify(actor=employee, policy=policy, status="verified")


# -- audit ------------------------------------------------------------------------------------


def test_audit_rows_name_ids_only_never_the_member_id_or_plan(employee, patient, payer):
    policy = add(
        employee,
        patient,
        payer,
        member_id=MEMBER_ID,
        plan_name="Gold PPO",
        group_number="GRP-7781",
        subscriber_name="Pat Subscriber",
    )
    services.insurance_policy_update(actor=employee, policy=policy, member_id="ZZ-99887766")
    services.insurance_policy_verify(actor=employee, policy=policy, status="failed")
    services.insurance_policy_deactivate(actor=employee, policy=policy)
    rows = AuditEvent.objects.filter(object_id=str(policy.public_id)).order_by("id")
    assert [r.action for r in rows] == [
        "insurance_policy.added",
        "insurance_policy.updated",
        "insurance_policy.verified",
        "insurance_policy.deactivated",
    ]
    dumped = json.dumps([r.details for r in rows])
    for secret in ("8841", "99887766", "Gold", "GRP", "Subscriber", patient.last_name):
        assert secret not in dumped
    assert rows[1].details == {"patient": str(patient.public_id), "fields": ["member_id"]}


# -- keys -------------------------------------------------------------------------------------

OLD_KEY = "dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDE="
NEW_KEY = "dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDI="


def test_member_ids_survive_a_key_rotation(employee, patient, payer, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    policy = add(employee, patient, payer, member_id=MEMBER_ID)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    call_command("rotate_encryption", stdout=StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert InsurancePolicy.objects.get(pk=policy.pk).member_id == MEMBER_ID
    assert list(services.policies_find_by_member_id(user=employee, member_id=MEMBER_ID)) == [policy]


def test_hashes_are_recomputed_after_the_hash_key_changes(employee, patient, payer, settings):
    policy = add(employee, patient, payer, member_id=MEMBER_ID)
    add(employee, patient, payer, rank="SECONDARY")  # no member id: stays blank
    settings.FIELD_HASH_KEY = "another-test-only-hash-key-" + "k" * 20
    assert not services.policies_find_by_member_id(user=employee, member_id=MEMBER_ID).exists()
    assert services.member_id_hashes_recompute(batch_size=1) == 1
    assert list(services.policies_find_by_member_id(user=employee, member_id=MEMBER_ID)) == [policy]
    assert services.member_id_hashes_recompute() == 0
