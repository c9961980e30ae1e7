"""Referrals (a physician sends a patient to us; staff work them through a queue) and payer
authorizations (how many units of which codes a payer approved, and until when).

Both are location-bound through the patient's home location. Writes go through
``patients.referrals.services``; the status fields are moved only by its explicit actions.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models

from clinic.models import Organization
from clinic.models.base import PublicIdModel

__all__ = [
    "WARNING_DAYS",
    "Authorization",
    "AuthorizationStatus",
    "AuthorizationWarning",
    "Referral",
    "ReferralStatus",
    "ReferralStatusChange",
]

# Days before valid_to at which staff are warned, largest first.
WARNING_DAYS: tuple[int, ...] = (30, 14, 7)

validate_procedure_code = RegexValidator(
    r"^[A-Z0-9]{5}$", "Each code must be a 5-character HCPCS or CPT code, e.g. E0601."
)


class ReferralStatus(models.TextChoices):
    RECEIVED = "RECEIVED", "Received"
    CONTACTED = "CONTACTED", "Contacted"
    SCHEDULED = "SCHEDULED", "Scheduled"
    CLOSED = "CLOSED", "Closed"


@pghistory.track()
class Referral(PublicIdModel):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="referrals"
    )
    physician = models.ForeignKey(
        "patients.Physician", on_delete=models.PROTECT, related_name="referrals"
    )
    received_on = models.DateField()
    reason = models.TextField()
    status = models.CharField(
        max_length=12, choices=ReferralStatus.choices, default=ReferralStatus.RECEIVED
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_referrals",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    documents = models.ManyToManyField("patients.Document", blank=True, related_name="referrals")

    tenant_organization_field = "organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        ordering = ["received_on", "id"]
        indexes = [
            # The work queue: open referrals of an organization, oldest first (keyset on
            # received_on, id).
            models.Index(
                fields=["organization", "status", "received_on", "id"], name="referral_queue_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Referral {self.public_id}"


class ReferralStatusChange(models.Model):
    """One explicit move of a referral's status, with who and why."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=12, choices=ReferralStatus.choices)
    to_status = models.CharField(max_length=12, choices=ReferralStatus.choices)
    note = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    tenant_organization_field = "referral__organization"
    tenant_location_field = "referral__patient__home_location"

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


class AuthorizationStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    EXPIRED = "EXPIRED", "Expired"
    EXHAUSTED = "EXHAUSTED", "Exhausted"
    CANCELLED = "CANCELLED", "Cancelled"


@pghistory.track()
class Authorization(PublicIdModel):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="authorizations"
    )
    payer = models.ForeignKey(
        "patients.Payer", on_delete=models.PROTECT, related_name="authorizations"
    )
    number = models.CharField(max_length=60)
    codes = ArrayField(
        models.CharField(max_length=5, validators=[validate_procedure_code]), default=list
    )
    units_approved = models.PositiveIntegerField()
    units_used = models.PositiveIntegerField(default=0)
    valid_from = models.DateField()
    valid_to = models.DateField()
    status = models.CharField(
        max_length=10, choices=AuthorizationStatus.choices, default=AuthorizationStatus.ACTIVE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        ordering = ["valid_to", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(units_used__gte=0)
                & models.Q(units_approved__gte=0)
                & models.Q(units_used__lte=models.F("units_approved")),
                name="authorization_units_within_approved",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_from__lte=models.F("valid_to")),
                name="authorization_valid_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "valid_to"], name="authorization_expiry_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Authorization {self.public_id}"

    @property
    def units_left(self) -> int:
        return self.units_approved - self.units_used


class AuthorizationWarning(models.Model):
    """A sent expiry warning; the unique pair makes each threshold go out once, even when the
    daily job runs twice at the same moment."""

    authorization = models.ForeignKey(
        Authorization, on_delete=models.CASCADE, related_name="warnings"
    )
    days_before = models.PositiveSmallIntegerField(choices=[(d, f"{d} days") for d in WARNING_DAYS])
    sent_at = models.DateTimeField(auto_now_add=True)

    tenant_organization_field = "authorization__organization"
    tenant_location_field = "authorization__patient__home_location"

    class Meta:
        ordering = ["-days_before"]
        constraints = [
            models.UniqueConstraint(
                fields=["authorization", "days_before"], name="authorization_warning_once"
            ),
            models.CheckConstraint(
                condition=models.Q(days_before__in=list(WARNING_DAYS)),
                name="authorization_warning_days",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.days_before}-day warning"
