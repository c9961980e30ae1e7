"""The charges ledger: one row per billed line, never edited or deleted.

A completed appointment adds one ``charge`` row per billable code; undoing it adds one
``reversal`` row per charge (negative amount, pointing at the charge it reverses). The database
enforces both "exactly once" rules: one charge per (appointment, code, modifiers) and one
reversal per charge (unique constraints), and refuses UPDATE and DELETE on the table (trigger),
like the audit log. A charge whose price was not found is written as ``held`` with the reason.
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import Q

from clinic.models.base import PublicIdModel


class ChargeKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    REVERSAL = "reversal", "Reversal"


class ChargeStatus(models.TextChoices):
    PRICED = "priced", "Priced"
    HELD = "held", "Held"


class Charge(PublicIdModel):
    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=ChargeKind.choices, default=ChargeKind.CHARGE)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    # The outbox event that caused this row (kept as a number: events may be pruned later).
    source_event_id = models.BigIntegerField(null=True, blank=True)
    date_of_service = models.DateField()
    code = models.CharField(max_length=5)
    modifiers = models.CharField(max_length=11, blank=True)
    units = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=ChargeStatus.choices)
    held_reason = models.CharField(max_length=200, blank=True)
    payer = models.ForeignKey(
        "patients.Payer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    schedule = models.ForeignKey(
        "billing.FeeSchedule", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fee_line = models.ForeignKey(
        "billing.FeeLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    allowed_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "code", "modifiers"],
                condition=Q(kind="charge"),
                name="charge_once_per_appointment_line",
            ),
            models.CheckConstraint(
                condition=(Q(kind="charge") & Q(reverses__isnull=True))
                | (Q(kind="reversal") & Q(reverses__isnull=False)),
                name="charge_reversal_points_back",
            ),
            models.CheckConstraint(
                condition=(Q(status="priced") & Q(amount__isnull=False) & Q(held_reason=""))
                | (Q(status="held") & Q(amount__isnull=True) & ~Q(held_reason="")),
                name="charge_priced_or_held_with_reason",
            ),
            models.CheckConstraint(condition=Q(units__gte=1), name="charge_units_positive"),
        ]
        indexes = [
            models.Index(fields=["location", "-id"], name="charge_location_recent"),
            models.Index(fields=["patient", "-id"], name="charge_patient_recent"),
            models.Index(
                fields=["organization", "-id"],
                condition=Q(status="held", kind="charge"),
                name="charge_held_queue",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="charge_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code} {self.public_id}"

    @property
    def is_reversed(self) -> bool:
        return hasattr(self, "reversal")
