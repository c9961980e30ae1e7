"""Writes and workflows of Gmail: connecting and disconnecting mailboxes, composing and
replying from a patient's record (delivered by ``comms.messaging.delivery`` through the Gmail
gateway below), read / star changes pushed to Gmail, attachments saved as patient
documents, and linking an unassigned email to a patient.

Calls to Google happen outside database transactions (a slow Google never holds a lock); the
rows and their audit entries are then written in one transaction.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, NotFound
from comms.gmail.client import (
    SCOPES,
    GmailNotAuthorized,
    GmailRefused,
    GmailUnavailable,
    Tokens,
    client_id,
    client_secret,
    gmail_build,
    gmail_call,
    gmail_session,
    oauth_code_exchange,
    oauth_token_revoke,
    token_uri,
)
from comms.gmail.models import GmailAttachment, GmailMailbox, GmailMessage
from comms.gmail.permissions import (
    can_email_patient,
    can_manage_gmail,
    can_see_email,
    can_use_mailbox,
)
from comms.gmail.sync import message_labels_set, own_message_id, sent_message_complete
from comms.gmail.tasks import mailbox_sync_enqueue
from comms.messaging.gateways import GatewayError, SendResult
from comms.messaging.services import message_send
from comms.messaging.stream import comms_publish
from comms.models import Message as MessageModel
from patients.documents.permissions import can_upload_documents
from patients.documents.services import document_upload

if TYPE_CHECKING:
    from clinic.models import User
    from comms.models import Message, MessageTemplate
    from patients.models import Document, Patient

logger = logging.getLogger(__name__)

SUBJECT_MAX = 200
BODY_MAX = 50_000
MAX_ATTACHMENTS = 10
# Gmail accepts 25 MB per message including base64 (4/3): keep the files under 18 MB.
ATTACHMENTS_MAX_BYTES = 18 * 1024 * 1024


class EmailRefused(ApplicationError):
    code = "email_refused"


# -------------------------------------------------------------------------- mailboxes


def _not_admin() -> NotFound:
    return NotFound("That page does not exist or is not available to you.")


def _profile_address(tokens: Tokens) -> str:
    from google.oauth2.credentials import Credentials

    credentials = Credentials(
        token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_uri=token_uri(),
        client_id=client_id(),
        client_secret=client_secret(),
        scopes=SCOPES,
    )
    profile = gmail_call(gmail_build(credentials).users().getProfile(userId="me"))
    return str(profile["emailAddress"]).strip().lower()


def mailbox_connect(
    *,
    actor: User,
    kind: str,
    redirect_uri: str,
    state: str,
    code_verifier: str,
    code: str,
) -> GmailMailbox:
    """Finish the OAuth web-server flow: exchange the code (with the PKCE verifier), ask Gmail
    whose mailbox it is, and keep the tokens encrypted. Connecting an address again reuses its
    row and its mail. The first sync is queued after commit."""
    if not can_manage_gmail(actor):
        raise _not_admin()
    if kind not in GmailMailbox.Kind.values:
        raise EmailRefused("Choose a shared or a personal mailbox.", code="bad_kind")
    tokens = oauth_code_exchange(
        redirect_uri=redirect_uri, state=state, code_verifier=code_verifier, code=code
    )
    address = _profile_address(tokens)
    return _mailbox_store(actor=actor, kind=kind, address=address, tokens=tokens)


@transaction.atomic
def _mailbox_store(*, actor: User, kind: str, address: str, tokens: Tokens) -> GmailMailbox:
    organization_id = actor.organization_id
    if organization_id is None:
        raise _not_admin()
    mailbox = (
        GmailMailbox.objects.select_for_update()
        .filter(organization_id=organization_id, email_address=address)
        .first()
    ) or GmailMailbox(organization_id=organization_id, email_address=address)
    mailbox.kind = kind
    mailbox.owner = actor if kind == GmailMailbox.Kind.PERSONAL else None
    mailbox.status = GmailMailbox.Status.CONNECTED
    mailbox.access_token = tokens.access_token
    mailbox.refresh_token = tokens.refresh_token
    mailbox.token_expires_at = tokens.expires_at
    mailbox.scopes = " ".join(tokens.scopes)[:500]
    mailbox.connected_by = actor
    mailbox.connected_at = timezone.now()
    mailbox.sync_error = ""
    mailbox.save()
    audit_record(actor=actor, action="gmail_mailbox.connected", obj=mailbox, details={"kind": kind})
    mailbox_id = mailbox.pk
    transaction.on_commit(lambda: mailbox_sync_enqueue(mailbox_id=mailbox_id))
    return mailbox


def mailbox_disconnect(*, actor: User, mailbox: GmailMailbox) -> bool:
    """Revoke the grant at Google and delete the tokens. Returns whether Google confirmed the
    revocation; the tokens are deleted either way (the page tells the ADMIN to remove access
    in the Google account when Google could not be reached)."""
    if not can_manage_gmail(actor) or mailbox.organization_id != actor.organization_id:
        raise _not_admin()
    revoked = oauth_token_revoke(mailbox.refresh_token or mailbox.access_token or "")
    with transaction.atomic():
        GmailMailbox.objects.filter(pk=mailbox.pk).update(
            status=GmailMailbox.Status.DISCONNECTED,
            access_token="",
            refresh_token="",
            token_expires_at=None,
            watch_expires_at=None,
            updated_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="gmail_mailbox.disconnected",
            obj=mailbox,
            details={"revoked": revoked},
        )
    mailbox.refresh_from_db()
    return revoked


def mailbox_sync_request(*, actor: User, mailbox: GmailMailbox) -> None:
    if not can_manage_gmail(actor) or mailbox.organization_id != actor.organization_id:
        raise _not_admin()
    if not mailbox.is_connected:
        raise EmailRefused("Connect the mailbox again before syncing it.", code="not_connected")
    audit_record(actor=actor, action="gmail_mailbox.sync_requested", obj=mailbox)
    mailbox_sync_enqueue(mailbox_id=mailbox.pk)


# -------------------------------------------------------------------------- compose and reply


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str
    documents: Sequence[Document] = ()


def _clean_subject(subject: str) -> str:
    # A header value: line breaks would start new headers.
    subject = " ".join((subject or "").split())
    if not subject:
        raise EmailRefused("Write a subject.", code="subject_missing")
    if len(subject) > SUBJECT_MAX:
        raise EmailRefused(
            f"The subject can be at most {SUBJECT_MAX} characters long.", code="subject_too_long"
        )
    return subject


def _check_documents(actor: User, patient: Patient, documents: Sequence[Document]) -> None:
    if len(documents) > MAX_ATTACHMENTS:
        raise EmailRefused(
            f"Attach at most {MAX_ATTACHMENTS} documents.", code="too_many_attachments"
        )
    total = 0
    for document in documents:
        version = document.current_version
        if document.patient_id != patient.pk or document.entered_in_error or version is None:
            raise EmailRefused(
                "Attach only this patient's current documents.", code="attachment_not_allowed"
            )
        total += version.size
    if total > ATTACHMENTS_MAX_BYTES:
        raise EmailRefused(
            "The attachments are too large together (at most 18 MB); send fewer documents.",
            code="attachments_too_large",
        )


@transaction.atomic
def email_compose_send(
    *,
    actor: User,
    patient: Patient,
    mailbox: GmailMailbox,
    draft: Draft,
    dedupe_key: str,
    reply_to: Message | None = None,
    template: MessageTemplate | None = None,
) -> Message:
    """Queue an email to ``patient`` from ``mailbox`` (a reply when ``reply_to`` is given: same
    Gmail thread, In-Reply-To and References). Consent, opt-out, the address and the length
    are checked by ``comms.messaging.services.message_send``, which also makes a second
    submission of the same form (same ``dedupe_key``) return the first email instead of
    sending another."""

    if not can_email_patient(actor, patient):
        raise NotFound("That patient does not exist or is not available to you.")
    if not can_use_mailbox(actor, mailbox):
        raise EmailRefused("Choose a connected mailbox you may send from.", code="bad_mailbox")
    subject = _clean_subject(draft.subject)
    _check_documents(actor, patient, draft.documents)
    reply_row: GmailMessage | None = None
    if reply_to is not None:
        reply_row = getattr(reply_to, "gmail", None)
        if (
            reply_row is None
            or reply_to.patient_id != patient.pk
            or not reply_row.gmail_id
            or reply_row.mailbox_id != mailbox.pk
        ):
            raise EmailRefused(
                "Reply from the mailbox the email came to.", code="reply_not_possible"
            )
    if len((draft.body or "").strip()) > BODY_MAX:
        raise EmailRefused(f"The email can be at most {BODY_MAX} characters long.", code="too_long")

    message = message_send(
        actor=actor,
        patient=patient,
        channel="email",
        purpose="reply" if reply_to is not None else "manual",
        dedupe_key=dedupe_key,
        body=draft.body,
    )
    if GmailMessage.objects.filter(message=message).exists():
        return message  # the same form sent twice: the first email stands

    MessageModel.objects.filter(pk=message.pk).update(
        subject=subject, from_address=mailbox.email_address, template=template
    )
    message.subject = subject
    message.from_address = mailbox.email_address
    domain = mailbox.email_address.rpartition("@")[2]
    references = ""
    if reply_row is not None:
        references = " ".join(x for x in (reply_row.references, reply_row.rfc_message_id) if x)
    row = GmailMessage.objects.create(
        message=message,
        mailbox=mailbox,
        thread=reply_row.thread if reply_row else None,
        rfc_message_id=own_message_id(message, domain),
        references=references[-5000:],
        reply_to=reply_row,
        recipients=[message.to_address],
        label_ids=["SENT"],
    )
    versions = [(d, d.current_version) for d in draft.documents]
    GmailAttachment.objects.bulk_create(
        [
            GmailAttachment(
                gmail_message=row,
                document=document,
                document_version=version,
                filename=version.download_filename(),
                mime_type=version.content_type,
                size=version.size,
            )
            for document, version in versions
            if version is not None
        ]
    )
    audit_record(
        actor=actor,
        action="email.composed",
        obj=message,
        organization=patient.organization,
        location=patient.home_location,
        details={
            "patient": str(patient.public_id),
            "mailbox": str(mailbox.public_id),
            "reply": reply_to is not None,
            "attachments": len(draft.documents),
        },
    )
    return message


# -------------------------------------------------------------------------- the gateway


def _delivery_lock(message_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [7_310_002, message_id])
        return bool(cursor.fetchone()[0])


class GmailGateway:
    """Delivers email through the Gmail API (``users.messages.send``). Used by
    ``comms.messaging.delivery`` for the email channel of organizations with a connected
    mailbox: composed emails go from the mailbox they were written in, others (reminders...)
    from the organization's shared mailbox."""

    name = "gmail"
    concurrent = False  # send() writes the Gmail rows in the delivery transaction

    def __init__(self, organization_id: int) -> None:
        self.organization_id = organization_id

    def prepare(self, messages: list[Message]) -> None:
        return

    def _row_for(self, message: Message) -> GmailMessage:
        row = (
            GmailMessage.objects.select_related("mailbox", "thread").filter(message=message).first()
        )
        if row is not None:
            return row
        mailbox = (
            GmailMailbox.objects.filter(
                organization_id=self.organization_id,
                kind=GmailMailbox.Kind.SHARED,
                status=GmailMailbox.Status.CONNECTED,
            )
            .order_by("id")
            .first()
        )
        if mailbox is None:
            raise GatewayError(
                "no_mailbox", "No shared Gmail mailbox is connected.", transient=False
            )
        domain = mailbox.email_address.rpartition("@")[2]
        return GmailMessage.objects.create(
            message=message,
            mailbox=mailbox,
            rfc_message_id=own_message_id(message, domain),
            recipients=[message.to_address],
            label_ids=["SENT"],
        )

    def send(self, message: Message) -> Any:

        # Delivery claimed the message (status "sending"); this lock also keeps two deliveries of
        # one message apart if a claim was ever bypassed.
        if not _delivery_lock(message.pk):
            raise GatewayError("busy", "Being delivered by another worker.", transient=True)
        row = self._row_for(message)
        if row.gmail_id:
            address = row.mailbox.email_address
            return SendResult(sid=row.gmail_id, status="sent", from_address=address)
        try:
            with gmail_session(row.mailbox) as service:
                users = service.users()
                found = self._already_sent(users, row)
                if found is None:
                    body: dict[str, Any] = {"raw": _raw(message, row)}
                    if row.thread is not None:
                        body["threadId"] = row.thread.gmail_id
                    found = gmail_call(users.messages().send(userId="me", body=body))
        except GmailUnavailable as exc:
            raise GatewayError("gmail_unavailable", exc.message, transient=True) from exc
        except GmailNotAuthorized as exc:
            raise GatewayError("gmail_auth", exc.message, transient=False) from exc
        except GmailRefused as exc:
            raise GatewayError(exc.code[:20], exc.message, transient=False) from exc
        sent_message_complete(row, str(found["id"]), str(found.get("threadId") or found["id"]))
        return SendResult(
            sid=str(found["id"]), status="sent", from_address=row.mailbox.email_address
        )

    def _already_sent(self, users: Any, row: GmailMessage) -> dict[str, Any] | None:
        """Whether an earlier attempt already reached Gmail (a crash or a rollback after
        Gmail's answer): looked up by our Message-ID, which every attempt shares, so a retry
        never sends the email twice."""
        response = gmail_call(
            users.messages().list(
                userId="me", q=f"rfc822msgid:{row.rfc_message_id}", includeSpamTrash=True
            )
        )
        found = response.get("messages") or []
        return found[0] if found else None


def _raw(message: Message, row: GmailMessage) -> str:
    mime = EmailMessage()
    organization_name = message.organization.name if message.organization_id else ""
    mime["From"] = formataddr((organization_name, row.mailbox.email_address))
    mime["To"] = message.to_address
    mime["Subject"] = message.subject or f"A message from {organization_name}".strip()
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = row.rfc_message_id
    if row.reply_to_id is not None and row.reply_to is not None:
        mime["In-Reply-To"] = row.reply_to.rfc_message_id
        mime["References"] = row.references or row.reply_to.rfc_message_id
    mime.set_content(message.body)
    storage = storages["default"]
    for attachment in row.attachments.select_related("document_version").all():
        version = attachment.document_version
        if version is None:
            continue
        with storage.open(version.storage_name, "rb") as handle:
            data = handle.read()
        maintype, _, subtype = (version.content_type or "application/octet-stream").partition("/")
        mime.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return base64.urlsafe_b64encode(mime.as_bytes()).decode()


def gmail_gateway_for(organization: Any) -> GmailGateway | None:
    """Registered with ``comms.messaging.gateways.gateway_register("email", ...)``."""
    connected = GmailMailbox.objects.filter(
        organization=organization, status=GmailMailbox.Status.CONNECTED
    ).exists()
    return GmailGateway(organization.pk) if connected else None


# -------------------------------------------------------------------------- read and star


def email_flags_set(
    *, actor: User, message: Message, read: bool | None = None, starred: bool | None = None
) -> GmailMessage:
    """Mark an email read / unread, starred / not, in Gmail first (users.messages.modify), then
    here with what Gmail answered. Nothing changes here when Gmail refuses."""
    row: GmailMessage | None = getattr(message, "gmail", None)
    if row is None or not can_see_email(actor, message, row.mailbox):
        raise NotFound("That email does not exist or is not available to you.")
    if not row.gmail_id or not row.mailbox.is_connected:
        raise EmailRefused(
            "This email cannot be changed in Gmail now (its mailbox is not connected).",
            code="not_connected",
        )
    add: list[str] = []
    remove: list[str] = []
    if read is not None:
        (remove if read else add).append("UNREAD")
    if starred is not None:
        (add if starred else remove).append("STARRED")
    with gmail_session(row.mailbox) as service:
        change = {"addLabelIds": add, "removeLabelIds": remove}
        response = gmail_call(
            service.users().messages().modify(userId="me", id=row.gmail_id, body=change)
        )
    with transaction.atomic():
        labels = list(response.get("labelIds") or [])
        changed = message_labels_set(row.mailbox, row.gmail_id, labels, announce=False)  # see below
        if changed:
            audit_record(
                actor=actor,
                action="email.marked",
                obj=message,
                location=message.patient.home_location if message.patient is not None else None,
                details={"read": read, "starred": starred},
            )
            _publish(message, change="read")
    row.refresh_from_db()
    return row


def _publish(message: Message, *, change: str) -> None:

    comms_publish(message=message, change=change)


# -------------------------------------------------------------------------- attachments


def email_attachment_save(
    *, actor: User, attachment: GmailAttachment, category: str = "correspondence"
) -> Document:
    """Save an incoming attachment as a document of the email's patient (once: a second
    request returns the same document). The file is judged by its content like any upload."""

    row = attachment.gmail_message
    message = row.message
    if not can_see_email(actor, message, row.mailbox):
        raise NotFound("That attachment does not exist or is not available to you.")
    patient = message.patient
    if patient is None:
        raise EmailRefused(
            "Link this email to a patient first; the attachment becomes one of their documents.",
            code="no_patient",
        )
    if not can_upload_documents(actor, patient):
        raise NotFound("That attachment does not exist or is not available to you.")
    if attachment.document is not None:
        return attachment.document
    if attachment.size > settings.FILE_UPLOAD_MAX_BYTES:
        raise EmailRefused(
            "This attachment is larger than the documents limit; it stays in Gmail.",
            code="attachment_too_large",
        )
    data = _attachment_bytes(row, attachment)
    upload = SimpleUploadedFile("attachment", data, content_type="application/octet-stream")
    with transaction.atomic():
        locked = GmailAttachment.objects.select_for_update().get(pk=attachment.pk)
        if locked.document is not None:
            return locked.document  # saved by a double click meanwhile
        documents = document_upload(
            actor=actor,
            patient=patient,
            files=[upload],
            category=category,
            description="Email attachment",
        )
        locked.document = documents[0]
        locked.save(update_fields=["document", "updated_at"])
        audit_record(
            actor=actor,
            action="email.attachment_saved",
            obj=message,
            location=patient.home_location,
            details={
                "patient": str(patient.public_id),
                "document": str(documents[0].public_id),
            },
        )
    attachment.document = documents[0]
    return documents[0]


def _attachment_bytes(row: GmailMessage, attachment: GmailAttachment) -> bytes:
    import base64 as b64

    with gmail_session(row.mailbox) as service:
        messages = service.users().messages()
        if attachment.gmail_attachment_id:
            response = gmail_call(
                messages.attachments().get(
                    userId="me", messageId=row.gmail_id, id=attachment.gmail_attachment_id
                )
            )
            data = str(response.get("data") or "")
        else:  # small parts come inline in the message
            resource = gmail_call(messages.get(userId="me", id=row.gmail_id, format="full"))
            data = _inline_part(resource.get("payload") or {}, attachment.part_id)
    if not data:
        raise EmailRefused("Gmail no longer has this attachment.", code="attachment_gone")
    return b64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _inline_part(part: dict[str, Any], part_id: str) -> str:
    if str(part.get("partId") or "") == part_id:
        return str((part.get("body") or {}).get("data") or "")
    for child in part.get("parts") or []:
        found = _inline_part(child, part_id)
        if found:
            return found
    return ""


# -------------------------------------------------------------------------- linking


@transaction.atomic
def email_patient_link(*, actor: User, message: Message, patient: Patient) -> Message:
    """Staff choose the patient of an unassigned email (unknown or shared address). The rest of
    its thread follows."""

    row: GmailMessage | None = getattr(message, "gmail", None)
    if row is None or not can_see_email(actor, message, row.mailbox):
        raise NotFound("That email does not exist or is not available to you.")
    if not can_email_patient(actor, patient) or patient.organization_id != message.organization_id:
        raise NotFound("That patient does not exist or is not available to you.")
    if message.patient_id is not None:
        raise EmailRefused("This email is already linked to a patient.", code="already_linked")
    ids = [message.pk]
    thread = row.thread
    if thread is not None:
        ids = list(
            MessageModel.objects.filter(gmail__thread=thread, patient__isnull=True).values_list(
                "pk", flat=True
            )
        )
        thread.patient = patient
        thread.save(update_fields=["patient", "updated_at"])
    MessageModel.objects.filter(pk__in=ids).update(
        patient=patient, location=patient.home_location, candidate_patient_ids=[]
    )
    message.refresh_from_db()
    audit_record(
        actor=actor,
        action="email.linked",
        obj=message,
        location=patient.home_location,
        details={"patient": str(patient.public_id), "messages": len(ids)},
    )
    _publish(message, change="linked")
    return message
