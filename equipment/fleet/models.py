"""What each patient has: devices, masks and accessories, bought or rented, and the rental months.

A row says one item is (or was) with one patient; a serialized item names its serial unit.
Rows are never deleted: a device that comes back is marked ``removed_on``. A rental's months are
rows of ``RentalMonth`` (period, month 1-13), so the count and the periods are facts in the
database, not a figure recomputed from dates.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.models.base import PublicIdModel

RENTAL_CAP_MONTHS = 13


class Acquisition(models.TextChoices):
    PURCHASE = "purchase", "Purchase"
    RENTAL = "rental", "Rental"


class MaskType(models.TextChoices):
    FULL_FACE = "full_face", "Full face"
    NASAL = "nasal", "Nasal"
    NASAL_PILLOWS = "nasal_pillows", "Nasal pillows"
    ORAL_NASAL = "oral_nasal", "Oral/nasal"


class PatientEquipment(PublicIdModel):
    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="equipment"
    )
    item = models.ForeignKey("equipment.Item", on_delete=models.PROTECT, related_name="+")
    serial = models.ForeignKey(
        "equipment.SerialUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    setup_on = models.DateField()
    # Device settings, checked by ``fleet.settings.settings_validate`` before they are saved.
    device_settings = models.JSONField(default=dict, blank=True)
    mask_type = models.CharField(max_length=20, choices=MaskType.choices, blank=True)
    size = models.CharField(max_length=40, blank=True)
    acquisition = models.CharField(max_length=10, choices=Acquisition.choices)
    removed_on = models.DateField(null=True, blank=True)
    # The delivery ticket that brought it, when it came with one (ids only, no FK: the
    # delivery sub-domain depends on this one, not the other way round).
    delivery_ticket_id = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["removed_on", "-setup_on", "-id"]
        indexes = [models.Index(fields=["patient", "removed_on"], name="patient_equipment_patient")]

    def __str__(self) -> str:
        return f"{self.item_id} for {self.patient_id}"

    @property
    def is_current(self) -> bool:
        return self.removed_on is None

    @property
    def last_rental_month(self) -> RentalMonth | None:
        """The latest counted month (reads the prefetched months when the selector gave them)."""
        months = sorted(self.rental_months.all(), key=lambda m: (m.period, m.month))
        return months[-1] if months else None


class RentalMonth(models.Model):
    """One billed month of a rental: ``period`` starts at 1 and a new one begins after a gap
    of 60 days or more; ``month`` runs 1..13 inside a period (capped rental)."""

    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    equipment = models.ForeignKey(
        PatientEquipment, on_delete=models.PROTECT, related_name="rental_months"
    )
    period = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField()
    starts_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["starts_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["equipment", "period", "month"], name="rental_month_once"
            ),
            models.CheckConstraint(
                condition=Q(month__gte=1) & Q(month__lte=RENTAL_CAP_MONTHS),
                name="rental_month_1_to_13",
            ),
            models.CheckConstraint(condition=Q(period__gte=1), name="rental_period_from_1"),
        ]

    def __str__(self) -> str:
        return f"{self.equipment_id} period {self.period} month {self.month}"
