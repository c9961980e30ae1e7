"""Who may see and change which part of a patient record. Plain functions, used by the views,
the selectors and (later) the API and consumers.

Roles are held per location, so access is decided per patient:

- an organization ADMIN, or an EMPLOYEE / CLINICIAN at the patient's home location, has the
  *full* record;
- a FIELD_TECHNICIAN assigned to the patient (``PatientAssignment``) has the *limited* record:
  name, contact, address and flags, never medical history, insurance, notes or the change log;
- everyone else (SUPPORT included) has nothing, and the patient looks like it does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient

FULL = "full"
LIMITED = "limited"

# Roles that work with whole records at the locations they belong to.
RECORD_ROLES = frozenset({Role.EMPLOYEE, Role.CLINICIAN})

# Sections of the record, and the access level that shows each.
SECTION_ACCESS: dict[str, frozenset[str]] = {
    "identity": frozenset({FULL, LIMITED}),  # names
    "contact": frozenset({FULL, LIMITED}),  # phones, email, address, preferred channel, language
    "flags": frozenset({FULL, LIMITED}),
    "demographics": frozenset({FULL}),  # date of birth, sex, MRN, emergency contact
    "clinical": frozenset({FULL}),  # referring physician, notes, status history
    "history": frozenset({FULL}),  # change log of the record
}


def full_access_location_ids(user: User) -> set[int]:
    """Locations where ``user`` sees whole patient records."""
    return {m.location_id for m in user._memberships if m.role in RECORD_ROLES}


def can_use_patients(user: User) -> bool:
    """The patient pages at all (nav item, list)."""
    return user.has_role(Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN)


def can_manage_physicians(user: User) -> bool:
    """The organization's list of referring physicians: office work."""
    return user.has_role(Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN)


def can_register_patient(user: User) -> bool:
    return user.is_org_admin or bool(full_access_location_ids(user))


def access_level(user: User, patient: Patient, *, assigned: bool | None = None) -> str | None:
    """FULL, LIMITED or None. ``assigned`` may be given when already known (saves a query)."""
    if user.organization_id is None or patient.organization_id != user.organization_id:
        return None
    if user.is_org_admin or patient.home_location_id in full_access_location_ids(user):
        return FULL
    if user.has_role(Role.FIELD_TECHNICIAN):
        if assigned is None:
            assigned = patient.assignments.filter(technician=user).exists()
        if assigned:
            return LIMITED
    return None


def can_see_section(level: str | None, section: str) -> bool:
    return level is not None and level in SECTION_ACCESS[section]


def can_edit_patient(user: User, patient: Patient) -> bool:
    return access_level(user, patient) == FULL


def can_change_status(user: User, patient: Patient) -> bool:
    """Office work: clinicians record care, office staff and admins move the lifecycle."""
    if access_level(user, patient) != FULL:
        return False
    if user.is_org_admin:
        return True
    return any(
        m.role == Role.EMPLOYEE and m.location_id == patient.home_location_id
        for m in user._memberships
    )


def can_add_note(user: User, patient: Patient) -> bool:
    return access_level(user, patient) == FULL
