"""Who may see and move stock. Roles are held per location, so most answers are per location:

- an organization ADMIN, or an EMPLOYEE at the location, receives, transfers, adjusts, reserves
  and sets reorder points there;
- a FIELD_TECHNICIAN at the location may also dispense, take returns and release a
  reservation (a failed delivery) there;
- CLINICIAN and SUPPORT have no stock pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role

if TYPE_CHECKING:
    from clinic.models import Location, User

STOCK_ROLES = frozenset({Role.ADMIN, Role.EMPLOYEE, Role.FIELD_TECHNICIAN})
MANAGE_ROLES = frozenset({Role.EMPLOYEE})
DISPENSE_ROLES = frozenset({Role.EMPLOYEE, Role.FIELD_TECHNICIAN})


def can_use_stock(user: User) -> bool:
    return user.has_role(*STOCK_ROLES)


def location_ids_with(user: User, roles: frozenset[str]) -> set[int]:
    return {m.location_id for m in user._memberships if m.role in roles}


def _in_org(user: User, location: Location) -> bool:
    return bool(user.organization_id) and location.organization_id == user.organization_id


def can_manage_stock_at(user: User, location: Location) -> bool:
    if not _in_org(user, location) or not location.is_active:
        return False
    return user.is_org_admin or location.pk in location_ids_with(user, MANAGE_ROLES)


def can_dispense_at(user: User, location: Location) -> bool:
    if not _in_org(user, location) or not location.is_active:
        return False
    return user.is_org_admin or location.pk in location_ids_with(user, DISPENSE_ROLES)


def can_manage_stock_somewhere(user: User) -> bool:
    return user.is_org_admin or bool(location_ids_with(user, MANAGE_ROLES))


def can_dispense_somewhere(user: User) -> bool:
    return user.is_org_admin or bool(location_ids_with(user, DISPENSE_ROLES))
