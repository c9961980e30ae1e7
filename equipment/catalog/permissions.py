"""Who may see and change the equipment catalogue. Plain functions, used by views and admin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role

if TYPE_CHECKING:
    from clinic.models import User

CATALOG_VIEW_ROLES = frozenset({Role.ADMIN, Role.EMPLOYEE, Role.FIELD_TECHNICIAN, Role.CLINICIAN})


def can_view_catalog(user: User) -> bool:
    return user.has_role(*CATALOG_VIEW_ROLES)


def can_manage_catalog(user: User) -> bool:
    """The catalogue is organization configuration: ADMINs only."""
    return user.is_org_admin
