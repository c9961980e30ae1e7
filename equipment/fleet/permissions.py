"""Who may see and change a patient's equipment.

Anyone who may open the patient (``patients.record.permissions.access_level``) sees the tab,
except SUPPORT (who sees no patient). Office staff with the full record (ADMIN, EMPLOYEE,
CLINICIAN) record, change and remove items and count rental months; a FIELD_TECHNICIAN assigned
to the patient records what they set up (the delivery flow) but does not count rental months
(that is billing work, done by office staff: they have the full record).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role
from patients.record.permissions import FULL, access_level

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


def can_view_equipment(user: User, patient: Patient) -> bool:
    return access_level(user, patient) is not None


def can_record_equipment(user: User, patient: Patient) -> bool:
    level = access_level(user, patient)
    if level == FULL:
        return True
    return level is not None and user.has_role(Role.FIELD_TECHNICIAN)


def can_manage_equipment(user: User, patient: Patient) -> bool:
    """The office actions on the tab: add by hand, settings, removal, rental months."""
    return access_level(user, patient) == FULL
