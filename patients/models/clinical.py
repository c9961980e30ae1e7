"""Insurance and medical history of a patient: payers, insurance policies, diagnoses,
diagnostic sleep studies and the free-text allergies / medications.

Re-exported by ``patients.models``. Writes go through ``patients.clinical.services``.

Member ids are encrypted at rest (``EncryptedTextField``); ``member_id_hash`` is the keyed
lookup hash the service fills in the same write, and neither column is copied into the change
history (rotation would not reach copies there).
"""

from __future__ import annotations

import re

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from clinic.fields import EncryptedTextField
from clinic.models import Organization
from clinic.models.base import PublicIdModel

from .record import Patient

__all__ = [
    "ICD10_PATTERN",
    "Diagnosis",
    "DiagnosticStudy",
    "InsurancePolicy",
    "MedicalHistory",
    "Payer",
    "PayerKind",
    "PolicyRank",
    "StudyType",
    "SubscriberRelationship",
    "VerificationStatus",
    "validate_icd10",
]

# ICD-10-CM: letter (not U), digit, digit or A/B, then optionally a dot and 1-4 characters.
ICD10_PATTERN = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")


def validate_icd10(value: str) -> None:
    if not ICD10_PATTERN.match(value or ""):
        raise ValidationError(
            "Enter an ICD-10 code such as G47.33 (a letter, two characters, then optionally "
            "a dot and up to four more).",
            code="invalid_icd10",
        )


class PayerKind(models.TextChoices):
    MEDICARE = "medicare", "Medicare"
    MEDICAID = "medicaid", "Medicaid"
    COMMERCIAL = "commercial", "Commercial"
    OTHER = "other", "Other"


class PolicyRank(models.TextChoices):
    PRIMARY = "PRIMARY", "Primary"
    SECONDARY = "SECONDARY", "Secondary"
    TERTIARY = "TERTIARY", "Tertiary"


class SubscriberRelationship(models.TextChoices):
    SELF = "self", "Self"
    SPOUSE = "spouse", "Spouse"
    CHILD = "child", "Child"
    OTHER = "other", "Other"


class VerificationStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Not verified"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Verification failed"


class StudyType(models.TextChoices):
    PSG = "psg", "In-lab PSG"
    HST = "hst", "Home sleep test"
    TITRATION = "titration", "Titration"
    OTHER = "other", "Other"


class Payer(PublicIdModel):
    """An insurer an organization bills (Medicare, a commercial plan...)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="payers")
    name = models.CharField(max_length=200)
    payer_code = models.CharField("payer id", max_length=40, blank=True)
    kind = models.CharField(max_length=20, choices=PayerKind.choices, default=PayerKind.COMMERCIAL)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="payer_name_per_org"),
            models.UniqueConstraint(
                fields=["organization", "payer_code"],
                condition=~models.Q(payer_code=""),
                name="payer_code_per_org",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=PayerKind.values), name="payer_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return self.name


@pghistory.track(
    model_name="InsurancePolicyEvent",
    exclude=["member_id", "member_id_hash"],
    meta={"verbose_name": "insurance policy change"},
)
class InsurancePolicy(PublicIdModel):
    """One coverage of one patient, ranked primary/secondary/tertiary."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="insurance_policies"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="insurance_policies"
    )
    rank = models.CharField(max_length=10, choices=PolicyRank.choices)
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="policies")
    plan_name = models.CharField(max_length=200, blank=True)
    member_id = EncryptedTextField(blank=True)
    member_id_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    group_number = models.CharField(max_length=50, blank=True)
    subscriber_name = models.CharField(max_length=200, blank=True)
    subscriber_relationship = models.CharField(
        max_length=10, choices=SubscriberRelationship.choices, default=SubscriberRelationship.SELF
    )
    subscriber_date_of_birth = models.DateField(null=True, blank=True)
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True)
    verification_status = models.CharField(
        max_length=12, choices=VerificationStatus.choices, default=VerificationStatus.UNVERIFIED
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(default=True)

    tenant_organization_field = "organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        ordering = ["-is_active", "rank", "-id"]
        verbose_name_plural = "insurance policies"
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "rank"],
                condition=models.Q(is_active=True),
                name="policy_one_active_per_rank",
            ),
            models.CheckConstraint(
                condition=models.Q(effective_from__isnull=True)
                | models.Q(effective_to__isnull=True)
                | models.Q(effective_from__lte=models.F("effective_to")),
                name="policy_effective_dates_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(rank__in=PolicyRank.values), name="policy_rank_known"
            ),
            models.CheckConstraint(
                condition=models.Q(verification_status__in=VerificationStatus.values),
                name="policy_verification_known",
            ),
        ]
        indexes = [models.Index(fields=["patient", "is_active", "rank"], name="policy_patient")]

    def __str__(self) -> str:
        return f"{self.get_rank_display()} policy {self.public_id}"

    @property
    def member_id_masked(self) -> str:
        """Only the last four characters, the rest as bullets: enough to match a card."""
        value = self.member_id or ""
        if not value:
            return ""
        return "•" * max(len(value) - 4, 4) + value[-4:]


@pghistory.track(model_name="DiagnosisEvent", meta={"verbose_name": "diagnosis change"})
class Diagnosis(PublicIdModel):
    """An ICD-10 coded diagnosis. Never deleted: a wrong entry is marked entered in error."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="diagnoses")
    code = models.CharField("ICD-10 code", max_length=8, validators=[validate_icd10])
    description = models.CharField(max_length=300)
    onset_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    entered_in_error = models.BooleanField(default=False)
    entered_in_error_at = models.DateTimeField(null=True, blank=True)
    entered_in_error_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        ordering = ["entered_in_error", "-onset_date", "-id"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(code__regex=ICD10_PATTERN.pattern), name="diagnosis_icd10_code"
            )
        ]
        indexes = [models.Index(fields=["patient", "entered_in_error"], name="diagnosis_patient")]

    def __str__(self) -> str:
        return f"{self.code} {self.public_id}"


@pghistory.track(model_name="DiagnosticStudyEvent", meta={"verbose_name": "study change"})
class DiagnosticStudy(PublicIdModel):
    """A sleep study result with the values decisions hang on (AHI above all)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="diagnostic_studies"
    )
    study_date = models.DateField()
    study_type = models.CharField(max_length=12, choices=StudyType.choices)
    ahi = models.DecimalField(
        "AHI",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    rdi = models.DecimalField(
        "RDI",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    odi = models.DecimalField(
        "ODI",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    lowest_spo2 = models.PositiveSmallIntegerField(
        "lowest SpO2 (%)", null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        ordering = ["-study_date", "-id"]
        verbose_name_plural = "diagnostic studies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ahi__isnull=True) | models.Q(ahi__gte=0), name="study_ahi_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(rdi__isnull=True) | models.Q(rdi__gte=0), name="study_rdi_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(odi__isnull=True) | models.Q(odi__gte=0), name="study_odi_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(lowest_spo2__isnull=True) | models.Q(lowest_spo2__lte=100),
                name="study_spo2_percent",
            ),
            models.CheckConstraint(
                condition=models.Q(study_type__in=StudyType.values), name="study_type_known"
            ),
        ]
        indexes = [models.Index(fields=["patient", "-study_date"], name="study_patient_date")]

    def __str__(self) -> str:
        return f"{self.get_study_type_display()} {self.public_id}"


@pghistory.track(model_name="MedicalHistoryEvent", meta={"verbose_name": "medical history change"})
class MedicalHistory(PublicIdModel):
    """Allergies and medications as the patient reports them (free text). One row per patient;
    earlier versions live in the change history."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.OneToOneField(
        Patient, on_delete=models.PROTECT, related_name="medical_history"
    )
    allergies = models.TextField(blank=True)
    medications = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        verbose_name_plural = "medical histories"

    def __str__(self) -> str:
        return f"Medical history {self.public_id}"
