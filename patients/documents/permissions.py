"""Who may see and add patient documents.

Documents are part of the *full* record (``patients.record.permissions.FULL``): an organization
ADMIN, or an EMPLOYEE / CLINICIAN at the patient's home location. A FIELD_TECHNICIAN (limited
record) and SUPPORT see none, and a document they ask for looks like it does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from patients.record.permissions import FULL, access_level, full_access_location_ids

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


def can_use_documents(user: User) -> bool:
    """The documents pages at all (search across documents)."""
    return bool(user.is_org_admin or full_access_location_ids(user))


def can_see_documents(user: User, patient: Patient) -> bool:
    return access_level(user, patient, assigned=False) == FULL


def can_upload_documents(user: User, patient: Patient) -> bool:
    return can_see_documents(user, patient)
