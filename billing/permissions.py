"""Who sees money. Billing is office work: an organization ADMIN everywhere, an EMPLOYEE at the
locations they work at. Technicians, clinicians and support see no prices or charges.
Fee schedules are organization-wide: ADMINs manage them, EMPLOYEEs read them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role

if TYPE_CHECKING:
    from clinic.models import User

BILLING_ROLES = frozenset({Role.ADMIN, Role.EMPLOYEE})


def can_use_billing(user: User) -> bool:
    return bool(user.organization_id) and user.has_role(*BILLING_ROLES)


def can_manage_fees(user: User) -> bool:
    return bool(user.organization_id) and user.is_org_admin
