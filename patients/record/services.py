"""Writes to the patient record: registration, edits, the status lifecycle, notes and
referring physicians. Every function is keyword-only with the acting user first, runs in one
transaction and leaves an audit row that names records by public id and fields by name only.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, Conflict
from clinic.events.services import event_record
from clinic.phones import phone_normalize
from patients.models import (
    Patient,
    PatientAssignment,
    PatientNote,
    PatientStatus,
    PatientStatusChange,
    Physician,
    npi_is_valid,
)

if TYPE_CHECKING:
    from clinic.models import Location, User

S = PatientStatus


class InvalidNPI(ApplicationError):
    code = "invalid_npi"


class StatusTransitionRefused(ApplicationError):
    code = "status_transition_refused"
    status = 409


# The lifecycle of DOMAIN.md. Besides the main line, a patient can be transferred or made
# inactive from anywhere, and comes back through PENDING_SCHEDULE; "paid" returns an
# outstanding balance to ACTIVE.
ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.PENDING_SCHEDULE: (S.SCHEDULED, S.TRANSFERRED, S.INACTIVE),
    S.SCHEDULED: (S.ACTIVE, S.PENDING_SCHEDULE, S.TRANSFERRED, S.INACTIVE),
    S.ACTIVE: (S.PENDING_CLAIM, S.OUTSTANDING_BALANCE, S.COMPLETED, S.TRANSFERRED, S.INACTIVE),
    S.PENDING_CLAIM: (S.OUTSTANDING_BALANCE, S.ACTIVE, S.COMPLETED, S.TRANSFERRED, S.INACTIVE),
    S.OUTSTANDING_BALANCE: (S.ACTIVE, S.COMPLETED, S.TRANSFERRED, S.INACTIVE),
    S.COMPLETED: (S.PENDING_SCHEDULE, S.INACTIVE),
    S.TRANSFERRED: (S.PENDING_SCHEDULE, S.INACTIVE),
    S.INACTIVE: (S.PENDING_SCHEDULE,),
}

# Events of other apps that move the status on their own: event -> (from statuses, to).
# A patient in any other status is left alone (the event is not an error, just not news).
EVENT_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "appointment.booked": ((S.PENDING_SCHEDULE,), S.SCHEDULED),
    "equipment.setup_completed": ((S.PENDING_SCHEDULE, S.SCHEDULED), S.ACTIVE),
    "claim.submitted": ((S.ACTIVE,), S.PENDING_CLAIM),
    "balance.due": ((S.ACTIVE, S.PENDING_CLAIM), S.OUTSTANDING_BALANCE),
    "balance.paid": ((S.OUTSTANDING_BALANCE,), S.ACTIVE),
}

# Fields a person may set through patient_register / patient_update.
EDITABLE_FIELDS = (
    "home_location",
    "mrn",
    "first_name",
    "middle_name",
    "last_name",
    "preferred_name",
    "date_of_birth",
    "sex",
    "phone_mobile",
    "phone_home",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "preferred_contact",
    "language",
    "emergency_contact_name",
    "emergency_contact_phone",
    "emergency_contact_relationship",
    "flags",
    "referring_physician",
)
_PHONE_FIELDS = ("phone_mobile", "phone_home", "emergency_contact_phone")


def patient_fields_clean(organization_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (names of ``EDITABLE_FIELDS``) checked and normalised the way registration, edits
    and the CSV import store them; raises ``ApplicationError`` naming the field."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    clean = dict(fields)
    for name in _PHONE_FIELDS:
        if name in clean:
            clean[name] = phone_normalize(clean[name], field=name)
    for name in ("first_name", "last_name", "middle_name", "preferred_name", "mrn"):
        if name in clean:
            clean[name] = (clean[name] or "").strip()
    if "flags" in clean:
        clean["flags"] = sorted(set(clean["flags"] or []))
    location = clean.get("home_location")
    if location is not None and location.organization_id != organization_id:
        raise ApplicationError("Choose one of your locations.", extra={"field": "home_location"})
    physician = clean.get("referring_physician")
    if physician is not None and physician.organization_id != organization_id:
        raise ApplicationError(
            "Choose a physician of your organization.", extra={"field": "referring_physician"}
        )
    dob = clean.get("date_of_birth")
    if dob is not None and dob > date.today():
        raise ApplicationError(
            "The date of birth cannot be in the future.", extra={"field": "date_of_birth"}
        )
    return clean


def mrn_generate(organization_id: int) -> str:
    """A random 8-digit MRN no patient of the organization has yet."""
    while True:
        mrn = f"{secrets.randbelow(10**8):08d}"
        if not Patient.objects.filter(organization_id=organization_id, mrn=mrn).exists():
            return mrn


def _mrn_taken() -> Conflict:
    return Conflict(
        "Another patient of your organization already has this MRN.", extra={"field": "mrn"}
    )


@transaction.atomic
def patient_register(
    *,
    actor: User,
    home_location: Location,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    mrn: str = "",
    **fields: Any,
) -> Patient:
    """Create a patient in PENDING_SCHEDULE. Without an MRN one is assigned."""
    organization_id = home_location.organization_id
    clean = patient_fields_clean(
        organization_id,
        dict(
            fields,
            home_location=home_location,
            first_name=first_name,
            last_name=last_name,
            date_of_birth=date_of_birth,
            mrn=mrn,
        ),
    )
    if not clean["first_name"] or not clean["last_name"]:
        raise ApplicationError("A first and last name are required.", extra={"field": "last_name"})
    if not clean["mrn"]:
        clean["mrn"] = mrn_generate(organization_id)
    elif Patient.objects.filter(organization_id=organization_id, mrn=clean["mrn"]).exists():
        raise _mrn_taken()
    patient = Patient(organization_id=organization_id, created_by=actor, **clean)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:  # a concurrent registration took the MRN
        raise _mrn_taken() from exc
    audit_record(actor=actor, action="patient.registered", obj=patient)
    return patient


@transaction.atomic
def patient_update(*, actor: User, patient: Patient, **fields: Any) -> Patient:
    """Change demographic fields. The status moves only through patient_status_change."""
    clean = patient_fields_clean(patient.organization_id, fields)
    if "mrn" in clean and not clean["mrn"]:
        raise ApplicationError("The MRN cannot be empty.", extra={"field": "mrn"})
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    changed = [name for name, value in clean.items() if getattr(patient, name) != value]
    if not changed:
        return patient
    if (
        "mrn" in changed
        and Patient.objects.filter(organization_id=patient.organization_id, mrn=clean["mrn"])
        .exclude(pk=patient.pk)
        .exists()
    ):
        raise _mrn_taken()
    for name in changed:
        setattr(patient, name, clean[name])
    try:
        with transaction.atomic():
            patient.save(update_fields=[*changed, "updated_at"])
    except IntegrityError as exc:
        raise _mrn_taken() from exc
    audit_record(
        actor=actor, action="patient.updated", obj=patient, details={"fields": sorted(changed)}
    )
    return patient


def allowed_transitions(status: str) -> tuple[str, ...]:
    return ALLOWED_TRANSITIONS.get(status, ())


def _move(*, actor: User | None, patient: Patient, to: str, reason: str, event: str = "") -> None:
    from_status = patient.status
    patient.status = to
    patient.save(update_fields=["status", "updated_at"])
    PatientStatusChange.objects.create(
        patient=patient, from_status=from_status, to_status=to, reason=reason, actor=actor
    )
    details: dict[str, Any] = {"from": from_status, "to": to}
    if event:
        details["event"] = event
    audit_record(actor=actor, action="patient.status_changed", obj=patient, details=details)
    # For other apps (the communications timeline follows it live); ids and codes only.
    event_record(
        name="patient.status_changed",
        organization=patient.organization,
        aggregate=patient,
        payload={"patient": str(patient.public_id), "from": from_status, "to": to},
    )


@transaction.atomic
def patient_status_change(*, actor: User, patient: Patient, to: str, reason: str) -> Patient:
    """Move ``patient`` to status ``to``, if the lifecycle allows it, with a reason."""
    reason = (reason or "").strip()
    if to not in PatientStatus.values:
        raise ApplicationError("Choose a status from the list.", extra={"field": "to"})
    if not reason:
        raise ApplicationError("Give a reason for the change.", extra={"field": "reason"})
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    allowed = allowed_transitions(patient.status)
    if to not in allowed:
        labels = ", ".join(str(PatientStatus(s).label) for s in allowed) or "none"
        raise StatusTransitionRefused(
            f"A patient who is {PatientStatus(patient.status).label.lower()} cannot become "
            f"{PatientStatus(to).label.lower()}. Allowed next: {labels}.",
            extra={"field": "to", "allowed": list(allowed)},
        )
    _move(actor=actor, patient=patient, to=to, reason=reason[:500])
    return patient


@transaction.atomic
def patient_status_advance_from_event(*, actor: User | None, patient: Patient, event: str) -> bool:
    """Let another app's event move the status (``"appointment.booked"`` → SCHEDULED, …).

    Returns True when the status moved; a patient already past that point is left as is, so
    a redelivered or late event is harmless.
    """
    if event not in EVENT_TRANSITIONS:
        raise ValueError(f"no status rule for event {event!r}")
    from_statuses, to = EVENT_TRANSITIONS[event]
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.status not in from_statuses:
        return False
    _move(actor=actor, patient=patient, to=to, reason=f"Automatic: {event}", event=event)
    return True


@transaction.atomic
def patient_note_add(*, actor: User, patient: Patient, text: str) -> PatientNote:
    text = (text or "").strip()
    if not text:
        raise ApplicationError("Write the note first.", extra={"field": "text"})
    if len(text) > 5000:
        raise ApplicationError("Keep a note under 5,000 characters.", extra={"field": "text"})
    note = PatientNote.objects.create(patient=patient, author=actor, text=text)
    audit_record(
        actor=actor,
        action="patient.note_added",
        obj=patient,
        details={"note": str(note.public_id)},
    )
    return note


@transaction.atomic
def patient_assignment_add(
    *, actor: User | None, patient: Patient, technician: User, source: str = "manual"
) -> PatientAssignment:
    """Let ``technician`` see ``patient`` (limited view). Scheduling and deliveries call this."""
    if technician.organization_id != patient.organization_id:
        raise ApplicationError("That technician is not in this organization.")
    assignment, created = PatientAssignment.objects.get_or_create(
        patient=patient, technician=technician, defaults={"source": source}
    )
    if created:
        audit_record(
            actor=actor,
            action="patient.technician_assigned",
            obj=patient,
            details={"technician": str(technician.public_id), "source": source},
        )
    return assignment


# -- referring physicians ----------------------------------------------------------------------

_PHYSICIAN_FIELDS = ("first_name", "last_name", "practice", "npi", "phone", "fax", "address")


def _clean_physician(
    organization_id: int, fields: dict[str, Any], *, exclude_pk: Any = None
) -> dict[str, Any]:
    unknown = set(fields) - set(_PHYSICIAN_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    clean = {k: (v or "").strip() for k, v in fields.items()}
    if "npi" in clean:
        if not npi_is_valid(clean["npi"]):
            raise InvalidNPI(
                "Enter a valid 10-digit NPI (it starts with 1 or 2 and ends with a check digit).",
                extra={"field": "npi"},
            )
        if (
            Physician.objects.filter(organization_id=organization_id, npi=clean["npi"])
            .exclude(pk=exclude_pk)
            .exists()
        ):
            raise Conflict("A physician with this NPI is already on file.", extra={"field": "npi"})
    for name in ("phone", "fax"):
        if name in clean:
            clean[name] = phone_normalize(clean[name], field=name)
    return clean


@transaction.atomic
def physician_create(
    *, actor: User, first_name: str, last_name: str, npi: str, **fields: Any
) -> Physician:
    assert actor.organization_id is not None
    clean = _clean_physician(
        actor.organization_id,
        dict(fields, first_name=first_name, last_name=last_name, npi=npi),
    )
    if not clean["first_name"] or not clean["last_name"]:
        raise ApplicationError("A first and last name are required.", extra={"field": "last_name"})
    physician = Physician.objects.create(organization_id=actor.organization_id, **clean)
    audit_record(actor=actor, action="physician.created", obj=physician)
    return physician


@transaction.atomic
def physician_update(*, actor: User, physician: Physician, **fields: Any) -> Physician:
    clean = _clean_physician(physician.organization_id, fields, exclude_pk=physician.pk)
    changed = [k for k, v in clean.items() if getattr(physician, k) != v]
    if not changed:
        return physician
    for name in changed:
        setattr(physician, name, clean[name])
    physician.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor, action="physician.updated", obj=physician, details={"fields": sorted(changed)}
    )
    return physician
