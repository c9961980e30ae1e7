"""Who may run guided sessions. Plain functions used by views, consumers and services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role
from patients.record.permissions import RECORD_ROLES, can_edit_patient

if TYPE_CHECKING:
    from clinic.models import Location, User
    from patients.models import Patient

    from .models import GuidedSession


def guided_location_ids(user: User) -> set[int]:
    """Locations where ``user`` may start and run sessions (office staff and clinicians)."""
    return {m.location_id for m in user._memberships if m.role in RECORD_ROLES}


def can_use_guided(user: User) -> bool:
    return bool(user.is_authenticated) and (user.is_org_admin or bool(guided_location_ids(user)))


def can_start_session(user: User, location: Location, patient: Patient | None = None) -> bool:
    if user.organization_id is None or location.organization_id != user.organization_id:
        return False
    if not (user.is_org_admin or location.pk in guided_location_ids(user)):
        return False
    return patient is None or can_edit_patient(user, patient)


def can_run_session(user: User, session: GuidedSession) -> bool:
    """Watch and drive a session: staff of its location (or an organization ADMIN)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.organization_id != session.organization_id:
        return False
    return user.is_org_admin or session.location_id in guided_location_ids(user)


NAV_ROLES = frozenset({Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN})
