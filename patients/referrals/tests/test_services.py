"""Referral services: the status lifecycle one step at a time, assignment, who may write."""

from __future__ import annotations

import datetime

import pytest

from clinic import times
from clinic.errors import ApplicationError, PermissionDenied
from clinic.models import AuditEvent, Role
from patients.models import Referral, ReferralStatus, ReferralStatusChange
from patients.referrals import services
from patients.referrals.tests.factories import ReferralFactory
from patients.tests.factories import PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def employee(make_staff, location):
    return make_staff(role=Role.EMPLOYEE, location=location)


@pytest.fixture
def referral(location):
    return ReferralFactory(patient=PatientFactory(home_location=location))


def test_receive_records_a_referral_and_audits_it_by_public_id(employee, location):
    patient = PatientFactory(home_location=location)
    physician = PhysicianFactory(organization=location.organization)
    referral = services.referral_receive(
        actor=employee,
        patient=patient,
        physician=physician,
        received_on=datetime.date(2026, 2, 1),
        reason="  Suspected OSA  ",
    )
    assert referral.status == ReferralStatus.RECEIVED
    assert referral.reason == "Suspected OSA"
    assert referral.created_by == employee
    event = AuditEvent.objects.get(action="referral.received")
    assert event.object_id == str(referral.public_id)
    assert "OSA" not in str(event.details)


def test_receive_refuses_a_physician_of_another_organization(employee, location):
    patient = PatientFactory(home_location=location)
    with pytest.raises(ApplicationError, match="physician"):
        services.referral_receive(
            actor=employee,
            patient=patient,
            physician=PhysicianFactory(),
            received_on=datetime.date(2026, 2, 1),
            reason="OSA",
        )
    assert not Referral.objects.exists()


def test_the_lifecycle_moves_one_step_at_a_time_with_a_history(employee, referral):
    for to in (ReferralStatus.CONTACTED, ReferralStatus.SCHEDULED, ReferralStatus.CLOSED):
        referral = services.referral_advance(actor=employee, referral=referral, to=to, note="ok")
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.CLOSED
    moves = [(c.from_status, c.to_status) for c in referral.status_changes.all()]
    assert moves == [
        ("RECEIVED", "CONTACTED"),
        ("CONTACTED", "SCHEDULED"),
        ("SCHEDULED", "CLOSED"),
    ]
    assert AuditEvent.objects.filter(action="referral.status_changed").count() == 3


def test_skipping_a_step_is_refused_naming_the_allowed_next_status(employee, referral):
    with pytest.raises(services.ReferralTransitionRefused, match="only move to contacted"):
        services.referral_advance(actor=employee, referral=referral, to=ReferralStatus.SCHEDULED)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.RECEIVED
    assert not ReferralStatusChange.objects.exists()


def test_going_back_is_refused(employee, referral):
    services.referral_advance(actor=employee, referral=referral, to=ReferralStatus.CONTACTED)
    with pytest.raises(services.ReferralTransitionRefused, match="only move to scheduled"):
        services.referral_advance(actor=employee, referral=referral, to=ReferralStatus.RECEIVED)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.CONTACTED


def test_a_closed_referral_cannot_move(employee, referral):
    Referral.objects.filter(pk=referral.pk).update(status=ReferralStatus.CLOSED)
    with pytest.raises(services.ReferralTransitionRefused, match="cannot move any further"):
        services.referral_advance(actor=employee, referral=referral, to=ReferralStatus.RECEIVED)


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_only_office_staff_and_admins_change_referrals(make_staff, location, referral, role):
    user = make_staff(role=role, location=location)
    with pytest.raises(PermissionDenied):
        services.referral_advance(actor=user, referral=referral, to=ReferralStatus.CONTACTED)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.RECEIVED


def test_an_employee_of_another_location_cannot_change_the_referral(make_staff, referral):
    other = make_staff(role=Role.EMPLOYEE)
    with pytest.raises(PermissionDenied):
        services.referral_advance(actor=other, referral=referral, to=ReferralStatus.CONTACTED)


def test_assign_to_a_staff_member_of_the_location(employee, make_staff, location, referral):
    colleague = make_staff(role=Role.EMPLOYEE, location=location)
    services.referral_assign(actor=employee, referral=referral, assignee=colleague)
    referral.refresh_from_db()
    assert referral.assigned_to == colleague


def test_assign_refuses_someone_outside_the_location(employee, make_staff, referral):
    stranger = make_staff(role=Role.EMPLOYEE)
    tech = make_staff(role=Role.FIELD_TECHNICIAN, location=referral.patient.home_location)
    for who in (stranger, tech):
        with pytest.raises(ApplicationError, match="staff member"):
            services.referral_assign(actor=employee, referral=referral, assignee=who)
    referral.refresh_from_db()
    assert referral.assigned_to is None


def test_a_received_date_after_today_where_the_patient_is_seen_is_refused(
    employee, location, monkeypatch
):
    evening = datetime.datetime(2026, 12, 4, 2, 30, tzinfo=datetime.UTC)  # 3 Dec in Chicago
    monkeypatch.setattr(times, "local_now", lambda where: evening.astimezone(times.zone_for(where)))
    location.timezone = "America/Chicago"
    location.save()
    patient = PatientFactory(home_location=location)
    physician = PhysicianFactory(organization=location.organization)
    with pytest.raises(ApplicationError, match="cannot be in the future"):
        services.referral_receive(
            actor=employee,
            patient=patient,
            physician=physician,
            received_on=datetime.date(2026, 12, 4),
            reason="Snoring",
        )
    referral = services.referral_receive(
        actor=employee,
        patient=patient,
        physician=physician,
        received_on=datetime.date(2026, 12, 3),
        reason="Snoring",
    )
    assert referral.received_on == datetime.date(2026, 12, 3)
