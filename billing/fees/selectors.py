"""Reads of fee schedules: the user's organization's schedules, and the price of a code on a
date (the one lookup charges use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from clinic.tenancy import scope_queryset

from ..permissions import can_use_billing
from .models import BillableCode, FeeLine, FeeSchedule

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Payer


def schedules_visible_to(user: User) -> QuerySet[FeeSchedule]:
    if not user.is_authenticated or not can_use_billing(user):
        return FeeSchedule.objects.none()
    return scope_queryset(FeeSchedule.objects.select_related("payer"), user)


def billable_codes_visible_to(user: User) -> QuerySet[BillableCode]:
    if not user.is_authenticated or not can_use_billing(user):
        return BillableCode.objects.none()
    return scope_queryset(BillableCode.objects.select_related("appointment_type"), user)


@dataclass(frozen=True)
class FeeFound:
    schedule: FeeSchedule | None
    line: FeeLine | None
    reason: str  # empty when a line was found


def fee_find(
    *, organization_id: int, payer: Payer | None, code: str, modifiers: str, on: date
) -> FeeFound:
    """The line of ``payer``'s schedule (self-pay when None) for ``code`` + ``modifiers`` in
    effect on ``on``, or why there is none (a sentence for the held-charges queue)."""
    schedule = FeeSchedule.objects.filter(organization_id=organization_id, payer=payer).first()
    owner = f"{payer.name}'s schedule" if payer is not None else "the self-pay schedule"
    label = f"{code} {modifiers}".strip()
    if schedule is None:
        who = payer.name if payer is not None else "Self-pay"
        return FeeFound(None, None, f"{who} has no fee schedule (needed for {label} on {on}).")
    line = (
        schedule.lines.filter(code=code, modifiers=modifiers, effective_from__lte=on)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on))
        .first()
    )
    if line is None or line.purchase_price is None:
        return FeeFound(schedule, None, f"No fee for {label} on {owner} on {on}.")
    return FeeFound(schedule, line, "")
