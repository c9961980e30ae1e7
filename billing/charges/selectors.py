"""Scoped reads of the charges ledger: the user's organization and, for office staff, the
locations where they hold the EMPLOYEE role (an ADMIN sees every location)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from clinic.models import Role
from clinic.tenancy import scope_queryset

from ..permissions import can_use_billing
from .models import Charge, ChargeKind, ChargeStatus

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


def billing_location_ids(user: User) -> set[int]:
    return {m.location_id for m in user._memberships if m.role == Role.EMPLOYEE}


def charges_visible_to(user: User) -> QuerySet[Charge]:
    if not user.is_authenticated or not can_use_billing(user):
        return Charge.objects.none()
    qs = scope_queryset(
        Charge.objects.select_related("location", "patient", "payer", "appointment"), user
    )
    if not user.is_org_admin:
        qs = qs.filter(location_id__in=billing_location_ids(user))
    return qs


def charges_filtered(
    user: User,
    *,
    location_id: int | None = None,
    status: str = "",
    kind: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Charge]:
    qs = charges_visible_to(user)
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if date_from is not None:
        qs = qs.filter(date_of_service__gte=date_from)
    if date_to is not None:
        qs = qs.filter(date_of_service__lte=date_to)
    return qs.order_by("-id")


def held_queue(user: User) -> QuerySet[Charge]:
    """Held charges nobody has reversed, oldest first (the work queue)."""
    return (
        charges_visible_to(user)
        .filter(kind=ChargeKind.CHARGE, status=ChargeStatus.HELD, reversal__isnull=True)
        .order_by("id")
    )


def patient_charges(user: User, patient: Patient) -> QuerySet[Charge]:
    return charges_visible_to(user).filter(patient=patient).order_by("-id")
