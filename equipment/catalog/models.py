"""The organization's catalogue of equipment items (devices, masks and PAP supplies)."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from clinic.models.base import PublicIdModel

HCPCS_PATTERN = r"^[A-Z][0-9]{4}$"


class ItemKind(models.TextChoices):
    DEVICE = "device", "Device"
    MASK = "mask", "Mask"
    CUSHION = "cushion", "Cushion"
    PILLOWS = "pillows", "Nasal pillows"
    TUBING = "tubing", "Tubing"
    FILTER = "filter", "Filter"
    CHAMBER = "chamber", "Water chamber"
    HEADGEAR = "headgear", "Headgear"
    CHINSTRAP = "chinstrap", "Chinstrap"
    OTHER = "other", "Other"


class Item(PublicIdModel):
    """One thing a clinic stocks and dispenses. Serialized items are tracked unit by unit."""

    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    hcpcs = models.CharField(
        "HCPCS code",
        max_length=5,
        validators=[RegexValidator(HCPCS_PATTERN, "An HCPCS code is a letter and 4 digits.")],
    )
    name = models.CharField(max_length=200)
    manufacturer = models.CharField(max_length=120, blank=True)
    model_number = models.CharField("model", max_length=120, blank=True)
    kind = models.CharField(max_length=20, choices=ItemKind.choices)
    size = models.CharField(max_length=40, blank=True)
    serialized = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["hcpcs", "name", "size"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("name"),
                Lower("size"),
                name="equipment_item_name_size_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(hcpcs__regex=HCPCS_PATTERN), name="equipment_item_hcpcs_format"
            ),
        ]

    def __str__(self) -> str:
        size = f" ({self.size})" if self.size else ""
        return f"{self.hcpcs} {self.name}{size}"
