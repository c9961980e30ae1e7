"""Writes of guided sessions: start, pairing, device tokens, uploads, presence, end, expiry
and completion (the one transaction that files everything into the patient record)."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.crypto import lookup_hash
from clinic.errors import ApplicationError, NotFound, PermissionDenied
from clinic.files.services import Kind, file_store, file_validate
from clinic.tenancy import get_scoped
from patients.clinical.services import insurance_policy_add, insurance_policy_update
from patients.documents.services import document_upload
from patients.models import InsurancePolicy, Patient, Payer, PolicyRank
from patients.record.services import patient_register, patient_update

from . import protocol
from .consents import consents_current, form_current
from .models import (
    PRESENCE_CHANNELS_KEPT,
    DeviceToken,
    GuidedSession,
    GuidedUpload,
    PairingCode,
    SessionStatus,
    Signature,
)
from .permissions import can_run_session, can_start_session
from .protocol import (
    DEVICE_REVOKED,
    SERVER,
    STAFF,
    Refused,
    context_for,
    field_messages,
    steps_status,
)
from .steps import FIELDS, NAVIGABLE, SLOT_BY_NAME, is_asked

if TYPE_CHECKING:
    from clinic.models import Location, User

PAIRING_TTL = datetime.timedelta(minutes=10)
IDLE_LIMIT = datetime.timedelta(minutes=30)
MAX_AGE = datetime.timedelta(hours=4)
RATE_WINDOW = 600  # seconds
DEVICE_FAILURES = 5
LOCATION_FAILURES = 30
UPLOAD_PREFIX = "guided/uploads"
PHOTO_KINDS = frozenset({Kind.JPEG, Kind.PNG, Kind.HEIC})
SIGNATURE_MAX_BYTES = 2 * 1024 * 1024

WRONG_CODE = "That code is not right or has expired. Ask the staff member for a new code."
TOO_MANY = "Too many tries. Wait a few minutes and ask for a new code."


class PairingRefused(ApplicationError):
    code = "pairing_refused"


class PairingRateLimited(ApplicationError):
    code = "rate_limited"
    status = 429


# ---------------------------------------------------------------- start


@transaction.atomic
def guided_session_start(
    *, actor: User, location: Location, patient: Patient | None = None
) -> GuidedSession:
    """An active session at ``location`` for ``patient`` (or a new patient), on the identity step,
    with the organization's current form and consents."""
    if not can_start_session(actor, location, patient):
        raise PermissionDenied("You cannot start a guided session here.")
    session = GuidedSession.objects.create(
        organization_id=location.organization_id,
        location=location,
        patient=patient,
        started_by=actor,
        step="identity",
        steps_opened=["identity"],
        signature={"document": None, "status": "idle"},
        form_definition=form_current(location),
    )
    session.consent_texts.set(consents_current(location))
    if patient is not None:
        session.values = _values_from_patient(patient)
        session.save(update_fields=["values_encrypted"])
    pairing_code_issue(actor=actor, session=session)
    audit_record(
        actor=actor,
        action="guided_session.started",
        obj=session,
        details={"patient": str(patient.public_id) if patient else None},
    )
    return session


def _values_from_patient(patient: Patient) -> dict[str, str]:
    """An existing patient's record as the starting answers (the patient checks and corrects)."""
    values: dict[str, str] = {}
    for spec in FIELDS:
        if spec.step in ("identity", "demographics") and hasattr(patient, spec.name):
            raw = getattr(patient, spec.name)
            values[spec.name] = (
                raw.isoformat() if isinstance(raw, datetime.date) else str(raw or "")
            )
    return values


# ---------------------------------------------------------------- pairing


def _code_hash(code: str) -> str:
    return lookup_hash(f"guided-pairing:{code}", normalize=None)


@transaction.atomic
def pairing_code_issue(*, actor: User, session: GuidedSession) -> tuple[str, PairingCode]:
    """A new 6-digit code for ``session``; any earlier code of the session stops working."""
    if not can_run_session(actor, session):
        raise NotFound("That session does not exist or is not available to you.")
    if session.status != SessionStatus.ACTIVE:
        raise ApplicationError("This session has ended.", code="wrong_state")
    PairingCode.objects.filter(session=session, is_live=True).update(is_live=False)
    now = timezone.now()
    for _ in range(20):
        code = f"{secrets.randbelow(10**6):06d}"
        digest = _code_hash(code)
        # A live code that expired still holds its slot in the unique index: free it.
        PairingCode.objects.filter(code_hash=digest, is_live=True, expires_at__lte=now).update(
            is_live=False
        )
        try:
            with transaction.atomic():
                row = PairingCode.objects.create(
                    session=session,
                    code_hash=digest,
                    code_encrypted=code,
                    expires_at=now + PAIRING_TTL,
                )
        except IntegrityError:
            continue  # another session holds this code right now
        return code, row
    raise ApplicationError("Could not make a pairing code; try again.", code="busy")


def pairing_code_current(session: GuidedSession) -> tuple[str, datetime.datetime] | None:
    row = (
        PairingCode.objects.filter(session=session, is_live=True, expires_at__gt=timezone.now())
        .order_by("-created_at")
        .first()
    )
    return (row.code_encrypted, row.expires_at) if row is not None else None


def _rate_keys(device_key: str, ip: str | None, location_id: int | None) -> list[tuple[str, int]]:
    keys = [(f"guided:pair:device:{device_key}", DEVICE_FAILURES)]
    if ip:
        keys.append((f"guided:pair:ip:{ip}", DEVICE_FAILURES))
    if location_id is not None:
        keys.append((f"guided:pair:location:{location_id}", LOCATION_FAILURES))
    return keys


def _failed(keys: list[tuple[str, int]]) -> None:
    for key, _ in keys:
        cache.add(key, 0, RATE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, RATE_WINDOW)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def device_pair(
    *,
    code: str,
    device_key: str,
    ip: str | None,
    user_agent: str,
    location: Location | None = None,
) -> tuple[GuidedSession, str]:
    """Bind a tablet to the session whose live code this is: (session, raw device token).

    Wrong, used or expired codes raise ``PairingRefused`` with one plain message; too many
    failures from this device, IP address or location raise ``PairingRateLimited``.
    """
    keys = _rate_keys(device_key, ip, location.pk if location is not None else None)
    if any((cache.get(key) or 0) >= limit for key, limit in keys):
        raise PairingRateLimited(TOO_MANY)
    code = (code or "").strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        _failed(keys)
        raise PairingRefused("Enter the 6 digits shown on the staff screen.")
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        row = (
            PairingCode.objects.select_for_update()
            .select_related("session")
            .filter(code_hash=_code_hash(code), is_live=True)
            .first()
        )
        now = timezone.now()
        session = row.session if row is not None else None
        if (
            row is None
            or session is None
            or row.expires_at <= now
            or session.status != SessionStatus.ACTIVE
            or (location is not None and session.location_id != location.pk)
        ):
            row = None
        if row is None or session is None:
            ok = False
        else:
            ok = True
            row.is_live = False
            row.used_at = now
            row.save(update_fields=["is_live", "used_at"])
            session = GuidedSession.objects.select_for_update().get(pk=session.pk)
            previous = list(
                DeviceToken.objects.filter(session=session, revoked_at__isnull=True).values_list(
                    "public_id", flat=True
                )
            )
            DeviceToken.objects.filter(session=session, revoked_at__isnull=True).update(
                revoked_at=now
            )
            device = DeviceToken.objects.create(
                session=session, token_hash=token_digest(raw), user_agent=user_agent[:256], ip=ip
            )
            for old in previous:
                protocol.send_patient(session, {"type": DEVICE_REVOKED, "device": str(old)})
            audit_record(
                actor=None,
                action="guided_session.paired",
                obj=session,
                organization=session.organization,
                details={"device": str(device.public_id)},
            )
    if not ok:
        _failed(keys)
        raise PairingRefused(WRONG_CODE)
    assert session is not None
    return session, raw


def device_from_token(raw: str | None) -> DeviceToken | None:
    """The live device of an active session that ``raw`` names, or None."""
    if not raw or len(raw) > 200:
        return None
    return (
        DeviceToken.objects.select_related("session")
        .filter(
            token_hash=token_digest(raw),
            revoked_at__isnull=True,
            session__status=SessionStatus.ACTIVE,
        )
        .first()
    )


# ---------------------------------------------------------------- uploads from the tablet


def _open_step(session: GuidedSession, step: str) -> None:
    if session.status != SessionStatus.ACTIVE:
        raise ApplicationError("This session has ended.", code="wrong_state")
    if step not in session.steps_opened:
        raise ApplicationError("That step has not been opened yet.", code="step_not_open")


@transaction.atomic
def upload_add(*, device: DeviceToken, slot: str, file: File) -> GuidedUpload:
    """Keep a tablet photo as a draft of ``slot``; the patient then sends DOCUMENT_UPLOADED."""
    session = GuidedSession.objects.get(pk=device.session_id)
    ctx = context_for(session)
    spec = ctx.form.slots.get(slot)
    if spec is None:
        raise ApplicationError("There is no such photo to take.", code="invalid")
    _open_step(session, spec.step)
    if not is_asked(spec, session.values):
        raise ApplicationError("This photo is not needed with the answers given.", code="invalid")
    kind = file_validate(file)
    if kind not in PHOTO_KINDS:
        raise ApplicationError("Take a photo (JPEG, PNG or HEIC).", code="file_type_refused")
    stored = file_store(upload=file, kind=kind, prefix=UPLOAD_PREFIX)
    return GuidedUpload.objects.create(
        session=session,
        slot=slot,
        storage_name=stored.name,
        size=stored.size,
        sha256=stored.sha256,
        kind=kind.value,
    )


@transaction.atomic
def signature_add(
    *, device: DeviceToken, document: str, image: File, ip: str | None, user_agent: str
) -> Signature:
    """Keep a drawn signature (PNG) of the requested consent; SIGNATURE_SUBMITTED seals it."""
    session = GuidedSession.objects.get(pk=device.session_id)
    if session.status != SessionStatus.ACTIVE:
        raise ApplicationError("This session has ended.", code="wrong_state")
    ctx = context_for(session)
    consent = ctx.consent(document)
    signing = session.signature or {}
    if (
        consent is None
        or signing.get("status") != "requested"
        or signing.get("document") != document
    ):
        raise ApplicationError("No signature is being asked for this document.", code="wrong_state")
    kind = file_validate(image, max_bytes=SIGNATURE_MAX_BYTES)
    if kind != Kind.PNG:
        raise ApplicationError("A signature is sent as a PNG image.", code="file_type_refused")
    stored = file_store(upload=image, kind=kind, prefix=UPLOAD_PREFIX)
    return Signature.objects.create(
        session=session,
        consent_id=consent["id"],
        image_name=stored.name,
        image_sha256=stored.sha256,
        text_sha256=consent["sha256"],
        device=device,
        ip=ip,
        user_agent=user_agent[:256],
    )


# ---------------------------------------------------------------- presence


@transaction.atomic
def presence_update(*, session_id: int, role: str, channel: str, joined: bool) -> None:
    """A socket of ``role`` opened or closed: connected while any is open, else reconnecting."""
    session = GuidedSession.objects.select_for_update().filter(pk=session_id).first()
    if session is None:
        return
    entry = dict(session.presence.get(role) or {})
    channels = [c for c in entry.get("channels", []) if c != channel]
    if joined:
        channels.append(channel)
    status = "connected" if channels else "reconnecting"
    changed_status = entry.get("status") != status
    entry["channels"] = channels[-PRESENCE_CHANNELS_KEPT:]
    if changed_status:
        entry["status"] = status
        entry["since"] = timezone.now().isoformat()
    session.presence = {**session.presence, role: entry}
    protocol.commit_without_disk_wait()  # who is connected now; a crash makes it moot anyway
    if changed_status and session.status == SessionStatus.ACTIVE:
        protocol.publish(
            session,
            context_for(session),
            type="PRESENCE",
            by=SERVER,
            client_id=None,
            echo={"role": role, "status": status},
            changed={"presence"},
        )
        session.save(update_fields=["presence", "version", "last_activity_at"])
    else:
        session.save(update_fields=["presence"])


# ---------------------------------------------------------------- ending


def _finish(
    session: GuidedSession, *, status: str, kind: str, by: str, client_id: str | None
) -> None:
    """Close a locked, active session: revoke the device, publish, then SESSION_ENDED."""
    now = timezone.now()
    session.status = status
    session.end_reason = status
    session.ended_at = now
    session.signature = {"document": None, "status": "idle"}
    session.focus = ""
    session.highlight = ""
    DeviceToken.objects.filter(session=session, revoked_at__isnull=True).update(revoked_at=now)
    PairingCode.objects.filter(session=session, is_live=True).update(is_live=False)
    ctx = context_for(session)
    protocol.applied_ack(
        session,
        ctx,
        kind=kind,
        by=by,
        client_id=client_id,
        echo={},
        changed={
            "status",
            "step",
            "signature",
            "focus",
            "highlight",
            "presence",
            "completed_patient",
            "patient",
        },
    )
    protocol.send_both(
        session, {"type": "SESSION_ENDED", "version": session.version, "reason": status}
    )


def _locked_for(actor: User, session_id: int) -> GuidedSession:
    session = GuidedSession.objects.select_for_update().filter(pk=session_id).first()
    if session is None or not can_run_session(actor, session):
        raise NotFound("That session does not exist or is not available to you.")
    return session


def _ack(
    session: GuidedSession, client_id: str | None, *, duplicate: bool = False
) -> dict[str, Any]:
    return {"type": "ACK", "id": client_id, "version": session.version, "duplicate": duplicate}


def _duplicate(session: GuidedSession, client_id: str | None) -> bool:
    return client_id is not None and session.messages.filter(client_id=client_id).exists()


@transaction.atomic
def guided_session_end(
    *, actor: User, session_id: int, client_id: str | None = None
) -> dict[str, Any]:
    """Staff end the session: nothing is written to the record; the tablet is let go."""
    session = _locked_for(actor, session_id)
    if _duplicate(session, client_id):
        return _ack(session, client_id, duplicate=True)
    if session.status != SessionStatus.ACTIVE:
        raise Refused("This session has already ended.")
    _finish(session, status=SessionStatus.ENDED, kind="END_SESSION", by=STAFF, client_id=client_id)
    audit_record(actor=actor, action="guided_session.ended", obj=session)
    return _ack(session, client_id)


@transaction.atomic
def guided_sessions_expire(*, now: datetime.datetime | None = None) -> int:
    """Expire sessions idle for 30 minutes or older than 4 hours (the beat task). Safe to rerun."""
    now = now or timezone.now()
    ids = list(
        GuidedSession.objects.filter(status=SessionStatus.ACTIVE)
        .filter(models_q_idle(now))
        .values_list("pk", flat=True)[:500]
    )
    count = 0
    for pk in ids:
        session = (
            GuidedSession.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status=SessionStatus.ACTIVE)
            .first()
        )
        if session is None:
            continue
        presence = {
            role: dict(entry, status="gone", channels=[])
            for role, entry in session.presence.items()
        }
        session.presence = presence
        _finish(session, status=SessionStatus.EXPIRED, kind="EXPIRED", by=SERVER, client_id=None)
        audit_record(
            actor=None,
            action="guided_session.expired",
            obj=session,
            organization=session.organization,
        )
        count += 1
    return count


def models_q_idle(now: datetime.datetime) -> Any:
    return Q(last_activity_at__lte=now - IDLE_LIMIT) | Q(created_at__lte=now - MAX_AGE)


# ---------------------------------------------------------------- completion

_DEMOGRAPHIC_STEPS = ("identity", "demographics")
_POLICY_FIELDS = (
    "plan_name",
    "member_id",
    "group_number",
    "subscriber_relationship",
    "subscriber_name",
    "subscriber_date_of_birth",
)


def _step_of_field(name: str) -> str:
    if name in SLOT_BY_NAME:
        return SLOT_BY_NAME[name].step
    for spec in FIELDS:
        if spec.name == name:
            return spec.step
    return "review"


def _validate_all(session: GuidedSession, ctx: protocol.Context) -> None:
    statuses = steps_status(session, ctx)
    for step in NAVIGABLE:
        if step == "review":
            continue
        if not statuses[step]["complete"]:
            raise Refused(
                "Some answers need fixing before the session can be completed.",
                code="validation",
                step=step,
                fields=field_messages(ctx, statuses[step]),
            )


def _date(value: str) -> datetime.date | None:
    return datetime.date.fromisoformat(value) if value else None


def _write_record(actor: User, session: GuidedSession, ctx: protocol.Context) -> Patient:

    values = session.values
    demo: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.step in _DEMOGRAPHIC_STEPS and spec.name in ctx.form.fields:
            value = values.get(spec.name, "").strip()
            if spec.type == "date":
                demo[spec.name] = _date(value)
            else:
                demo[spec.name] = value
    if session.patient_id is None:
        required = {k: demo.pop(k) for k in ("first_name", "last_name", "date_of_birth")}
        fields = {k: v for k, v in demo.items() if v not in ("", None)}
        patient = patient_register(
            actor=actor, home_location=session.location, **required, **fields
        )
    else:
        current = Patient.objects.get(pk=session.patient_id)
        # Blank answers never erase what the record already holds.
        fields = {k: v for k, v in demo.items() if v not in ("", None)}
        patient = patient_update(actor=actor, patient=current, **fields)

    if values.get("has_insurance") == "yes":
        payer = Payer.objects.get(
            organization_id=session.organization_id, public_id=values.get("payer", "")
        )
        policy_fields: dict[str, Any] = {}
        for name in _POLICY_FIELDS:
            if name in ctx.form.fields:
                value = values.get(name, "").strip()
                if name == "subscriber_date_of_birth":
                    policy_fields[name] = _date(value)
                elif name == "subscriber_relationship":
                    policy_fields[name] = value or "self"
                else:
                    policy_fields[name] = value
        active = list(InsurancePolicy.objects.filter(patient=patient, is_active=True))
        same = next((p for p in active if p.payer_id == payer.pk), None)
        if same is not None:
            insurance_policy_update(actor=actor, policy=same, **policy_fields)
        else:
            taken = {p.rank for p in active}
            rank = next((r for r in PolicyRank.values if r not in taken), None)
            if rank is None:
                raise ApplicationError(
                    "This patient already has three active policies; deactivate one first.",
                    extra={"field": "payer"},
                )
            insurance_policy_add(
                actor=actor, patient=patient, rank=rank, payer=payer, **policy_fields
            )

    storage = storages["default"]
    uploads = {u.public_id: u for u in session.files.all()}
    for slot_name, item in session.uploads.items():
        slot = ctx.form.slots.get(slot_name)
        upload = next((u for pid, u in uploads.items() if str(pid) == item["upload"]), None)
        if slot is None or upload is None or not is_asked(slot, values):
            continue
        with storage.open(upload.storage_name, "rb") as fh:
            document_upload(
                actor=actor,
                patient=patient,
                files=[File(fh, name=f"{slot_name}.{Kind(upload.kind).extension}")],
                category=slot.category,
                description=f"{slot.label} (guided pre-registration)",
            )
    for signature in session.signatures.filter(signed_at__isnull=False).select_related("consent"):
        state = session.consents.get(signature.consent.key, {})
        if state.get("signature") != str(signature.public_id):
            continue  # an earlier signature replaced by a newer one
        with storage.open(signature.pdf_name, "rb") as fh:
            document_upload(
                actor=actor,
                patient=patient,
                files=[File(fh, name="consent.pdf")],
                category="consent_form",
                description=(
                    f"{signature.consent.title}, version {signature.consent.version}, signed"
                )[:300],
            )
    return patient


@transaction.atomic
def guided_session_complete(
    *, actor: User, session_id: int, client_id: str | None = None
) -> dict[str, Any]:
    """Write everything into the patient record in one transaction, or send both devices to
    the step to fix (the reply is then an ERROR with ``step`` and ``fields``)."""
    session = _locked_for(actor, session_id)
    if _duplicate(session, client_id):
        return _ack(session, client_id, duplicate=True)
    if session.status != SessionStatus.ACTIVE:
        raise Refused("This session has already ended.")
    if (session.signature or {}).get("status") == "requested":
        raise Refused("Withdraw or finish the signature request first.")
    ctx = context_for(session)
    try:
        _validate_all(session, ctx)
        with transaction.atomic():
            patient = _write_record(actor, session, ctx)
    except (Refused, ApplicationError) as exc:
        refused = exc if isinstance(exc, Refused) else _as_refused(exc)
        return _send_to_fix(session, ctx, refused, client_id=client_id)
    session.completed_patient = patient
    if session.patient_id is None:
        session.patient = patient
    session.step = "done"
    _finish(session, status=SessionStatus.COMPLETED, kind="COMPLETE", by=STAFF, client_id=client_id)
    audit_record(
        actor=actor,
        action="guided_session.completed",
        obj=session,
        details={"patient": str(patient.public_id)},
    )
    return _ack(session, client_id)


def _as_refused(exc: ApplicationError) -> Refused:
    name = str(exc.extra.get("field") or "")
    step = _step_of_field(name) if name else "review"
    return Refused(
        exc.message, code="validation", step=step, fields={name: exc.message} if name else {}
    )


def _send_to_fix(
    session: GuidedSession, ctx: protocol.Context, refused: Refused, *, client_id: str | None
) -> dict[str, Any]:
    """Completion failed: move both devices to the step to fix (a server NAVIGATE) and tell
    both sides why; the staff's own reply is the ERROR."""
    step = refused.step or "review"
    changed = protocol.step_go_to(session, step)
    protocol.publish(
        session,
        ctx,
        type="NAVIGATE",
        by=SERVER,
        client_id=None,
        echo={"step": step},
        changed=changed | {"steps"},
    )
    session.save()
    reply = protocol.error_reply(refused, client_id=client_id, version=session.version)
    protocol.send_patient(session, dict(reply, id=None))
    return reply


def complete_from_page(*, actor: User, session_id: int) -> dict[str, Any]:
    """The console's Complete button: the same as the COMPLETE command, reply included."""
    try:
        return guided_session_complete(actor=actor, session_id=session_id)
    except ApplicationError as exc:
        return protocol.error_reply(
            exc, client_id=None, version=protocol.session_version(session_id)
        )


def end_from_page(*, actor: User, session_id: int) -> dict[str, Any]:
    try:
        return guided_session_end(actor=actor, session_id=session_id)
    except ApplicationError as exc:
        return protocol.error_reply(
            exc, client_id=None, version=protocol.session_version(session_id)
        )


def message_apply(
    *,
    session_id: int,
    role: str,
    message: dict[str, Any],
    actor: User | None = None,
    device_id: int | None = None,
) -> dict[str, Any]:
    """Apply one message of a socket; the reply (ACK or ERROR) for the sender. Never raises
    ``Refused``. The rules are ``protocol``'s (``envelope_check``, then ``command_apply``); the
    two ending commands run this module's end-of-session workflows."""
    client_id = message.get("id") if isinstance(message, dict) else None
    try:
        kind, client_id = protocol.envelope_check(message, role)
        if kind in protocol.ENDING:
            assert actor is not None
            if kind == "END_SESSION":
                return guided_session_end(actor=actor, session_id=session_id, client_id=client_id)
            return guided_session_complete(actor=actor, session_id=session_id, client_id=client_id)
    except ApplicationError as exc:
        version = protocol.session_version(session_id)
        return protocol.error_reply(exc, client_id=client_id, version=version)
    return protocol.command_apply(
        session_id=session_id,
        role=role,
        kind=kind,
        client_id=client_id,
        message=message,
        actor=actor,
        device_id=device_id,
    )


def session_for_staff(user: User, public_id: Any) -> GuidedSession:
    session = get_scoped(
        GuidedSession.objects.select_related("location", "patient", "completed_patient"),
        user,
        public_id=public_id,
    )
    if not can_run_session(user, session):
        raise NotFound("That session does not exist or is not available to you.")
    return session


def session_for_role(session_id: int) -> GuidedSession:
    return GuidedSession.objects.get(pk=session_id)
