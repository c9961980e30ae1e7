"""Gmail: connected mailboxes and the Gmail side of email messages.

The mail itself is stored as ``comms.Message`` rows with channel "email" (so it is in the inbox,
the patient's timeline and the search with SMS); these models keep what only Gmail has:
the mailbox and its OAuth tokens (encrypted at rest), the sync position (``history_id``),
labels, threads, each message's Gmail ids, labels and headers for replies, and attachments.

Imported by ``comms/models.py`` (Django finds the app's models there). Writes go through
``comms.gmail.services`` and ``comms.gmail.sync``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from clinic.fields import EncryptedTextField
from clinic.models import Organization
from clinic.models.base import PublicIdModel


class GmailMailbox(PublicIdModel):
    """A Gmail mailbox connected with OAuth 2.0: the clinic's shared one, or a staff member's.

    Disconnecting revokes the grant at Google and deletes the tokens; the row and the mail
    already synced stay (they are part of patients' records), and connecting the same address
    again carries on with them.
    """

    class Kind(models.TextChoices):
        SHARED = "shared", "Shared clinic mailbox"
        PERSONAL = "personal", "Staff member's mailbox"

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnecting"
        DISCONNECTED = "disconnected", "Disconnected"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SHARED)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member whose mailbox this is (personal mailboxes only).",
    )
    email_address = models.EmailField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=500, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    # Where the next incremental sync starts; empty until the first full sync.
    history_id = models.PositiveBigIntegerField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    full_sync_count = models.PositiveIntegerField(default=0)
    sync_error = models.CharField(max_length=60, blank=True)  # a code, never a message body
    watch_expires_at = models.DateTimeField(null=True, blank=True)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["kind", "email_address"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email_address"], name="gmail_mailbox_address_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind="shared", owner__isnull=True)
                | Q(kind="personal", owner__isnull=False),
                name="gmail_mailbox_owner_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"Gmail mailbox {self.public_id}"

    @property
    def is_connected(self) -> bool:
        return self.status == self.Status.CONNECTED

    @property
    def sync_error_text(self) -> str:
        return SYNC_ERRORS.get(self.sync_error, self.sync_error)


SYNC_ERRORS = {
    "history_expired": "Gmail's history had expired; a full sync ran",
    "gmail_unavailable": "Gmail could not be reached; retrying",
    "grant_revoked": "Google no longer accepts the access; connect again",
}


class GmailLabel(models.Model):
    """A label of a mailbox (system ones such as INBOX, and the user's own)."""

    mailbox = models.ForeignKey(GmailMailbox, on_delete=models.CASCADE, related_name="labels")
    gmail_id = models.CharField(max_length=100)
    name = models.CharField(max_length=225)
    is_system = models.BooleanField(default=False)

    tenant_organization_field = "mailbox__organization"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "gmail_id"], name="gmail_label_unique")
        ]

    def __str__(self) -> str:
        return self.name


class GmailThread(PublicIdModel):
    """A Gmail conversation. Replies stay with the patient the thread was linked to."""

    mailbox = models.ForeignKey(GmailMailbox, on_delete=models.CASCADE, related_name="threads")
    gmail_id = models.CharField(max_length=64)
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="gmail_threads",
    )
    last_message_at = models.DateTimeField(null=True, blank=True)

    tenant_organization_field = "mailbox__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "gmail_id"], name="gmail_thread_unique")
        ]

    def __str__(self) -> str:
        return f"Gmail thread {self.public_id}"


class GmailMessage(PublicIdModel):
    """The Gmail side of one email ``comms.Message``: ids, labels, headers for replies.

    An outgoing email has a row before Gmail has seen it (``gmail_id`` empty, ``rfc_message_id``
    already chosen), so the sync recognises it when it comes back from Gmail's history and does
    not store it twice.
    """

    message = models.OneToOneField("comms.Message", on_delete=models.CASCADE, related_name="gmail")
    mailbox = models.ForeignKey(GmailMailbox, on_delete=models.CASCADE, related_name="messages")
    thread = models.ForeignKey(
        GmailThread, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    gmail_id = models.CharField(max_length=64, blank=True)
    label_ids = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    is_unread = models.BooleanField(default=False)
    is_starred = models.BooleanField(default=False)
    rfc_message_id = models.CharField(max_length=500, blank=True)
    references = models.TextField(blank=True)
    recipients = ArrayField(models.CharField(max_length=254), default=list, blank=True)
    internal_at = models.DateTimeField(null=True, blank=True)
    history_id = models.PositiveBigIntegerField(null=True, blank=True)
    reply_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)  # deleted in Gmail

    tenant_organization_field = "mailbox__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "gmail_id"],
                condition=~Q(gmail_id=""),
                name="gmail_message_unique",
            )
        ]
        indexes = [models.Index(fields=["mailbox", "rfc_message_id"], name="gmail_message_rfc_id")]

    def __str__(self) -> str:
        return f"Gmail message {self.public_id}"


class GmailAttachment(PublicIdModel):
    """A file attached to an email. Incoming: where Gmail keeps it, and the patient document it
    was saved as (on request). Outgoing: the patient document version that was attached."""

    gmail_message = models.ForeignKey(
        GmailMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    part_id = models.CharField(max_length=50, blank=True)
    gmail_attachment_id = models.TextField(blank=True)
    # The sender's filename (may name the patient): shown on the email's page, never in a URL,
    # a log line or an audit row.
    filename = models.CharField(max_length=255, blank=True)
    mime_type = models.CharField(max_length=120, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    document = models.ForeignKey(
        "patients.Document", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    document_version = models.ForeignKey(
        "patients.DocumentVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    tenant_organization_field = "gmail_message__mailbox__organization"

    class Meta:
        ordering = ["part_id", "id"]

    def __str__(self) -> str:
        return f"Email attachment {self.public_id}"
