"""The patients app's models, one module per part of the record; import them from here.

``record`` (patient, status history, notes, physicians, technician assignments), ``clinical``
(payers, insurance, medical history), ``documents`` and ``referrals`` (referrals and
authorizations). The change-history event models pghistory makes are attached to this module.
"""

from .clinical import (
    ICD10_PATTERN,
    Diagnosis,
    DiagnosticStudy,
    InsurancePolicy,
    MedicalHistory,
    Payer,
    PayerKind,
    PolicyRank,
    StudyType,
    SubscriberRelationship,
    VerificationStatus,
    validate_icd10,
)
from .documents import (
    CARD_CATEGORIES,
    MAX_TAGS,
    TAG_MAX_LENGTH,
    Document,
    DocumentCategory,
    DocumentVersion,
    ExtractionStatus,
)
from .exports import ExportState, PatientExport
from .record import (
    ContactChannel,
    Patient,
    PatientAssignment,
    PatientFlag,
    PatientNote,
    PatientStatus,
    PatientStatusChange,
    Physician,
    Sex,
    normalize_name,
    npi_is_valid,
    validate_npi,
)
from .referrals import (
    WARNING_DAYS,
    Authorization,
    AuthorizationStatus,
    AuthorizationWarning,
    Referral,
    ReferralStatus,
    ReferralStatusChange,
)

__all__ = [
    "CARD_CATEGORIES",
    "ICD10_PATTERN",
    "MAX_TAGS",
    "TAG_MAX_LENGTH",
    "WARNING_DAYS",
    "Authorization",
    "AuthorizationStatus",
    "AuthorizationWarning",
    "ContactChannel",
    "Diagnosis",
    "DiagnosticStudy",
    "Document",
    "DocumentCategory",
    "DocumentVersion",
    "ExportState",
    "ExtractionStatus",
    "InsurancePolicy",
    "MedicalHistory",
    "Patient",
    "PatientAssignment",
    "PatientExport",
    "PatientFlag",
    "PatientNote",
    "PatientStatus",
    "PatientStatusChange",
    "Payer",
    "PayerKind",
    "Physician",
    "PolicyRank",
    "Referral",
    "ReferralStatus",
    "ReferralStatusChange",
    "Sex",
    "StudyType",
    "SubscriberRelationship",
    "VerificationStatus",
    "normalize_name",
    "npi_is_valid",
    "validate_icd10",
    "validate_npi",
]
