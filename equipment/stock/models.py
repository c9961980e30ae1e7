"""Stock per location: balances, the append-only movement ledger, reservations and serial units.

The balance row is the one place on-hand lives; the database refuses a negative figure (CHECK)
and services change it only with conditional UPDATEs, so concurrent dispenses of the last units
cannot oversell. Every change of a balance is one ``StockMovement`` row, which the database
refuses to update or delete (trigger), like the audit log.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from clinic.models.base import PublicIdModel


class StockBalance(models.Model):
    """On hand and reserved of one item at one location, and its reorder point."""

    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey("equipment.Item", on_delete=models.PROTECT, related_name="balances")
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    reorder_point = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["location__name", "item__hcpcs", "item__name"]
        constraints = [
            models.UniqueConstraint(fields=["location", "item"], name="stock_balance_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="stock_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item} @ {self.location}: {self.on_hand}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def is_low(self) -> bool:
        return self.reorder_point is not None and self.available < self.reorder_point

    @property
    def shortfall(self) -> int:
        """Units needed to reach the reorder point again (0 when not low)."""
        if self.reorder_point is None:
            return 0
        return max(self.reorder_point - self.available, 0)


class MovementKind(models.TextChoices):
    RECEIVE = "receive", "Received"
    TRANSFER_OUT = "transfer_out", "Transferred out"
    TRANSFER_IN = "transfer_in", "Transferred in"
    ADJUST = "adjust", "Adjusted"
    RESERVE = "reserve", "Reserved"
    RELEASE = "release", "Reservation released"
    DISPENSE = "dispense", "Dispensed"
    RETURN = "return", "Returned by patient"
    REPAIR_OUT = "repair_out", "Sent for repair"
    REPAIR_IN = "repair_in", "Back from repair"
    RETIRE = "retire", "Retired"


class AdjustReason(models.TextChoices):
    COUNT = "count", "Count correction"
    DAMAGED = "damaged", "Damaged"
    EXPIRED = "expired", "Expired"
    LOST = "lost", "Lost"
    FOUND = "found", "Found"
    OTHER = "other", "Other"


class StockMovement(models.Model):
    """One change of a balance. Append-only: the database refuses UPDATE and DELETE."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    occurred_at = models.DateTimeField(default=timezone.now)
    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey("equipment.Item", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=MovementKind.choices)
    on_hand_delta = models.IntegerField(default=0)
    reserved_delta = models.IntegerField(default=0)
    on_hand_after = models.IntegerField()
    reserved_after = models.IntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=AdjustReason.choices, blank=True)
    note = models.CharField(max_length=200, blank=True)
    lot = models.CharField(max_length=60, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    serial = models.ForeignKey(
        "equipment.SerialUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reservation = models.ForeignKey(
        "equipment.Reservation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The two legs of one transfer share this id.
    transfer_id = models.UUIDField(null=True, blank=True)

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["location", "item", "-id"], name="stock_movement_balance"),
            models.Index(fields=["organization", "-id"], name="stock_movement_org_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(on_hand_delta=0) | ~Q(reserved_delta=0),
                name="stock_movement_changes_something",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="stock_movement_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} {self.on_hand_delta:+d} {self.item_id}@{self.location_id}"
        )


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISPENSED = "dispensed", "Dispensed"
    RELEASED = "released", "Released"


class Reservation(PublicIdModel):
    """Units of an item held at a location for a scheduled delivery."""

    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey("equipment.Item", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    reference = models.CharField(max_length=64, blank=True)
    needed_on = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=ReservationStatus.choices, default=ReservationStatus.ACTIVE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["needed_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="reservation_quantity_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.item_id} ({self.get_status_display()})"


class SerialStatus(models.TextChoices):
    IN_STOCK = "in_stock", "In stock"
    ASSIGNED = "assigned", "With a patient"
    IN_REPAIR = "in_repair", "In repair"
    RETIRED = "retired", "Retired"


class SerialUnit(PublicIdModel):
    """One unit of a serialized item. ``location`` is where it is kept (or was dispensed from);
    ``patient`` is who has it: one patient at most, and only while it is assigned (CHECK)."""

    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    item = models.ForeignKey("equipment.Item", on_delete=models.PROTECT, related_name="serials")
    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="+")
    serial_number = models.CharField(max_length=60)
    status = models.CharField(
        max_length=20, choices=SerialStatus.choices, default=SerialStatus.IN_STOCK
    )
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lot = models.CharField(max_length=60, blank=True)
    expires_on = models.DateField(null=True, blank=True)

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["serial_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "serial_number"], name="serial_unique_per_item"
            ),
            models.CheckConstraint(
                condition=(Q(status="assigned") & Q(patient__isnull=False))
                | (~Q(status="assigned") & Q(patient__isnull=True)),
                name="serial_patient_only_when_assigned",
            ),
        ]

    def __str__(self) -> str:
        return self.serial_number


class SerialEventKind(models.TextChoices):
    RECEIVED = "received", "Received"
    TRANSFERRED = "transferred", "Transferred"
    ASSIGNED = "assigned", "Assigned to a patient"
    RETURNED = "returned", "Returned"
    SENT_FOR_REPAIR = "sent_for_repair", "Sent for repair"
    REPAIRED = "repaired", "Repaired"
    RETIRED = "retired", "Retired"


class SerialEvent(models.Model):
    """The history of one serial unit. Append-only, like the movement ledger."""

    occurred_at = models.DateTimeField(default=timezone.now)
    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    serial = models.ForeignKey(SerialUnit, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=SerialEventKind.choices)
    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["id"]
        triggers = [
            pgtrigger.Protect(
                name="serial_event_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return f"{self.serial_id} {self.get_kind_display()}"
