"""Who sees which patients and which parts of their record (role x section)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.errors import ApplicationError
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, MembershipFactory
from patients.models import Patient, PatientNote, PatientStatus
from patients.record import services
from patients.record.permissions import FULL, LIMITED, access_level
from patients.record.selectors import patients_visible_to
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(location):
    other_location = LocationFactory(organization=location.organization)
    here = PatientFactory(
        home_location=location,
        first_name="Hera",
        last_name="Herepatient",
        mrn="MRN-HERE",
        phone_mobile="+12015550123",
        flags=["fall_risk"],
    )
    there = PatientFactory(home_location=other_location, last_name="Therepatient")
    foreign = PatientFactory(last_name="Foreignpatient")
    return {
        "location": location,
        "other": other_location,
        "here": here,
        "there": there,
        "foreign": foreign,
    }


def url(name, p):
    return reverse(f"patients:{name}", kwargs={"public_id": p.public_id})


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.ADMIN, {"here", "there"}),
        (Role.EMPLOYEE, {"here"}),
        (Role.CLINICIAN, {"here"}),
        (Role.FIELD_TECHNICIAN, set()),
        (Role.SUPPORT, set()),
    ],
)
def test_who_sees_which_patients(world, make_staff, role, expected):
    user = make_staff(role, world["location"])
    visible = set(patients_visible_to(user))
    assert visible == {world[k] for k in expected}


def test_technician_sees_only_assigned_patients_even_at_other_locations(world, make_staff):
    tech = make_staff(Role.FIELD_TECHNICIAN, world["location"])
    services.patient_assignment_add(actor=None, patient=world["there"], technician=tech)
    assert set(patients_visible_to(tech)) == {world["there"]}
    assert access_level(tech, world["there"]) == LIMITED
    assert access_level(tech, world["here"]) is None


def test_assignment_to_another_organizations_technician_is_refused(world, make_staff):
    outsider = make_staff(Role.FIELD_TECHNICIAN, LocationFactory())
    with pytest.raises(ApplicationError):
        services.patient_assignment_add(actor=None, patient=world["here"], technician=outsider)
    assert not patients_visible_to(outsider).exists()


def test_employee_at_one_location_and_technician_at_another(world, make_staff):
    user = make_staff(Role.EMPLOYEE, world["location"])
    MembershipFactory(user=user, location=world["other"], role=Role.FIELD_TECHNICIAN)
    assert set(patients_visible_to(user)) == {world["here"]}
    assert access_level(user, world["here"]) == FULL
    assert access_level(user, world["there"]) is None


def test_inactive_user_sees_nothing(world, make_staff):
    user = make_staff(Role.ADMIN, world["location"])
    assert patients_visible_to(user).exists()  # while active, the admin sees patients
    user.is_active = False
    user.save()
    assert not patients_visible_to(user).exists()


# -- pages: role x section --------------------------------------------------------------------

SECTIONS = {
    # section: (url builder, method, data)
    "list": lambda p: ("get", reverse("patients:list"), None),
    "details": lambda p: ("get", url("detail", p), None),
    "history": lambda p: ("get", url("detail", p) + "?tab=history", None),
    "edit": lambda p: ("get", url("edit", p), None),
    "create": lambda p: ("get", reverse("patients:create"), None),
    "status": lambda p: ("post", url("status", p), {"to": "SCHEDULED", "reason": "Booked"}),
    "note": lambda p: ("post", url("note", p), {"text": "A note"}),
}

# role -> sections allowed on a patient at their location (technicians: one assigned to them)
MATRIX = {
    Role.ADMIN: {"list", "details", "history", "edit", "create", "status", "note"},
    Role.EMPLOYEE: {"list", "details", "history", "edit", "create", "status", "note"},
    Role.CLINICIAN: {"list", "details", "history", "edit", "create", "note"},
    Role.FIELD_TECHNICIAN: {"list", "details"},
    Role.SUPPORT: set(),
}


def _state(patient: Patient) -> tuple:
    patient.refresh_from_db()
    return (patient.status, PatientNote.objects.count(), patient.updated_at)


@pytest.mark.parametrize("role", list(MATRIX))
@pytest.mark.parametrize("section", list(SECTIONS))
def test_role_by_section_matrix(world, make_staff, signed_in, role, section):
    user = make_staff(role, world["location"])
    patient = world["here"]
    if role == Role.FIELD_TECHNICIAN:
        services.patient_assignment_add(actor=None, patient=patient, technician=user)
    client = signed_in(user)
    method, target, data = SECTIONS[section](patient)
    before = _state(patient)
    audit_before = set(AuditEvent.objects.values_list("pk", flat=True))
    response = getattr(client, method)(target, data or {})
    allowed = section in MATRIX[role]
    if allowed:
        assert response.status_code in (200, 302), response.status_code
        return
    assert response.status_code == 404
    assert _state(patient) == before
    new_actions = list(
        AuditEvent.objects.exclude(pk__in=audit_before).values_list("action", flat=True)
    )
    # A refusal leaves at most its own audit row, nothing else.
    assert set(new_actions) <= {"patient.access_refused"}


def test_technician_sees_contact_and_flags_but_not_demographics_or_notes(
    world, make_staff, signed_in
):
    tech = make_staff(Role.FIELD_TECHNICIAN, world["location"])
    patient = world["here"]
    services.patient_assignment_add(actor=None, patient=patient, technician=tech)
    staff = make_staff(Role.EMPLOYEE, world["location"])
    services.patient_note_add(actor=staff, patient=patient, text="Confidential clinical remark")
    body = signed_in(tech).get(url("detail", patient)).content.decode()
    assert "Herepatient" in body and "(201) 555-0123" in body and "Fall risk" in body
    for hidden in (
        "MRN-HERE",
        "1961",
        "Confidential clinical remark",
        "Demographics",
        "?tab=history",
    ):
        assert hidden not in body, hidden
    listing = signed_in(tech).get(reverse("patients:list")).content.decode()
    assert "Herepatient" in listing and "MRN-HERE" not in listing


def test_technician_asking_for_history_leaves_a_refusal_row(world, make_staff, signed_in):
    tech = make_staff(Role.FIELD_TECHNICIAN, world["location"])
    services.patient_assignment_add(actor=None, patient=world["here"], technician=tech)
    response = signed_in(tech).get(url("detail", world["here"]) + "?tab=history")
    assert response.status_code == 404
    row = AuditEvent.objects.get(action="patient.access_refused")
    assert row.actor == tech and row.details == {"section": "history"}
    assert not AuditEvent.objects.filter(action="patient.viewed").exists()


def test_support_has_no_patients_nav_and_no_pages(world, make_staff, signed_in):
    client = signed_in(make_staff(Role.SUPPORT, world["location"]))
    assert client.get(reverse("patients:list")).status_code == 404
    assert reverse("patients:list").encode() not in client.get(reverse("clinic:dashboard")).content


def test_employee_cannot_touch_a_patient_at_another_location(world, make_staff, signed_in):
    client = signed_in(make_staff(Role.EMPLOYEE, world["location"]))
    there = world["there"]
    assert client.get(url("detail", there)).status_code == 404
    assert client.post(url("status", there), {"to": "SCHEDULED", "reason": "x"}).status_code == 404
    there.refresh_from_db()
    assert there.status == PatientStatus.PENDING_SCHEDULE
    assert not AuditEvent.objects.filter(object_id=str(there.public_id)).exists()
