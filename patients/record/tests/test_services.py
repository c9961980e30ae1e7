"""Services of the patient record: registration, edits, lifecycle, notes, physicians."""

from __future__ import annotations

import datetime

import pytest

from clinic.errors import ApplicationError, Conflict
from clinic.models import AuditEvent, Role
from clinic.phones import InvalidPhoneNumber
from clinic.tests.factories import LocationFactory
from patients.models import Patient, PatientNote, PatientStatus, PatientStatusChange, npi_is_valid
from patients.record import services
from patients.record.selectors import patient_duplicates
from patients.tests.factories import PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db

S = PatientStatus
DOB = datetime.date(1958, 3, 2)


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


def register(actor, location, **kwargs):
    data = {"first_name": "Maria", "last_name": "Lopez", "date_of_birth": DOB}
    data.update(kwargs)
    return services.patient_register(actor=actor, home_location=location, **data)


def _audit_text(row: AuditEvent) -> str:
    return repr(row.details) + row.object_id + row.object_type


# -- registration ---------------------------------------------------------------------------


def test_register_creates_pending_patient_with_mrn_and_audit_row_without_phi(employee, location):
    patient = register(employee, location, phone_mobile="(201) 555-0123", email="m@example.test")
    assert patient.status == S.PENDING_SCHEDULE
    assert patient.mrn and patient.organization == location.organization
    assert patient.created_by == employee
    row = AuditEvent.objects.get(action="patient.registered")
    assert row.object_id == str(patient.public_id)
    for phi in ("Maria", "Lopez", "1958", "555-0123", "m@example", patient.mrn):
        assert phi not in _audit_text(row)


def test_phone_numbers_are_stored_in_e164(employee, location):
    patient = register(
        employee, location, phone_mobile="(201) 555-0123", phone_home="+44 20 7946 0958"
    )
    assert patient.phone_mobile == "+12015550123"
    assert patient.phone_home == "+442079460958"


@pytest.mark.parametrize("bad", ["12345", "call me", "+1 000 000 0000"])
def test_invalid_phone_is_refused_and_nothing_is_saved(employee, location, bad):
    with pytest.raises(InvalidPhoneNumber) as exc:
        register(employee, location, phone_mobile=bad)
    assert exc.value.extra["field"] == "phone_mobile"
    assert not Patient.objects.exists()
    assert not AuditEvent.objects.filter(action="patient.registered").exists()


def test_mrn_is_unique_per_organization_only(employee, location, make_staff):
    register(employee, location, mrn="A-100")
    with pytest.raises(Conflict):
        register(employee, location, mrn="A-100", first_name="Other")
    other_location = LocationFactory()
    other = make_staff(Role.EMPLOYEE, other_location)
    assert register(other, other_location, mrn="A-100").mrn == "A-100"
    assert Patient.objects.filter(mrn="A-100").count() == 2


def test_future_date_of_birth_is_refused(employee, location):
    with pytest.raises(ApplicationError):
        register(
            employee, location, date_of_birth=datetime.date.today() + datetime.timedelta(days=1)
        )


def test_search_name_follows_the_names(employee, location):
    patient = register(employee, location, first_name="José", last_name="Núñez")
    assert patient.search_name == "jose nunez"
    services.patient_update(actor=employee, patient=patient, preferred_name="Pepe")
    patient.refresh_from_db()
    assert patient.search_name == "jose nunez pepe"


# -- updates --------------------------------------------------------------------------------


def test_update_records_changed_field_names_only(employee, location):
    patient = register(employee, location)
    services.patient_update(
        actor=employee, patient=patient, last_name="Lopez-Garcia", city="Austin", first_name="Maria"
    )
    row = AuditEvent.objects.get(action="patient.updated")
    assert row.details == {"fields": ["city", "last_name"]}
    assert "Garcia" not in _audit_text(row) and "Austin" not in _audit_text(row)
    patient.refresh_from_db()
    assert patient.last_name == "Lopez-Garcia"


def test_update_without_changes_writes_no_audit_row(employee, location):
    patient = register(employee, location)
    services.patient_update(actor=employee, patient=patient, first_name="Maria")
    assert not AuditEvent.objects.filter(action="patient.updated").exists()
    services.patient_update(actor=employee, patient=patient, first_name="Mariana")
    assert AuditEvent.objects.filter(action="patient.updated").count() == 1


def test_update_cannot_touch_status(employee, location):
    patient = register(employee, location)
    with pytest.raises(TypeError):
        services.patient_update(actor=employee, patient=patient, status=S.ACTIVE)
    patient.refresh_from_db()
    assert patient.status == S.PENDING_SCHEDULE


def test_update_is_kept_in_change_history(employee, location):
    from clinic.audit.selectors import history_for

    patient = register(employee, location)
    services.patient_update(actor=employee, patient=patient, city="Austin")
    entries = history_for(patient)
    assert entries[0].kind == "changed"
    assert [c.field for c in entries[0].changes] == ["city"]


# -- lifecycle ------------------------------------------------------------------------------


def test_allowed_status_change_is_recorded_with_reason_and_audited(employee, location):
    patient = register(employee, location)
    services.patient_status_change(
        actor=employee, patient=patient, to=S.SCHEDULED, reason="Booked by phone"
    )
    patient.refresh_from_db()
    assert patient.status == S.SCHEDULED
    change = PatientStatusChange.objects.get(patient=patient)
    assert (change.from_status, change.to_status, change.reason, change.actor) == (
        S.PENDING_SCHEDULE,
        S.SCHEDULED,
        "Booked by phone",
        employee,
    )
    row = AuditEvent.objects.get(action="patient.status_changed")
    assert row.details == {"from": S.PENDING_SCHEDULE, "to": S.SCHEDULED}


def test_disallowed_status_change_is_refused_naming_the_allowed_ones(employee, location):
    patient = register(employee, location)
    with pytest.raises(services.StatusTransitionRefused) as exc:
        services.patient_status_change(
            actor=employee, patient=patient, to=S.COMPLETED, reason="Done"
        )
    assert "Scheduled, Transferred, Inactive" in exc.value.message
    patient.refresh_from_db()
    assert patient.status == S.PENDING_SCHEDULE
    assert not PatientStatusChange.objects.exists()
    assert not AuditEvent.objects.filter(action="patient.status_changed").exists()


def test_status_change_needs_a_reason(employee, location):
    patient = register(employee, location)
    with pytest.raises(ApplicationError):
        services.patient_status_change(actor=employee, patient=patient, to=S.SCHEDULED, reason=" ")
    assert not PatientStatusChange.objects.exists()


def test_every_status_has_a_way_out():
    for status in S.values:
        assert services.allowed_transitions(status), status
        assert status not in services.allowed_transitions(status)


def test_event_moves_status_once_and_ignores_a_redelivery(employee, location):
    patient = register(employee, location)
    assert services.patient_status_advance_from_event(
        actor=None, patient=patient, event="appointment.booked"
    )
    assert not services.patient_status_advance_from_event(
        actor=None, patient=patient, event="appointment.booked"
    )
    patient.refresh_from_db()
    assert patient.status == S.SCHEDULED
    assert PatientStatusChange.objects.filter(patient=patient).count() == 1
    row = AuditEvent.objects.get(action="patient.status_changed")
    assert row.details["event"] == "appointment.booked"


def test_event_does_not_move_a_patient_past_that_point(employee, location):
    patient = register(employee, location)
    services.patient_status_change(actor=employee, patient=patient, to=S.INACTIVE, reason="Moved")
    assert not services.patient_status_advance_from_event(
        actor=None, patient=patient, event="appointment.booked"
    )
    patient.refresh_from_db()
    assert patient.status == S.INACTIVE


# -- notes ----------------------------------------------------------------------------------


def test_note_is_added_with_author_and_audited_without_its_text(employee, location):
    patient = register(employee, location)
    note = services.patient_note_add(actor=employee, patient=patient, text="Uses a walker")
    assert note.author == employee
    row = AuditEvent.objects.get(action="patient.note_added")
    assert "walker" not in _audit_text(row)


def test_empty_note_is_refused(employee, location):
    patient = register(employee, location)
    with pytest.raises(ApplicationError):
        services.patient_note_add(actor=employee, patient=patient, text="  ")
    assert not PatientNote.objects.exists()


# -- physicians -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("npi", "valid"),
    [
        ("1234567893", True),
        ("1993999998", True),
        ("1234567890", False),
        ("3234567893", False),
        ("123456789", False),
        ("12345678931", False),
        ("abcdefghij", False),
    ],
)
def test_npi_check_digit(npi, valid):
    assert npi_is_valid(npi) is valid


def test_physician_with_invalid_npi_is_refused(employee):
    with pytest.raises(services.InvalidNPI):
        services.physician_create(actor=employee, first_name="A", last_name="B", npi="1234567890")


def test_physician_npi_is_unique_per_organization(employee, make_staff):
    services.physician_create(actor=employee, first_name="Ann", last_name="Lee", npi="1234567893")
    with pytest.raises(Conflict):
        services.physician_create(actor=employee, first_name="X", last_name="Y", npi="1234567893")
    other = make_staff(Role.EMPLOYEE, LocationFactory())
    services.physician_create(actor=other, first_name="Ann", last_name="Lee", npi="1234567893")


def test_physician_update_normalizes_phone_and_audits_field_names(employee):
    physician = services.physician_create(
        actor=employee, first_name="Ann", last_name="Lee", npi="1234567893"
    )
    services.physician_update(actor=employee, physician=physician, fax="201 555 0123")
    physician.refresh_from_db()
    assert physician.fax == "+12015550123"
    assert AuditEvent.objects.get(action="physician.updated").details == {"fields": ["fax"]}


def test_one_physician_is_shared_by_many_patients(employee, location):
    physician = PhysicianFactory(organization=location.organization)
    a = register(employee, location, referring_physician=physician)
    b = register(employee, location, first_name="Ana", referring_physician=physician)
    assert set(physician.patients.all()) == {a, b}


def test_physician_of_another_organization_is_refused(employee, location):
    foreign = PhysicianFactory()
    with pytest.raises(ApplicationError):
        register(employee, location, referring_physician=foreign)
    assert not Patient.objects.exists()


# -- duplicates -----------------------------------------------------------------------------


def test_duplicates_by_name_and_birth_date_or_phone_within_organization(employee, location):
    same = register(employee, location, phone_mobile="201-555-0123")
    by_phone = register(
        employee,
        location,
        first_name="Other",
        last_name="Person",
        phone_home="201 555 0123",
        date_of_birth=datetime.date(1990, 1, 1),
    )
    register(
        employee,
        location,
        first_name="Maria",
        last_name="Lopez",
        date_of_birth=datetime.date(1970, 1, 1),
    )
    PatientFactory(first_name="Maria", last_name="Lopez", date_of_birth=DOB)  # other organization
    found = patient_duplicates(
        organization_id=location.organization_id,
        first_name="maria",
        last_name="LOPEZ",
        date_of_birth=DOB,
        phones=["+12015550123"],
    )
    assert set(found) == {same, by_phone}
