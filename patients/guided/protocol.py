"""The guided session protocol on the server: state as each side sees it, and the commands.

``envelope_check`` and ``command_apply`` are the rules for a command from either device
(sockets reach them through ``services.message_apply``): they check the envelope, the sender's
role and the session state, apply the change under a row lock, bump
the version, record the client message id (so a resent message applies once) and send the
applied event to both groups after commit. docs/guided-session-protocol.md is the reference.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from clinic.errors import ApplicationError
from clinic.realtime.services import group_name
from patients.models import Payer

from .consents import consent_sha256
from .models import (
    ConsentText,
    DeviceToken,
    GuidedSession,
    GuidedUpload,
    SessionMessage,
    SessionStatus,
    Signature,
)
from .signing import signature_seal
from .steps import (
    MAX_VALUE,
    NAVIGABLE,
    Form,
    form_build,
    is_asked,
    mask,
    missing_message,
    step_status,
)

if TYPE_CHECKING:
    from clinic.models import User

GUIDED_LAYER = "guided"  # the channel layer alias of the guided sockets (settings)
STAFF = "staff"
PATIENT = "patient"
SERVER = "server"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PRESENCE_GONE_AFTER = 30  # seconds of "reconnecting" before the console says "gone"

# Consumer-internal event types on the groups (never forwarded as such).
DEVICE_REVOKED = "guided.device_revoked"


class Refused(ApplicationError):
    """A command that has no effect; ``code`` is one of the protocol's error codes."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "wrong_state",
        step: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.step = step
        self.fields = fields or {}


def session_group(session_id: int) -> str:
    """Both sockets of a session listen here; each event carries a message per side (see
    ``Outgoing``), so one publish reaches both."""
    return group_name("guided", session_id)


# ---------------------------------------------------------------- what a session uses


class Context:
    """The form and consents a session uses (fixed at its start) and its organization's payers
    (read on first use: most commands never look at them)."""

    def __init__(self, form: Form, consents: list[dict[str, Any]], *, organization_id: int) -> None:
        self.form = form
        self.consents = consents  # key, title, version, body, requires_signature, sha256, id
        self.organization_id = organization_id

    @cached_property
    def payers(self) -> list[tuple[str, str]]:
        return [
            (str(pid), name)
            for pid, name in Payer.objects.filter(organization_id=self.organization_id)
            .order_by("name")
            .values_list("public_id", "name")
        ]

    @property
    def payer_ids(self) -> set[str]:
        return {v for v, _ in self.payers}

    @property
    def consent_keys(self) -> list[tuple[str, bool]]:
        return [(c["key"], c["requires_signature"]) for c in self.consents]

    def consent(self, key: Any) -> dict[str, Any] | None:
        return next((c for c in self.consents if c["key"] == key), None)


@lru_cache(maxsize=2048)
def _fixed_context(session_public_id: str) -> tuple[Form, tuple[dict[str, Any], ...]]:
    # Keyed by the session's random id: what it uses never changes once it started.

    session = GuidedSession.objects.select_related("form_definition").get(
        public_id=session_public_id
    )
    definition = session.form_definition
    form = form_build(
        definition.definition if definition else None,
        version=definition.version if definition else 0,
    )
    texts = ConsentText.objects.filter(pk__in=session.consent_texts.all()).order_by("order", "key")
    consents = tuple(
        {
            "id": c.pk,
            "key": c.key,
            "title": c.title,
            "version": c.version,
            "body": c.body,
            "requires_signature": c.requires_signature,
            "sha256": consent_sha256(c),
        }
        for c in texts
    )
    return form, consents


def context_for(session: GuidedSession) -> Context:
    form, consents = _fixed_context(str(session.public_id))
    return Context(form, list(consents), organization_id=session.organization_id)


# ---------------------------------------------------------------- state


def steps_status(session: GuidedSession, ctx: Context) -> dict[str, Any]:
    values = session.values
    out = {}
    for step in NAVIGABLE:
        status = step_status(
            ctx.form,
            step,
            values=values,
            uploads=session.uploads,
            consents=session.consents,
            consent_keys=ctx.consent_keys,
            payers=ctx.payer_ids,
        )
        status["ready"] = step in session.steps_ready
        out[step] = status
    return out


def _values(session: GuidedSession, ctx: Context, role: str) -> dict[str, str]:
    values = session.values
    if role == PATIENT:
        return values
    return {
        name: mask(value) if (spec := ctx.form.fields.get(name)) and spec.sensitive else value
        for name, value in values.items()
    }


def _uploads(session: GuidedSession, role: str) -> dict[str, Any]:
    out = {}
    for slot, item in session.uploads.items():
        if role == PATIENT:
            url = reverse("guided:device_upload", kwargs={"upload_id": item["upload"]})
        else:
            url = reverse(
                "guided:staff_upload",
                kwargs={"public_id": session.public_id, "upload_id": item["upload"]},
            )
        out[slot] = {"upload": item["upload"], "kind": item.get("kind", ""), "url": url}
    return out


def _presence(session: GuidedSession) -> dict[str, Any]:
    out = {}
    for role in (STAFF, PATIENT):
        entry = session.presence.get(role) or {}
        out[role] = {"status": entry.get("status", "none"), "since": entry.get("since")}
    return out


STATE_KEYS = (
    "status",
    "step",
    "steps_opened",
    "steps",
    "values",
    "uploads",
    "consents",
    "signature",
    "highlight",
    "focus",
    "presence",
    "patient",
    "completed_patient",
)


def state_for(
    session: GuidedSession, ctx: Context, role: str, keys: set[str] | None = None
) -> dict[str, Any]:
    builders: dict[str, Callable[[], Any]] = {
        "status": lambda: session.status,
        "step": lambda: session.step,
        "steps_opened": lambda: list(session.steps_opened),
        "steps": lambda: steps_status(session, ctx),
        "values": lambda: _values(session, ctx, role),
        "uploads": lambda: _uploads(session, role),
        "consents": lambda: {
            c["key"]: {
                "acknowledged": bool(session.consents.get(c["key"], {}).get("acknowledged")),
                "signed": bool(session.consents.get(c["key"], {}).get("signed")),
            }
            for c in ctx.consents
        },
        "signature": lambda: {
            "document": (session.signature or {}).get("document"),
            "status": (session.signature or {}).get("status", "idle"),
        },
        "highlight": lambda: session.highlight or None,
        "focus": lambda: session.focus or None,
        "presence": lambda: _presence(session),
        "patient": lambda: str(session.patient.public_id) if session.patient_id else None,  # type: ignore[union-attr]
        "completed_patient": lambda: (
            str(session.completed_patient.public_id) if session.completed_patient_id else None  # type: ignore[union-attr]
        ),
    }
    wanted = STATE_KEYS if keys is None else [k for k in STATE_KEYS if k in keys]
    return {k: builders[k]() for k in wanted}


def definition_for(ctx: Context) -> dict[str, Any]:
    form = ctx.form
    steps = []
    for step in NAVIGABLE:
        steps.append(
            {
                "key": step,
                "title": form.titles[step],
                "fields": [
                    {
                        "name": f.name,
                        "label": f.label,
                        "type": f.type,
                        "required": f.required,
                        "max_length": f.max_length,
                        "sensitive": f.sensitive,
                        **(
                            {"choices": [{"value": v, "label": lbl} for v, lbl in ctx.payers]}
                            if f.name == "payer"
                            else {}
                        ),
                        **(
                            {"choices": [{"value": v, "label": lbl} for v, lbl in f.choices]}
                            if f.choices
                            else {}
                        ),
                        **({"only_if": list(f.only_if)} if f.only_if else {}),
                    }
                    for f in form.step_fields(step)
                ],
                "uploads": [
                    {
                        "slot": s.name,
                        "label": s.label,
                        "required": s.required,
                        **({"only_if": list(s.only_if)} if s.only_if else {}),
                    }
                    for s in form.step_slots(step)
                ],
            }
        )
    return {
        "form_version": form.version,
        "presence_gone_after": PRESENCE_GONE_AFTER,
        "steps": steps,
        "consents": [{k: v for k, v in c.items() if k != "id"} for c in ctx.consents],
        "payers": [{"value": v, "label": lbl} for v, lbl in ctx.payers],
    }


def snapshot_for(session: GuidedSession, role: str) -> dict[str, Any]:
    ctx = context_for(session)
    return {
        "type": "SNAPSHOT",
        "version": session.version,
        "role": role,
        "session": str(session.public_id),
        "definition": definition_for(ctx),
        "state": state_for(session, ctx, role),
    }


def session_context(session_id: int) -> Context:
    """What the session uses (its consumers keep it for the pointer commands)."""
    session = GuidedSession.objects.only("public_id", "organization_id").get(pk=session_id)
    return context_for(session)


def session_snapshot(*, session_id: int, role: str) -> dict[str, Any]:
    session = GuidedSession.objects.select_related("patient", "completed_patient").get(
        pk=session_id
    )
    return snapshot_for(session, role)


# ---------------------------------------------------------------- sending

# (group, {side: message}): what each side (STAFF, PATIENT) of the group's sockets is sent; a
# side without a key is sent nothing.
Outgoing = list[tuple[str, dict[str, dict[str, Any]]]]
_collected: ContextVar[Outgoing | None] = ContextVar("guided_collected", default=None)


def collecting(fn: Callable[..., Any], /, **kwargs: Any) -> tuple[Any, Outgoing]:
    """Call ``fn`` and return its result with the messages it published (once committed)
    instead of sending them: the sockets call the protocol from a worker thread and send what
    it returns from their own event loop, so no thread blocks on the channel layer."""
    box: Outgoing = []
    token = _collected.set(box)
    try:
        result = fn(**kwargs)
    finally:
        _collected.reset(token)
    return result, box


def _send_after_commit(messages: Outgoing) -> None:
    box = _collected.get()
    if box is not None:
        transaction.on_commit(lambda: box.extend(messages))
        return

    def send() -> None:
        layer = get_channel_layer(GUIDED_LAYER)
        if layer is None:
            return
        for group, sides in messages:
            async_to_sync(layer.group_send)(group, guided_event(sides))

    transaction.on_commit(send)


def guided_event(sides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The channel-layer event for one entry of ``Outgoing``."""
    return {"type": "guided.message", **sides}


def publish(
    session: GuidedSession,
    ctx: Context,
    *,
    type: str,
    by: str,
    client_id: str | None,
    echo: dict[str, Any],
    changed: set[str],
) -> None:
    """Bump the version (the caller holds the row lock) and send the applied event to both
    sides after commit, each with its own copy of the changed state."""
    session.version += 1
    session.last_activity_at = timezone.now()
    _send_after_commit(
        applied_messages(
            session, ctx, type=type, by=by, client_id=client_id, echo=echo, changed=changed
        )
    )


def applied_messages(
    session: GuidedSession,
    ctx: Context,
    *,
    type: str,
    by: str,
    client_id: str | None,
    echo: dict[str, Any],
    changed: set[str],
) -> Outgoing:
    """The applied event for each side at ``session.version``, in one entry for the group."""
    sides = {}
    for role in (STAFF, PATIENT):
        body = dict(echo)
        if role == STAFF and "value" in body and "field" in body:
            spec = ctx.form.fields.get(body["field"])
            if spec is not None and spec.sensitive:
                body["value"] = mask(body["value"])
        sides[role] = {
            "type": type,
            "version": session.version,
            "by": by,
            "id": client_id,
            **body,
            "state": state_for(session, ctx, role, changed),
        }
    return [(session_group(session.pk), sides)]


def send_both(session: GuidedSession, message: dict[str, Any]) -> None:
    _send_after_commit([(session_group(session.pk), {STAFF: message, PATIENT: message})])


def send_patient(session: GuidedSession, message: dict[str, Any]) -> None:
    _send_after_commit([(session_group(session.pk), {PATIENT: message})])


# ---------------------------------------------------------------- commands

# The column behind each state key a command may change (RULES handlers change nothing else).
COLUMNS = {
    "step": "step",
    "steps_opened": "steps_opened",
    "steps": "steps_ready",
    "values": "values_encrypted",
    "uploads": "uploads",
    "consents": "consents",
    "signature": "signature",
    "highlight": "highlight",
    "focus": "focus",
}


@dataclass
class Command:
    session: GuidedSession
    ctx: Context
    message: dict[str, Any]
    actor: User | None
    device_id: int | None

    def field(self, name: str) -> Any:
        return self.message.get(name)


Result = tuple[dict[str, Any], set[str]]  # (echoed fields, changed state keys)


def field_step(ctx: Context, name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    spec = ctx.form.fields.get(name) or ctx.form.slots.get(name)
    return spec.step if spec is not None else None


def _signing(session: GuidedSession) -> bool:
    return (session.signature or {}).get("status") == "requested"


def _navigate(cmd: Command) -> Result:
    step = cmd.field("step")
    if step not in NAVIGABLE:
        raise Refused("There is no such step.", code="invalid")
    if _signing(cmd.session):
        raise Refused("Withdraw the signature request before changing the step.")
    return {"step": step}, step_go_to(cmd.session, step)


def step_go_to(session: GuidedSession, step: str) -> set[str]:
    session.step = step
    if step not in session.steps_opened:
        session.steps_opened = [*session.steps_opened, step]
    session.highlight = ""
    return {"step", "steps_opened", "highlight"}


def _highlight(cmd: Command) -> Result:
    name = cmd.field("field")
    if field_step(cmd.ctx, name) != cmd.session.step:
        raise Refused("That field is not on the current step.", code="invalid")
    cmd.session.highlight = name
    return {"field": name}, {"highlight"}


def _clear_highlight(cmd: Command) -> Result:
    cmd.session.highlight = ""
    return {}, {"highlight"}


def _request_signature(cmd: Command) -> Result:
    session, key = cmd.session, cmd.field("document")
    consent = cmd.ctx.consent(key)
    if consent is None or not consent["requires_signature"]:
        raise Refused("There is no consent to sign by that name.", code="invalid")
    if session.step != "signatures":
        raise Refused("Go to the signatures step before asking for a signature.")
    if _signing(session):
        raise Refused("A signature is already being asked for; withdraw it first.")
    state = session.consents.get(key, {})
    if not state.get("acknowledged"):
        raise Refused("The patient has not acknowledged this consent yet.")
    if state.get("signed"):
        raise Refused("This consent is already signed.")
    session.signature = {"document": key, "status": "requested"}
    return {"document": key}, {"signature"}


def _withdraw_signature(cmd: Command) -> Result:
    if not _signing(cmd.session):
        raise Refused("No signature is being asked for.")
    document = cmd.session.signature.get("document")
    cmd.session.signature = {"document": None, "status": "idle"}
    return {"document": document}, {"signature"}


def _field_changed(cmd: Command) -> Result:
    session, name, value = cmd.session, cmd.field("field"), cmd.field("value")
    spec = cmd.ctx.form.fields.get(name) if isinstance(name, str) else None
    if spec is None:
        raise Refused("There is no such field.", code="invalid")
    if not isinstance(value, str) or len(value) > min(spec.max_length, MAX_VALUE):
        raise Refused(f"{spec.label}: at most {spec.max_length} characters.", code="invalid")
    if spec.step not in session.steps_opened:
        raise Refused("That step has not been opened yet.", code="step_not_open")
    values = session.values
    values[name] = value
    session.values = values
    changed = {"values", "steps"}
    if spec.step in session.steps_ready:
        session.steps_ready = [s for s in session.steps_ready if s != spec.step]
    return {"field": name, "value": value}, changed


def _field_focus(cmd: Command) -> Result:
    name = cmd.field("field")
    if name is not None:
        step = field_step(cmd.ctx, name)
        if step is None:
            raise Refused("There is no such field.", code="invalid")
        if step not in cmd.session.steps_opened:
            raise Refused("That step has not been opened yet.", code="step_not_open")
    cmd.session.focus = name or ""
    return {"field": name}, {"focus"}


def _document_uploaded(cmd: Command) -> Result:
    session, slot, upload_id = cmd.session, cmd.field("slot"), cmd.field("upload")
    spec = cmd.ctx.form.slots.get(slot) if isinstance(slot, str) else None
    if spec is None:
        raise Refused("There is no such photo to take.", code="invalid")
    if spec.step not in session.steps_opened:
        raise Refused("That step has not been opened yet.", code="step_not_open")
    if not is_asked(spec, session.values):
        raise Refused("This photo is not needed with the answers given.", code="invalid")
    upload = (
        GuidedUpload.objects.filter(session=session, slot=slot, public_id=upload_id).first()
        if isinstance(upload_id, str) and _is_uuid(upload_id)
        else None
    )
    if upload is None:
        raise Refused("That photo was not uploaded to this session.", code="invalid")
    session.uploads = {
        **session.uploads,
        slot: {"upload": str(upload.public_id), "kind": upload.kind},
    }
    return {"slot": slot, "upload": str(upload.public_id)}, {"uploads", "steps"}


def _consent_acknowledged(cmd: Command) -> Result:
    session, key = cmd.session, cmd.field("consent")
    if cmd.ctx.consent(key) is None:
        raise Refused("There is no such consent.", code="invalid")
    if "consents" not in session.steps_opened:
        raise Refused("That step has not been opened yet.", code="step_not_open")
    if cmd.field("scrolled_to_end") is not True:
        raise Refused("Please read the consent to the end first.", code="invalid")
    if _signing(session):
        raise Refused("Finish the signature first.")
    entry = dict(session.consents.get(key, {}), acknowledged=True)
    session.consents = {**session.consents, key: entry}
    return {"consent": key}, {"consents", "steps"}


def _signature_submitted(cmd: Command) -> Result:
    session, key, signature_id = cmd.session, cmd.field("document"), cmd.field("signature")
    if not _signing(session) or session.signature.get("document") != key:
        raise Refused("No signature is being asked for this document.")
    signature = (
        Signature.objects.filter(
            session=session, consent__key=key, public_id=signature_id, signed_at__isnull=True
        ).first()
        if isinstance(signature_id, str) and _is_uuid(signature_id)
        else None
    )
    if signature is None:
        raise Refused("That signature was not uploaded to this session.", code="invalid")
    signature_seal(signature=signature, signer_name=_signer_name(session.values))
    session.consents = {
        **session.consents,
        key: dict(session.consents.get(key, {}), signed=True, signature=str(signature.public_id)),
    }
    session.signature = {"document": None, "status": "idle"}
    return {"document": key, "signature": str(signature.public_id)}, {
        "consents",
        "signature",
        "steps",
    }


def _signer_name(values: dict[str, str]) -> str:
    parts = [
        values.get("first_name", ""),
        values.get("middle_name", ""),
        values.get("last_name", ""),
    ]
    return " ".join(p.strip() for p in parts if p.strip())[:250]


def _step_ready(cmd: Command) -> Result:
    session, step = cmd.session, cmd.field("step")
    if step != session.step:
        raise Refused("That is not the current step.", code="invalid")
    if _signing(session):
        raise Refused("Finish the signature first.")
    status = steps_status(session, cmd.ctx)[step]
    if not status["complete"]:
        raise Refused(
            "Some answers on this page need attention.",
            code="validation",
            step=step,
            fields=field_messages(cmd.ctx, status),
        )
    if step not in session.steps_ready:
        session.steps_ready = [*session.steps_ready, step]
    return {"step": step}, {"steps"}


def field_messages(ctx: Context, status: dict[str, Any]) -> dict[str, str]:
    fields = dict(status["errors"])
    for name in status["missing"]:
        consent = ctx.consent(name)
        if consent is not None:
            fields[name] = f"{consent['title']} still needs your attention."
        else:
            fields[name] = missing_message(ctx.form, name)
    return fields


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Rule:
    role: str
    handler: Callable[[Command], Result]


RULES: dict[str, Rule] = {
    "NAVIGATE": Rule(STAFF, _navigate),
    "HIGHLIGHT_FIELD": Rule(STAFF, _highlight),
    "CLEAR_HIGHLIGHT": Rule(STAFF, _clear_highlight),
    "REQUEST_SIGNATURE": Rule(STAFF, _request_signature),
    "WITHDRAW_SIGNATURE": Rule(STAFF, _withdraw_signature),
    "FIELD_CHANGED": Rule(PATIENT, _field_changed),
    "FIELD_FOCUS": Rule(PATIENT, _field_focus),
    "DOCUMENT_UPLOADED": Rule(PATIENT, _document_uploaded),
    "CONSENT_ACKNOWLEDGED": Rule(PATIENT, _consent_acknowledged),
    "SIGNATURE_SUBMITTED": Rule(PATIENT, _signature_submitted),
    "STEP_READY": Rule(PATIENT, _step_ready),
}
# Where each screen points (step, highlight, focus), not what the patient answered: a database
# crash may forget the last fraction of a second of these, so their commits skip the wait for
# the disk (synchronous_commit off for that transaction; never torn, only possibly lost).
POINTER_ONLY = frozenset({"NAVIGATE", "HIGHLIGHT_FIELD", "CLEAR_HIGHLIGHT", "FIELD_FOCUS"})
# Commands that end the session go through services (they also write the record).
ENDING = frozenset({"END_SESSION", "COMPLETE"})
STAFF_ONLY = frozenset({*(k for k, r in RULES.items() if r.role == STAFF), *ENDING})
KNOWN = frozenset({*RULES, *ENDING, "SNAPSHOT_REQUEST", "PING"})

_WRONG_ROLE = {
    STAFF: "Only the patient's device can send that.",
    PATIENT: "Only the staff device can do that.",
}


def error_reply(exc: Refused | ApplicationError, *, client_id: Any, version: int) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "type": "ERROR",
        "id": client_id if isinstance(client_id, str) else None,
        "version": version,
        "code": exc.code,
        "message": exc.message,
    }
    step = getattr(exc, "step", None)
    if step:
        reply["step"] = step
    fields = getattr(exc, "fields", None)
    if fields:
        reply["fields"] = fields
    return reply


def envelope_check(message: Any, role: str) -> tuple[str, str]:
    """(type, client id) of a well-formed message this role may send, else ``Refused``."""
    if not isinstance(message, dict):
        raise Refused("Messages are JSON objects.", code="bad_message")
    kind = message.get("type")
    if kind not in KNOWN:
        raise Refused("Unknown message type.", code="bad_message")
    client_id = message.get("id")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise Refused(
            "Every message needs an id of 8 to 64 letters, digits, - or _.", code="bad_message"
        )
    if kind in STAFF_ONLY and role != STAFF:
        raise Refused(_WRONG_ROLE[PATIENT], code="not_allowed")
    if kind in RULES and RULES[kind].role != role:
        raise Refused(_WRONG_ROLE[role], code="not_allowed")
    return kind, client_id


def command_apply(
    *,
    session_id: int,
    role: str,
    kind: str,
    client_id: str,
    message: dict[str, Any],
    actor: User | None = None,
    device_id: int | None = None,
) -> dict[str, Any]:
    """Apply one command of ``RULES`` that ``envelope_check`` let through (as ``kind`` with
    ``client_id``); the reply (ACK or ERROR) for the sender. Never raises ``Refused``. Sockets
    hand messages to ``services.message_apply``, which also runs the two ending commands."""
    try:
        with transaction.atomic():
            # One round trip locks the row and tells whether this message was applied before.
            session = (
                GuidedSession.objects.select_for_update()
                .annotate(
                    done=Exists(
                        SessionMessage.objects.filter(session=OuterRef("pk"), client_id=client_id)
                    )
                )
                .get(pk=session_id)
            )
            if session.done:
                return {
                    "type": "ACK",
                    "id": client_id,
                    "version": session.version,
                    "duplicate": True,
                }
            if session.status != SessionStatus.ACTIVE:
                raise Refused("This session has ended.")
            if kind in POINTER_ONLY:
                commit_without_disk_wait()
            if role == PATIENT and not _device_live(session, device_id):
                raise Refused("This device is no longer paired with the session.")
            ctx = context_for(session)
            cmd = Command(session, ctx, message, actor, device_id)
            echo, changed = RULES[kind].handler(cmd)
            applied_ack(
                session,
                ctx,
                kind=kind,
                by=role,
                client_id=client_id,
                echo=echo,
                changed=changed,
                columns={COLUMNS[key] for key in changed},
            )
            return {"type": "ACK", "id": client_id, "version": session.version, "duplicate": False}
    except ApplicationError as exc:
        return error_reply(exc, client_id=client_id, version=session_version(session_id))


def applied_ack(
    session: GuidedSession,
    ctx: Context,
    *,
    kind: str,
    by: str,
    client_id: str | None,
    echo: dict[str, Any],
    changed: set[str],
    columns: set[str] | None = None,
) -> None:
    """Publish, save and ledger one applied command (inside the caller's locked transaction).
    ``columns``: the only columns the command changed (else the whole row is written)."""
    publish(session, ctx, type=kind, by=by, client_id=client_id, echo=echo, changed=changed)
    if columns is None:
        session.save()
    else:
        session.save(update_fields=[*columns, "version", "last_activity_at", "updated_at"])
    if client_id is not None:
        # The caller holds the row lock and checked the id: the unique key cannot clash here.
        SessionMessage.objects.create(
            session=session, client_id=client_id, type=kind, role=by, version=session.version
        )


def commit_without_disk_wait() -> None:
    """The current transaction commits without waiting for its WAL to reach the disk."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO off")


def _device_live(session: GuidedSession, device_id: int | None) -> bool:
    return (
        device_id is not None
        and DeviceToken.objects.filter(
            pk=device_id, session=session, revoked_at__isnull=True
        ).exists()
    )


def session_version(session_id: int) -> int:
    return int(
        GuidedSession.objects.filter(pk=session_id).values_list("version", flat=True).first() or 0
    )
