"""Who may see and change a patient's insurance and medical history.

Both sections belong to the *full* record (``patients.record.permissions.FULL``: an organization
ADMIN, or an EMPLOYEE / CLINICIAN at the patient's home location). FIELD_TECHNICIAN (limited record)
and SUPPORT never see them.

- Insurance: ADMIN and EMPLOYEE view and change it. A CLINICIAN reads it (coverage decides
  which therapy and equipment a patient can have) but billing details are office work, so the
  forms are not theirs.
- Medical history: ADMIN, EMPLOYEE and CLINICIAN view and add to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role
from patients.record.permissions import FULL, access_level

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


def can_view_insurance(user: User, patient: Patient, *, level: str | None = None) -> bool:
    level = level if level is not None else access_level(user, patient)
    return level == FULL


def can_edit_insurance(user: User, patient: Patient, *, level: str | None = None) -> bool:
    if not can_view_insurance(user, patient, level=level):
        return False
    if user.is_org_admin:
        return True
    return any(
        m.role == Role.EMPLOYEE and m.location_id == patient.home_location_id
        for m in user._memberships
    )


def can_view_medical_history(user: User, patient: Patient, *, level: str | None = None) -> bool:
    level = level if level is not None else access_level(user, patient)
    return level == FULL


def can_edit_medical_history(user: User, patient: Patient, *, level: str | None = None) -> bool:
    return can_view_medical_history(user, patient, level=level)
