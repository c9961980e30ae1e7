"""Reads of referrals and authorizations that scope."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from clinic.models import Role, User
from patients.models import Patient


def referral_assignees(patient: Patient) -> QuerySet[User]:
    """Who a referral of ``patient`` can be given to: EMPLOYEEs of the home location and the
    organization's ADMINs."""
    return (
        User.objects.filter(is_active=True, organization_id=patient.organization_id)
        .filter(
            Q(memberships__location_id=patient.home_location_id, memberships__role=Role.EMPLOYEE)
            | Q(memberships__role=Role.ADMIN)
        )
        .distinct()
        .order_by("full_name", "pk")
    )
