"""Who may read and send which messages. Plain functions used by views, selectors and tests.

A patient's conversation follows the record's access level (``patients.record.permissions``):
the full record (ADMIN, EMPLOYEE / CLINICIAN at the home location) or the limited one (an assigned
FIELD_TECHNICIAN: DOMAIN.md lets technicians message their patients). The timeline's clinical
entries (notes, status changes) need the full record. The unassigned inbox (numbers matching no
patient, or several) is office work: ADMINs, and EMPLOYEEs for their locations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role
from patients.record.permissions import FULL, LIMITED, access_level

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


def can_use_comms(user: User) -> bool:
    return user.has_role(Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN)


def can_message_patient(user: User, patient: Patient) -> bool:
    return access_level(user, patient) in (FULL, LIMITED)


def can_see_clinical_timeline(user: User, patient: Patient) -> bool:
    return access_level(user, patient) == FULL


def can_use_unassigned(user: User) -> bool:
    return user.is_org_admin or user.has_role(Role.EMPLOYEE)


def unassigned_location_ids(user: User) -> set[int] | None:
    """Locations whose unassigned messages ``user`` sees; None means every one (ADMIN)."""
    if user.is_org_admin:
        return None
    return {m.location_id for m in user._memberships if m.role == Role.EMPLOYEE}


def can_manage_comms(user: User) -> bool:
    """Templates and gateway settings."""
    return user.is_org_admin
