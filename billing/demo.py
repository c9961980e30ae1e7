"""Demo billing for ``manage.py seed_demo``: a fee schedule per demo payer and a self-pay
schedule, and the codes each billable appointment type bills, through the services an ADMIN
would use. One payer has no price for home sleep tests, so completing one shows a held charge."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from clinic.tenancy import scope_queryset
from patients.models import Payer
from scheduling.booking.services import appointment_types_ensure
from scheduling.models import AppointmentKind, AppointmentType

from .fees.services import billable_code_add, fee_line_add, fee_schedule_create

if TYPE_CHECKING:
    from clinic.models import User

START = date(2026, 1, 1)

# code, modifiers, price, allowed
PRICES: list[tuple[str, str, str, str]] = [
    ("99203", "", "180.00", "130.00"),
    ("95810", "", "1400.00", "1100.00"),
    ("95806", "", "320.00", "190.00"),
    ("99213", "", "120.00", "92.00"),
    ("99213", "95", "120.00", "92.00"),
]
# What a commercial payer does not cover in the demo (its charges are held).
NOT_ON_COMMERCIAL = {"95806"}

BILLABLE: list[tuple[str, str, str]] = [
    (AppointmentKind.REFERRAL, "99203", ""),
    (AppointmentKind.DIAGNOSTIC_STUDY, "95810", ""),
    (AppointmentKind.HOME_TESTING, "95806", ""),
    (AppointmentKind.FOLLOW_UP, "99213", ""),
    (AppointmentKind.TELEHEALTH, "99213", "95"),
]


def demo_billing_seed(*, admin: User) -> None:
    payers = list(scope_queryset(Payer.objects.order_by("name"), admin))
    for payer in [None, *payers]:
        schedule = fee_schedule_create(actor=admin, payer=payer)
        for code, modifiers, price, allowed in PRICES:
            if payer is not None and payer.kind == "commercial" and code in NOT_ON_COMMERCIAL:
                continue
            fee_line_add(
                actor=admin,
                schedule=schedule,
                code=code,
                modifiers=modifiers,
                purchase_price=Decimal(price),
                allowed_amount=Decimal(allowed) if payer is not None else None,
                effective_from=START,
            )
    organization = admin.organization
    if organization is None:
        return
    appointment_types_ensure(actor=admin, organization=organization)
    types = {t.code: t for t in AppointmentType.objects.filter(organization=admin.organization)}
    for kind, code, modifiers in BILLABLE:
        billable_code_add(actor=admin, appointment_type=types[kind], code=code, modifiers=modifiers)
