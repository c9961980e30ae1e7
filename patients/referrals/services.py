"""Writes for referrals and authorizations (who may make them: ``permissions.py``).

Every write is keyword-only, actor first, atomic and audited with public ids only. Referral
status moves one step at a time (received -> contacted -> scheduled -> closed). Units are used
with one conditional UPDATE, so concurrent uses can never go past the approved number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, PermissionDenied
from clinic.models import Membership, Role, User
from clinic.notifications.services import notification_send
from clinic.times import local_today
from patients.models import (
    WARNING_DAYS,
    Authorization,
    AuthorizationStatus,
    AuthorizationWarning,
    Referral,
    ReferralStatus,
    ReferralStatusChange,
)
from patients.referrals.permissions import can_work_referrals

if TYPE_CHECKING:
    from patients.models import Document, Patient, Payer, Physician


def _require_worker(actor: User, patient: Patient) -> None:
    if not can_work_referrals(actor, patient):
        raise PermissionDenied("You cannot change referrals or authorizations of this patient.")


# -- referrals ---------------------------------------------------------------------------------

REFERRAL_NEXT: dict[str, str | None] = {
    ReferralStatus.RECEIVED: ReferralStatus.CONTACTED,
    ReferralStatus.CONTACTED: ReferralStatus.SCHEDULED,
    ReferralStatus.SCHEDULED: ReferralStatus.CLOSED,
    ReferralStatus.CLOSED: None,
}


class ReferralTransitionRefused(ApplicationError):
    code = "referral_transition_refused"


@transaction.atomic
def referral_receive(
    *,
    actor: User,
    patient: Patient,
    physician: Physician,
    received_on: date,
    reason: str,
    assigned_to: User | None = None,
) -> Referral:
    _require_worker(actor, patient)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Give the reason for the referral.", extra={"field": "reason"})
    if len(reason) > 5000:
        raise ApplicationError("Keep the reason under 5,000 characters.", extra={"field": "reason"})
    if physician.organization_id != patient.organization_id:
        raise ApplicationError("Choose a physician from the list.", extra={"field": "physician"})
    if received_on > local_today(patient.home_location):
        raise ApplicationError(
            "The received date cannot be in the future.", extra={"field": "received_on"}
        )
    if assigned_to is not None:
        _check_assignee(patient, assigned_to)
    referral = Referral.objects.create(
        organization_id=patient.organization_id,
        patient=patient,
        physician=physician,
        received_on=received_on,
        reason=reason,
        assigned_to=assigned_to,
        created_by=actor,
    )
    audit_record(actor=actor, action="referral.received", obj=referral)
    return referral


def _check_assignee(patient: Patient, user: User) -> None:
    ok = user.is_active and (
        Membership.objects.filter(
            user=user,
            location__organization_id=patient.organization_id,
            role=Role.ADMIN,
        ).exists()
        or Membership.objects.filter(
            user=user, location_id=patient.home_location_id, role=Role.EMPLOYEE
        ).exists()
    )
    if not ok:
        raise ApplicationError(
            "Assign the referral to a staff member of the patient's location.",
            extra={"field": "assigned_to"},
        )


@transaction.atomic
def referral_advance(*, actor: User, referral: Referral, to: str, note: str = "") -> Referral:
    """Move ``referral`` to the next status ``to``; skipping ahead or going back is refused."""
    _require_worker(actor, referral.patient)
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    allowed = REFERRAL_NEXT.get(referral.status)
    if to != allowed:
        current = ReferralStatus(referral.status).label.lower()
        if allowed is None:
            message = f"This referral is {current}; it cannot move any further."
        else:
            message = (
                f"A {current} referral can only move to {ReferralStatus(allowed).label.lower()}."
            )
        raise ReferralTransitionRefused(message, extra={"field": "to", "allowed": allowed})
    note = (note or "").strip()[:2000]
    ReferralStatusChange.objects.create(
        referral=referral, from_status=referral.status, to_status=to, note=note, changed_by=actor
    )
    before = referral.status
    referral.status = to
    referral.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action="referral.status_changed",
        obj=referral,
        details={"from": before, "to": to},
    )
    return referral


@transaction.atomic
def referral_assign(*, actor: User, referral: Referral, assignee: User | None) -> Referral:
    _require_worker(actor, referral.patient)
    if assignee is not None:
        _check_assignee(referral.patient, assignee)
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    referral.assigned_to = assignee
    referral.save(update_fields=["assigned_to", "updated_at"])
    audit_record(
        actor=actor,
        action="referral.assigned",
        obj=referral,
        details={"assignee": assignee.pk if assignee else None},
    )
    return referral


@transaction.atomic
def referral_documents_set(
    *, actor: User, referral: Referral, documents: list[Document]
) -> Referral:
    """Link exactly ``documents`` (the referral letter, the sleep study...) to the referral."""
    _require_worker(actor, referral.patient)
    for document in documents:
        if document.patient_id != referral.patient_id or document.entered_in_error:
            raise ApplicationError(
                "Choose documents of this patient.", extra={"field": "documents"}
            )
    referral.documents.set(documents)
    audit_record(
        actor=actor,
        action="referral.documents_linked",
        obj=referral,
        details={"count": len(documents)},
    )
    return referral


# -- authorizations ----------------------------------------------------------------------------

_CODE = re.compile(r"^[A-Z0-9]{5}$")


def codes_clean(codes: list[str] | str) -> list[str]:
    """Upper-cased, de-duplicated HCPCS/CPT codes; a string may separate them by commas or
    spaces."""
    if isinstance(codes, str):
        codes = re.split(r"[\s,;]+", codes)
    cleaned: list[str] = []
    for raw in codes:
        code = raw.strip().upper()
        if not code:
            continue
        if not _CODE.match(code):
            raise ApplicationError(
                f"“{code[:12]}” is not a 5-character HCPCS or CPT code (e.g. E0601).",
                extra={"field": "codes"},
            )
        if code not in cleaned:
            cleaned.append(code)
    if not cleaned:
        raise ApplicationError("Enter at least one code.", extra={"field": "codes"})
    return cleaned


@dataclass(frozen=True)
class AuthorizationData:
    payer: Payer
    number: str
    codes: list[str]
    units_approved: int
    valid_from: date
    valid_to: date


def _validate(patient: Patient, data: AuthorizationData) -> AuthorizationData:
    if data.payer.organization_id != patient.organization_id:
        raise ApplicationError("Choose a payer from the list.", extra={"field": "payer"})
    number = (data.number or "").strip()
    if not number or len(number) > 60:
        raise ApplicationError(
            "Enter the authorization number (up to 60 characters).", extra={"field": "number"}
        )
    if data.units_approved is None or data.units_approved < 0:
        raise ApplicationError(
            "Approved units must be zero or more.", extra={"field": "units_approved"}
        )
    if data.valid_from > data.valid_to:
        raise ApplicationError(
            "“Valid to” must be on or after “valid from”.", extra={"field": "valid_to"}
        )
    return AuthorizationData(
        payer=data.payer,
        number=number,
        codes=codes_clean(data.codes),
        units_approved=data.units_approved,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
    )


def _status_for(authorization: Authorization) -> str:
    if authorization.status in (AuthorizationStatus.CANCELLED,):
        return authorization.status
    if authorization.units_used >= authorization.units_approved:
        return AuthorizationStatus.EXHAUSTED
    if authorization.valid_to < local_today(authorization.patient.home_location):
        return AuthorizationStatus.EXPIRED
    return AuthorizationStatus.ACTIVE


@transaction.atomic
def authorization_add(*, actor: User, patient: Patient, data: AuthorizationData) -> Authorization:
    _require_worker(actor, patient)
    data = _validate(patient, data)
    authorization = Authorization(
        organization_id=patient.organization_id,
        patient=patient,
        payer=data.payer,
        number=data.number,
        codes=data.codes,
        units_approved=data.units_approved,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        created_by=actor,
    )
    authorization.status = _status_for(authorization)
    authorization.save()
    audit_record(actor=actor, action="authorization.added", obj=authorization)
    return authorization


@transaction.atomic
def authorization_update(
    *, actor: User, authorization: Authorization, data: AuthorizationData
) -> Authorization:
    _require_worker(actor, authorization.patient)
    data = _validate(authorization.patient, data)
    authorization = Authorization.objects.select_for_update().get(pk=authorization.pk)
    if data.units_approved < authorization.units_used:
        raise ApplicationError(
            f"{authorization.units_used} units are already used; approved units cannot be fewer.",
            extra={"field": "units_approved"},
        )
    if data.valid_to != authorization.valid_to:
        # Warnings belong to the old end date; a new one gets its own 30/14/7-day warnings.
        authorization.warnings.all().delete()
    authorization.payer = data.payer
    authorization.number = data.number
    authorization.codes = data.codes
    authorization.units_approved = data.units_approved
    authorization.valid_from = data.valid_from
    authorization.valid_to = data.valid_to
    authorization.status = _status_for(authorization)
    authorization.save()
    audit_record(actor=actor, action="authorization.updated", obj=authorization)
    return authorization


@transaction.atomic
def authorization_cancel(*, actor: User, authorization: Authorization) -> Authorization:
    _require_worker(actor, authorization.patient)
    authorization = Authorization.objects.select_for_update().get(pk=authorization.pk)
    authorization.status = AuthorizationStatus.CANCELLED
    authorization.save(update_fields=["status", "updated_at"])
    audit_record(actor=actor, action="authorization.cancelled", obj=authorization)
    return authorization


class UnitsRefused(ApplicationError):
    code = "units_refused"


@transaction.atomic
def authorization_units_use(
    *, actor: User, authorization: Authorization, units: int
) -> Authorization:
    """Use ``units`` of an active authorization.

    One conditional UPDATE does the check and the increment together, so two concurrent uses
    can never push ``units_used`` past ``units_approved`` (the database check constraint is the
    last line of defence).
    """
    _require_worker(actor, authorization.patient)
    if not isinstance(units, int) or units < 1:
        raise UnitsRefused("Use at least one unit.", extra={"field": "units"})
    today = local_today(authorization.patient.home_location)  # where the patient is seen
    updated = Authorization.objects.filter(
        pk=authorization.pk,
        status=AuthorizationStatus.ACTIVE,
        valid_from__lte=today,
        valid_to__gte=today,
        units_used__lte=F("units_approved") - units,
    ).update(units_used=F("units_used") + units, updated_at=timezone.now())
    current = Authorization.objects.get(pk=authorization.pk)
    if not updated:
        if current.status != AuthorizationStatus.ACTIVE:
            message = (
                f"This authorization is {current.get_status_display().lower()}; "
                "no units can be used."
            )
        elif not (current.valid_from <= today <= current.valid_to):
            message = "This authorization is not valid today; no units can be used."
        else:
            message = f"Only {current.units_left} units are left on this authorization."
        raise UnitsRefused(message, extra={"field": "units", "left": current.units_left})
    if current.units_used >= current.units_approved:
        Authorization.objects.filter(pk=current.pk, status=AuthorizationStatus.ACTIVE).update(
            status=AuthorizationStatus.EXHAUSTED
        )
        current.status = AuthorizationStatus.EXHAUSTED
    audit_record(
        actor=actor, action="authorization.units_used", obj=current, details={"units": units}
    )
    return current


# -- expiry warnings ---------------------------------------------------------------------------


def warning_threshold(days_left: int) -> int | None:
    """The warning that applies ``days_left`` days before expiry: the tightest threshold that
    has been reached (10 days left -> the 14-day warning), None when more than 30 remain."""
    reached = [d for d in WARNING_DAYS if 0 <= days_left <= d]
    return min(reached) if reached else None


def _warning_recipients(authorization: Authorization) -> list[User]:
    """EMPLOYEE and ADMIN members of the patient's home location."""
    return list(
        User.objects.filter(
            is_active=True,
            organization_id=authorization.organization_id,
            memberships__location_id=authorization.patient.home_location_id,
            memberships__role__in=[Role.EMPLOYEE, Role.ADMIN],
        )
        .distinct()
        .order_by("pk")
    )


def authorizations_warn_expiring(*, today: date | None = None) -> int:
    """Warn staff about active authorizations that expire within 30, 14 or 7 days.

    Each threshold is sent at most once per authorization: the ``AuthorizationWarning`` row is
    inserted first, in the same transaction as the notifications, and its unique constraint
    makes a second (or concurrent) run skip it. Returns the number of warnings sent.
    """
    today = today or timezone.localdate()
    horizon = today + timedelta(days=max(WARNING_DAYS))
    candidates = (
        Authorization.objects.filter(
            status=AuthorizationStatus.ACTIVE, valid_to__gte=today, valid_to__lte=horizon
        )
        .select_related("patient")
        .order_by("pk")
    )
    sent = 0
    for authorization in candidates.iterator(chunk_size=500):
        days_left = (authorization.valid_to - today).days
        threshold = warning_threshold(days_left)
        if threshold is None:
            continue
        if AuthorizationWarning.objects.filter(
            authorization=authorization, days_before__lte=threshold
        ).exists():
            continue  # this warning, or a tighter one, already went out
        try:
            with transaction.atomic():
                AuthorizationWarning.objects.create(
                    authorization=authorization, days_before=threshold
                )
                _send_warning(authorization, days_left)
        except IntegrityError:
            continue  # another run sent it first
        sent += 1
    return sent


@transaction.atomic
def authorizations_expire(*, today: date | None = None) -> int:
    """Mark active authorizations whose last valid day has passed as EXPIRED (audited)."""
    today = today or timezone.localdate()
    expired = list(
        Authorization.objects.select_for_update(skip_locked=True).filter(
            status=AuthorizationStatus.ACTIVE, valid_to__lt=today
        )[:5000]
    )
    for authorization in expired:
        authorization.status = AuthorizationStatus.EXPIRED
        authorization.save(update_fields=["status", "updated_at"])
        audit_record(actor=None, action="authorization.expired", obj=authorization)
    return len(expired)


def _send_warning(authorization: Authorization, days_left: int) -> None:
    url = reverse("patients:authorizations", kwargs={"public_id": authorization.patient.public_id})
    when = "today" if days_left == 0 else f"in {days_left} day{'s' if days_left != 1 else ''}"
    for recipient in _warning_recipients(authorization):
        notification_send(
            actor=None,
            recipient=recipient,
            kind="authorization.expiring",
            title=f"An authorization expires {when}",
            url=f"{url}#authorization-{authorization.public_id}",
        )
    audit_record(
        actor=None,
        action="authorization.expiry_warned",
        obj=authorization,
        details={"days_left": days_left},
    )
