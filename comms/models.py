"""Communications records: every message sent or received, conversations, opt-out state,
templates and the per-organization gateway settings.

The records every sub-domain shares live here; Gmail's own (mailboxes, threads, the Gmail side of
email messages) live in ``comms/gmail/models.py`` and are imported below so that Django finds
them in the app. Writes go through the services of ``comms.messaging``, ``comms.sms`` and
``comms.gmail``; the gateways that really deliver are registered in ``comms.messaging.gateways``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.fields import EncryptedTextField
from clinic.models import Location, Organization
from clinic.models.base import PublicIdModel
from comms.gmail.models import (  # noqa: F401 - the app's models, for Django
    GmailAttachment,
    GmailLabel,
    GmailMailbox,
    GmailMessage,
    GmailThread,
)


class Channel(models.TextChoices):
    SMS = "sms", "Text message"
    EMAIL = "email", "Email"


class Direction(models.TextChoices):
    OUTBOUND = "outbound", "Sent"
    INBOUND = "inbound", "Received"


class MessageStatus(models.TextChoices):
    """Twilio's message statuses (DOMAIN.md). Email uses the same words where they fit."""

    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    RECEIVING = "receiving", "Receiving"
    RECEIVED = "received", "Received"
    ACCEPTED = "accepted", "Accepted"
    SCHEDULED = "scheduled", "Scheduled"
    READ = "read", "Read"
    CANCELED = "canceled", "Canceled"


# How far along a message is: a late or replayed callback never moves it back.
STATUS_RANK = {
    "scheduled": 0,
    "accepted": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "receiving": 4,
    "received": 5,
    "delivered": 6,
    "read": 7,
    "undelivered": 8,
    "failed": 8,
    "canceled": 8,
}
FINAL_STATUSES = frozenset({"delivered", "read", "undelivered", "failed", "canceled", "received"})


class Gateway(models.TextChoices):
    DEVELOPMENT = "development", "Development (not really sent)"
    TWILIO = "twilio", "Twilio"
    GMAIL = "gmail", "Gmail"


class CommsSettings(PublicIdModel):
    """One organization's gateway choice and Twilio account. Without a row (or with the
    development gateway) messages are recorded and shown, never really sent."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="comms_settings"
    )
    sms_gateway = models.CharField(
        max_length=20,
        choices=[(Gateway.DEVELOPMENT, Gateway.DEVELOPMENT.label), (Gateway.TWILIO, "Twilio")],
        default=Gateway.DEVELOPMENT,
    )
    # The simplest setup reads TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN from the environment.
    twilio_credentials_from_environment = models.BooleanField(default=False)
    twilio_account_sid = models.CharField(max_length=64, blank=True)
    twilio_auth_token = EncryptedTextField(blank=True)
    twilio_from_number = models.CharField(max_length=20, blank=True)  # E.164
    twilio_messaging_service_sid = models.CharField(max_length=64, blank=True)
    help_reply = models.CharField(
        max_length=320,
        blank=True,
        help_text="Answer to HELP. Empty: a default naming the organization.",
    )

    tenant_organization_field = "organization"

    class Meta:
        verbose_name = "communications settings"
        verbose_name_plural = "communications settings"

    def __str__(self) -> str:
        return f"Communications settings ({self.get_sms_gateway_display()})"


class LocationSender(PublicIdModel):
    """A location's own SMS number (optional); otherwise the organization's sender is used."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    location = models.OneToOneField(Location, on_delete=models.CASCADE, related_name="sms_sender")
    from_number = models.CharField(max_length=20)  # E.164

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "from_number"], name="comms_sender_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"SMS sender of location {self.location_id}"


class MessageTemplate(PublicIdModel):
    """A message text with ``{{ placeholders }}``, per organization and channel."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="message_templates"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.SMS)
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel", "key"], name="comms_template_key_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ContactPreference(PublicIdModel):
    """Consent and opt-out state of one address (an E.164 number for SMS) in one organization.

    Opt-out follows the number, not the patient: STOP from a phone shared by two patients
    stops messages to both, as the carrier would.
    """

    class Consent(models.TextChoices):
        UNKNOWN = "unknown", "Not recorded"
        GRANTED = "granted", "Granted"
        REFUSED = "refused", "Refused"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.SMS)
    address = models.CharField(max_length=254)
    consent = models.CharField(max_length=10, choices=Consent.choices, default=Consent.UNKNOWN)
    opted_out = models.BooleanField(default=False)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opted_in_at = models.DateTimeField(null=True, blank=True)
    last_keyword = models.CharField(max_length=20, blank=True)

    tenant_organization_field = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel", "address"], name="comms_preference_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Contact preference ({self.channel})"


class Conversation(PublicIdModel):
    """The SMS thread with one patient, or with an unknown / ambiguous number (``patient`` empty:
    the unassigned inbox). Unread counts are kept with ``F()`` updates."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey(
        Location, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="conversations",
    )
    phone = models.CharField(max_length=20, blank=True)  # for unassigned threads
    unread_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    tenant_organization_field = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "patient"],
                condition=Q(patient__isnull=False),
                name="comms_conversation_one_per_patient",
            ),
            models.UniqueConstraint(
                fields=["organization", "phone"],
                condition=Q(patient__isnull=True),
                name="comms_conversation_one_unassigned_per_phone",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "unread_count"],
                condition=Q(unread_count__gt=0),
                name="comms_conversation_unread",
            )
        ]

    def __str__(self) -> str:
        return f"Conversation {self.public_id}"


class Message(PublicIdModel):
    """One message, in or out. Outbound rows are the outbox: written with a unique key, then
    delivered after commit, in batches, by ``comms.messaging.delivery``."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey(
        Location, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    purpose = models.CharField(max_length=40, default="manual")
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    to_address = models.CharField(max_length=254, blank=True)
    from_address = models.CharField(max_length=254, blank=True)
    status = models.CharField(
        max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    gateway = models.CharField(max_length=20, choices=Gateway.choices, blank=True)
    provider_sid = models.CharField(max_length=64, blank=True)
    dedupe_key = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    segments = models.PositiveSmallIntegerField(default=0)
    encoding = models.CharField(max_length=8, blank=True)  # GSM-7 / UCS-2
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Inbound from a number several patients share: who it might be (staff choose).
    candidate_patient_ids = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)  # inbound: read by staff

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="comms_message_dedupe_key_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "channel", "provider_sid"],
                condition=~Q(provider_sid=""),
                name="comms_message_provider_sid_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "-created_at"], name="comms_message_patient"),
            models.Index(fields=["conversation", "-created_at"], name="comms_message_conv"),
            models.Index(
                fields=["status", "created_at"],
                condition=Q(status="queued", direction="outbound"),
                name="comms_message_pending",
            ),
            # The sweep's look for deliveries a lost worker interrupted (comms.messaging.delivery).
            models.Index(
                fields=["updated_at"],
                condition=Q(status="sending", direction="outbound", provider_sid=""),
                name="comms_message_interrupted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.direction} {self.public_id}"

    @property
    def not_really_sent(self) -> bool:
        return self.direction == Direction.OUTBOUND and self.gateway == Gateway.DEVELOPMENT


class WebhookReceipt(models.Model):
    """One row per webhook delivery that had an effect: a replay finds its row and stops."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)

    tenant_organization_field = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="comms_webhook_once")
        ]

    def __str__(self) -> str:
        return f"Webhook receipt {self.pk}"
