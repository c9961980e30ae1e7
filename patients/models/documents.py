"""Patient documents: a document (category, tags, description) and its kept versions.

A document is never hard-deleted (``entered_in_error`` marks a mistake); each upload of a new
file is a new ``DocumentVersion`` and the old ones stay. Versions hold where the file is kept
(a random storage name from ``clinic.files.services.file_store``), what it is by content, and,
for PDFs, the text inside it with a full-text search vector filled by a Celery task.

Re-exported by ``patients.models``.
Writes go through ``patients.documents.services``.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from clinic.files.services import Kind
from clinic.models import Organization
from clinic.models.base import PublicIdModel


class DocumentCategory(models.TextChoices):
    GENERAL = "general", "General"
    MEDICAL_HISTORY = "medical_history", "Medical history"
    PRESCRIPTION = "prescription", "Prescription"
    AUTHORIZATION = "authorization", "Authorization"
    INSURANCE_CARD_FRONT = "insurance_card_front", "Insurance card (front)"
    INSURANCE_CARD_BACK = "insurance_card_back", "Insurance card (back)"
    CLAIM = "claim", "Claim"
    LAB_REPORT = "lab_report", "Lab report"
    DIAGNOSTIC_STUDY_REPORT = "diagnostic_study_report", "Diagnostic study report"
    TREATMENT_PRESCRIPTION = "treatment_prescription", "Treatment prescription"
    CONSENT_FORM = "consent_form", "Consent form"
    REFERRAL = "referral", "Referral"
    CORRESPONDENCE = "correspondence", "Correspondence"
    INVOICE = "invoice", "Invoice"
    PAYMENT_RECEIPT = "payment_receipt", "Payment receipt"
    IDENTITY_DOCUMENT = "identity_document", "Identity document"
    PROOF_OF_DELIVERY = "proof_of_delivery", "Proof of delivery"


class ExtractionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    NOT_APPLICABLE = "not_applicable", "Not a PDF"
    FAILED = "failed", "Could not read"


CARD_CATEGORIES = (DocumentCategory.INSURANCE_CARD_FRONT, DocumentCategory.INSURANCE_CARD_BACK)

TAG_MAX_LENGTH = 40
MAX_TAGS = 10


class Document(PublicIdModel):
    """One document of a patient; its file is the current version's."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="documents"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="documents"
    )
    category = models.CharField(
        max_length=30, choices=DocumentCategory.choices, default=DocumentCategory.GENERAL
    )
    tags = ArrayField(
        models.CharField(max_length=TAG_MAX_LENGTH), default=list, blank=True, size=MAX_TAGS
    )
    description = models.CharField(max_length=500, blank=True)
    current_version = models.ForeignKey(
        "patients.DocumentVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Insurance card photos (front / back) belong to one policy as well as to the patient.
    insurance_policy = models.ForeignKey(
        "patients.InsurancePolicy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="card_documents",
    )
    entered_in_error = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(category__in=DocumentCategory.values),
                name="document_category_known",
            ),
            models.CheckConstraint(
                condition=models.Q(insurance_policy__isnull=True)
                | models.Q(category__in=CARD_CATEGORIES),
                name="document_policy_only_for_cards",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "-created_at"], name="document_patient_at"),
            GinIndex(fields=["tags"], name="document_tags"),
        ]

    def __str__(self) -> str:
        return f"Document {self.public_id}"


class DocumentVersion(PublicIdModel):
    """One file of a document. The original filename is not kept (it often holds the
    patient's name); downloads are named ``document-<public id>.<extension of the kind>``."""

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    storage_name = models.CharField(max_length=255, editable=False)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    kind = models.CharField(max_length=10)  # clinic.files.services.Kind
    content_type = models.CharField(max_length=50)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Extracted text of a PDF (PHI: never logged, never in an audit row) and its search vector.
    text = models.TextField(blank=True, default="")
    search_vector = SearchVectorField(null=True, editable=False)
    extraction_status = models.CharField(
        max_length=20, choices=ExtractionStatus.choices, default=ExtractionStatus.PENDING
    )

    tenant_organization_field = "document__organization"
    tenant_location_field = "document__patient__home_location"

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "number"], name="document_version_number_unique"
            )
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="document_version_search"),
            # The extraction sweep's "still pending" read stays small on millions of versions.
            models.Index(
                fields=["created_at"],
                condition=models.Q(extraction_status="pending"),
                name="document_version_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"Version {self.number} of document {self.document_id}"

    @property
    def uploaded_at(self) -> datetime:
        return self.created_at

    @property
    def organization(self) -> Organization:
        # The download audit row takes its organization from the object it is given.
        return self.document.organization

    def download_filename(self) -> str:
        return f"document-{self.public_id}.{Kind(self.kind).extension}"
