"""Who may see and work referrals and authorizations. Plain functions used by views and services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role, User
from patients.record.permissions import FULL, access_level

if TYPE_CHECKING:
    from patients.models import Patient


def can_use_referrals(user: User) -> bool:
    """The referral and authorization pages at all: office staff, admins and clinicians
    (clinicians read only). Field technicians and support never."""
    return user.is_org_admin or user.has_role(Role.EMPLOYEE, Role.CLINICIAN)


def can_see_referrals(user: User, patient: Patient) -> bool:
    return can_use_referrals(user) and access_level(user, patient, assigned=False) == FULL


def can_work_referrals(user: User, patient: Patient) -> bool:
    """Changing referrals and authorizations: an organization ADMIN or an EMPLOYEE at the
    patient's home location."""
    if user.organization_id is None or patient.organization_id != user.organization_id:
        return False
    if user.is_org_admin:
        return True
    return any(
        m.role == Role.EMPLOYEE and m.location_id == patient.home_location_id
        for m in user._memberships
    )
