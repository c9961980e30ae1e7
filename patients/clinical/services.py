"""Writes to a patient's insurance and medical history, and the member-id lookup.

Every write is keyword-only with the acting user first, runs in one transaction and leaves an
audit row naming records by public id and fields by name: never a member id, a code, a
diagnosis or any other content. Permission is decided by the caller
(``patients.clinical.permissions``); these functions keep the record consistent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.crypto import lookup_hash
from clinic.errors import ApplicationError, Conflict
from patients.models import (
    ICD10_PATTERN,
    Diagnosis,
    DiagnosticStudy,
    InsurancePolicy,
    MedicalHistory,
    Patient,
    Payer,
    PayerKind,
    PolicyRank,
    StudyType,
    SubscriberRelationship,
    VerificationStatus,
)
from patients.record.permissions import full_access_location_ids
from patients.record.selectors import patients_visible_to

if TYPE_CHECKING:
    from clinic.models import User

__all__ = [
    "POLICY_FIELDS",
    "diagnosis_add",
    "diagnosis_mark_entered_in_error",
    "insurance_policy_add",
    "insurance_policy_deactivate",
    "insurance_policy_update",
    "insurance_policy_verify",
    "medical_history_update",
    "member_id_hashes_recompute",
    "payer_add",
    "policies_find_by_member_id",
    "study_add",
]

# Fields a person sets on a policy (add and update).
POLICY_FIELDS = (
    "rank",
    "payer",
    "plan_name",
    "member_id",
    "group_number",
    "subscriber_name",
    "subscriber_relationship",
    "subscriber_date_of_birth",
    "effective_from",
    "effective_to",
)
# A change to any of these makes an earlier verification meaningless.
_COVERAGE_FIELDS = frozenset(
    {"payer", "member_id", "group_number", "effective_from", "effective_to"}
)

MAX_MEMBER_ID = 40


# -- payers ----------------------------------------------------------------------------------


@transaction.atomic
def payer_add(
    *, actor: User, name: str, payer_code: str = "", kind: str = PayerKind.COMMERCIAL
) -> Payer:
    """A payer of the actor's organization; names and payer ids are unique in it."""
    name = (name or "").strip()
    payer_code = (payer_code or "").strip().upper()
    if not name:
        raise ApplicationError("Enter the payer's name.", extra={"field": "name"})
    if kind not in PayerKind.values:
        raise ApplicationError("Choose a kind of payer from the list.", extra={"field": "kind"})
    organization_id = actor.organization_id
    if organization_id is None:
        raise ApplicationError("Only members of an organization can add payers.")
    taken = Payer.objects.filter(organization_id=organization_id, name__iexact=name)
    if payer_code:
        taken = taken | Payer.objects.filter(organization_id=organization_id, payer_code=payer_code)
    if taken.exists():
        raise Conflict(
            "Your organization already has a payer with this name or payer id.",
            extra={"field": "name"},
        )
    payer = Payer(organization_id=organization_id, name=name, payer_code=payer_code, kind=kind)
    try:
        with transaction.atomic():
            payer.save()
    except IntegrityError as exc:
        raise Conflict(
            "Your organization already has a payer with this name or payer id.",
            extra={"field": "name"},
        ) from exc
    audit_record(actor=actor, action="payer.created", obj=payer)
    return payer


# -- insurance policies ----------------------------------------------------------------------


def _rank_taken(rank: str) -> Conflict:
    label = PolicyRank(rank).label
    return Conflict(
        f"This patient already has an active {label.lower()} policy. Deactivate it first, or "
        "choose another rank.",
        code="policy_rank_taken",
        extra={"field": "rank"},
    )


def _clean_policy(patient: Patient, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    clean = dict(fields)
    for name in ("plan_name", "group_number", "subscriber_name"):
        if name in clean:
            clean[name] = (clean[name] or "").strip()
    if "member_id" in clean:
        member_id = (clean["member_id"] or "").strip()
        if len(member_id) > MAX_MEMBER_ID:
            raise ApplicationError(
                f"A member id has at most {MAX_MEMBER_ID} characters.", extra={"field": "member_id"}
            )
        clean["member_id"] = member_id
    if "rank" in clean and clean["rank"] not in PolicyRank.values:
        raise ApplicationError("Choose primary, secondary or tertiary.", extra={"field": "rank"})
    if (
        "subscriber_relationship" in clean
        and clean["subscriber_relationship"] not in SubscriberRelationship.values
    ):
        raise ApplicationError(
            "Choose the subscriber's relationship from the list.",
            extra={"field": "subscriber_relationship"},
        )
    payer = clean.get("payer")
    if "payer" in clean and (payer is None or payer.organization_id != patient.organization_id):
        raise ApplicationError(
            "Choose one of your organization's payers.", extra={"field": "payer"}
        )
    dob = clean.get("subscriber_date_of_birth")
    if dob is not None and dob > date.today():
        raise ApplicationError(
            "The subscriber's date of birth cannot be in the future.",
            extra={"field": "subscriber_date_of_birth"},
        )
    return clean


def _check_dates(policy: InsurancePolicy) -> None:
    if (
        policy.effective_from
        and policy.effective_to
        and policy.effective_from > policy.effective_to
    ):
        raise ApplicationError(
            "The coverage cannot end before it starts: check the effective dates.",
            code="policy_dates",
            extra={"field": "effective_to"},
        )


def _save_policy(policy: InsurancePolicy) -> None:
    """Save, turning the race the service checks could not see into the same message."""
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError as exc:
        if "policy_one_active_per_rank" in str(exc):
            raise _rank_taken(policy.rank) from exc
        raise


@transaction.atomic
def insurance_policy_add(
    *, actor: User, patient: Patient, rank: str, payer: Payer, **fields: Any
) -> InsurancePolicy:
    """An active, unverified policy. At most one active policy per rank and patient."""
    clean = _clean_policy(patient, dict(fields, rank=rank, payer=payer))
    # Lock the patient: two clerks adding a primary policy at once queue here.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    if InsurancePolicy.objects.filter(patient=patient, rank=clean["rank"], is_active=True).exists():
        raise _rank_taken(clean["rank"])
    policy = InsurancePolicy(organization_id=patient.organization_id, patient=patient, **clean)
    policy.member_id_hash = lookup_hash(policy.member_id or "")
    _check_dates(policy)
    _save_policy(policy)
    audit_record(
        actor=actor,
        action="insurance_policy.added",
        obj=policy,
        location=patient.home_location,
        details={"patient": str(patient.public_id), "rank": policy.rank},
    )
    return policy


@transaction.atomic
def insurance_policy_update(
    *, actor: User, policy: InsurancePolicy, **fields: Any
) -> InsurancePolicy:
    """Change what is on the card. Changing the coverage (payer, member id, group, dates)
    makes the policy unverified again."""
    policy = InsurancePolicy.objects.select_for_update().select_related("patient").get(pk=policy.pk)
    if not policy.is_active:
        raise ApplicationError(
            "This policy is inactive and can no longer be changed.", code="policy_inactive"
        )
    clean = _clean_policy(policy.patient, fields)
    changed = [name for name, value in clean.items() if getattr(policy, name) != value]
    if not changed:
        return policy
    if (
        "rank" in changed
        and InsurancePolicy.objects.filter(
            patient_id=policy.patient_id, rank=clean["rank"], is_active=True
        )
        .exclude(pk=policy.pk)
        .exists()
    ):
        raise _rank_taken(clean["rank"])
    for name in changed:
        setattr(policy, name, clean[name])
    if "member_id" in changed:
        policy.member_id_hash = lookup_hash(policy.member_id or "")
    if (
        _COVERAGE_FIELDS & set(changed)
        and policy.verification_status != VerificationStatus.UNVERIFIED
    ):
        policy.verification_status = VerificationStatus.UNVERIFIED
        policy.verified_at = None
        policy.verified_by = None
        changed.append("verification_status")
    _check_dates(policy)
    _save_policy(policy)
    audit_record(
        actor=actor,
        action="insurance_policy.updated",
        obj=policy,
        location=policy.patient.home_location,
        details={"patient": str(policy.patient.public_id), "fields": sorted(changed)},
    )
    return policy


@transaction.atomic
def insurance_policy_verify(
    *, actor: User, policy: InsurancePolicy, status: str
) -> InsurancePolicy:
    """Record the outcome of an eligibility check (verified or failed), by whom and when."""
    if status not in (VerificationStatus.VERIFIED, VerificationStatus.FAILED):
        raise ApplicationError("Choose verified or failed.", extra={"field": "status"})
    policy = InsurancePolicy.objects.select_for_update().select_related("patient").get(pk=policy.pk)
    if not policy.is_active:
        raise ApplicationError(
            "This policy is inactive and can no longer be verified.", code="policy_inactive"
        )
    policy.verification_status = status
    policy.verified_at = timezone.now()
    policy.verified_by = actor
    policy.save(update_fields=["verification_status", "verified_at", "verified_by", "updated_at"])
    audit_record(
        actor=actor,
        action="insurance_policy.verified",
        obj=policy,
        location=policy.patient.home_location,
        details={"patient": str(policy.patient.public_id), "status": status},
    )
    return policy


@transaction.atomic
def insurance_policy_deactivate(*, actor: User, policy: InsurancePolicy) -> InsurancePolicy:
    """Take a policy out of use (kept for claims and history; frees its rank)."""
    policy = InsurancePolicy.objects.select_for_update().select_related("patient").get(pk=policy.pk)
    if not policy.is_active:
        return policy
    policy.is_active = False
    policy.save(update_fields=["is_active", "updated_at"])
    audit_record(
        actor=actor,
        action="insurance_policy.deactivated",
        obj=policy,
        location=policy.patient.home_location,
        details={"patient": str(policy.patient.public_id), "rank": policy.rank},
    )
    return policy


def policies_find_by_member_id(*, user: User, member_id: str) -> QuerySet[InsurancePolicy]:
    """Policies with this member id (however it is formatted: "ab-123 45" finds "AB12345")
    among the patients ``user`` may open with insurance, compared by keyed hash: nothing is
    decrypted to search."""
    digest = lookup_hash(member_id or "")
    if not digest:
        return InsurancePolicy.objects.none()
    patients = patients_visible_to(user)
    if not user.is_org_admin:
        # Insurance is part of the full record: a technician's assigned patients do not count.
        patients = patients.filter(home_location_id__in=full_access_location_ids(user))
    return (
        InsurancePolicy.objects.filter(member_id_hash=digest, patient__in=patients)
        .select_related("patient", "payer")
        .order_by("-is_active", "rank", "-id")
    )


def member_id_hashes_recompute(*, batch_size: int = 500) -> int:
    """Recompute every policy's member-id hash from the decrypted value, after FIELD_HASH_KEY
    changed (docs/encryption.md: the owning app must do it). Batches in primary-key order, each
    locked, so a concurrent edit is never overwritten. Returns how many hashes changed."""
    changed = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                InsurancePolicy.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "member_id", "member_id_hash")[:batch_size]
            )
            if not batch:
                return changed
            for policy in batch:
                digest = lookup_hash(policy.member_id or "")
                if digest != policy.member_id_hash:
                    InsurancePolicy.objects.filter(pk=policy.pk).update(member_id_hash=digest)
                    changed += 1
            last_pk = batch[-1].pk


# -- medical history -------------------------------------------------------------------------


@transaction.atomic
def diagnosis_add(
    *, actor: User, patient: Patient, code: str, description: str, onset_date: date | None = None
) -> Diagnosis:
    code = (code or "").strip().upper()
    description = (description or "").strip()
    if not ICD10_PATTERN.match(code):
        raise ApplicationError(
            "Enter an ICD-10 code such as G47.33 (a letter, two characters, then optionally a "
            "dot and up to four more).",
            code="invalid_icd10",
            extra={"field": "code"},
        )
    if not description:
        raise ApplicationError("Describe the diagnosis.", extra={"field": "description"})
    if onset_date is not None and onset_date > date.today():
        raise ApplicationError(
            "The onset date cannot be in the future.", extra={"field": "onset_date"}
        )
    diagnosis = Diagnosis.objects.create(
        organization_id=patient.organization_id,
        patient=patient,
        code=code,
        description=description[:300],
        onset_date=onset_date,
        recorded_by=actor,
    )
    audit_record(
        actor=actor,
        action="diagnosis.added",
        obj=diagnosis,
        location=patient.home_location,
        details={"patient": str(patient.public_id)},
    )
    return diagnosis


@transaction.atomic
def diagnosis_mark_entered_in_error(*, actor: User, diagnosis: Diagnosis) -> Diagnosis:
    """Clinical rows are never deleted: a wrong one stays, struck through, with who and when."""
    diagnosis = Diagnosis.objects.select_for_update().select_related("patient").get(pk=diagnosis.pk)
    if diagnosis.entered_in_error:
        return diagnosis
    diagnosis.entered_in_error = True
    diagnosis.entered_in_error_at = timezone.now()
    diagnosis.entered_in_error_by = actor
    diagnosis.save(
        update_fields=[
            "entered_in_error",
            "entered_in_error_at",
            "entered_in_error_by",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action="diagnosis.entered_in_error",
        obj=diagnosis,
        location=diagnosis.patient.home_location,
        details={"patient": str(diagnosis.patient.public_id)},
    )
    return diagnosis


def _non_negative(value: Decimal | None, field: str, label: str) -> None:
    if value is not None and value < 0:
        raise ApplicationError(f"{label} cannot be negative.", extra={"field": field})


@transaction.atomic
def study_add(
    *,
    actor: User,
    patient: Patient,
    study_date: date,
    study_type: str,
    ahi: Decimal | None = None,
    rdi: Decimal | None = None,
    odi: Decimal | None = None,
    lowest_spo2: int | None = None,
    notes: str = "",
) -> DiagnosticStudy:
    if study_type not in StudyType.values:
        raise ApplicationError(
            "Choose the type of study from the list.", extra={"field": "study_type"}
        )
    if study_date > date.today():
        raise ApplicationError(
            "The study date cannot be in the future.", extra={"field": "study_date"}
        )
    _non_negative(ahi, "ahi", "AHI")
    _non_negative(rdi, "rdi", "RDI")
    _non_negative(odi, "odi", "ODI")
    if lowest_spo2 is not None and not 0 <= lowest_spo2 <= 100:
        raise ApplicationError(
            "Lowest SpO2 is a percentage from 0 to 100.", extra={"field": "lowest_spo2"}
        )
    study = DiagnosticStudy.objects.create(
        organization_id=patient.organization_id,
        patient=patient,
        study_date=study_date,
        study_type=study_type,
        ahi=ahi,
        rdi=rdi,
        odi=odi,
        lowest_spo2=lowest_spo2,
        notes=(notes or "").strip(),
        recorded_by=actor,
    )
    audit_record(
        actor=actor,
        action="diagnostic_study.added",
        obj=study,
        location=patient.home_location,
        details={"patient": str(patient.public_id), "type": study_type},
    )
    return study


@transaction.atomic
def medical_history_update(
    *, actor: User, patient: Patient, allergies: str, medications: str
) -> MedicalHistory:
    """Replace the allergies and medications text; earlier versions stay in the history."""
    # Lock the patient so two first saves cannot both create the one row.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    clean = {"allergies": (allergies or "").strip(), "medications": (medications or "").strip()}
    history = MedicalHistory.objects.filter(patient=patient).first()
    if history is None:
        history = MedicalHistory(organization_id=patient.organization_id, patient=patient)
    changed = sorted(name for name, value in clean.items() if getattr(history, name) != value)
    if not changed:
        return history
    for name in changed:
        setattr(history, name, clean[name])
    history.updated_by = actor
    history.save()
    audit_record(
        actor=actor,
        action="medical_history.updated",
        obj=history,
        location=patient.home_location,
        details={"patient": str(patient.public_id), "fields": changed},
    )
    return history
