"""Guided sessions: the server-held state of a paired staff/patient pre-registration.

Everything the patient types, photographs and signs stays here as a draft until completion
writes it into the patient record (``services.guided_session_complete``). Draft values hold
PHI, so they are kept encrypted (``values_encrypted``); uploads and signatures are files in the
default storage under random names.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models

from clinic.fields import EncryptedTextField
from clinic.models import Location, Organization
from clinic.models.base import PublicIdModel

# Channels of one side's sockets kept in GuidedSession.presence (the newest); a full list may
# have dropped some, so senders then cannot rely on it (patients/guided/pointer.py).
PRESENCE_CHANNELS_KEPT = 10


class SessionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    ENDED = "ended", "Ended by staff"
    EXPIRED = "expired", "Expired"


class _OrganizationSetting(PublicIdModel):
    """Configuration of an organization, or of one of its locations, kept in versions."""

    tenant_organization_field = "organization"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Leave empty for every location of the organization.",
    )
    version = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)

    class Meta:
        abstract = True


class FormDefinition(_OrganizationSetting):
    """The fields of each step for an organization (or one location), versioned.

    ``definition`` = ``{"steps": {"<step>": {"title": …, "fields": {"<field>": {"label": …,
    "required": bool, "hidden": bool}}}}}``: overrides of the built-in form (``steps.py``); field
    names are fixed by the code, so an admin can relabel, require or hide, never invent fields.
    """

    definition = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["organization", "location", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "location", "version"], name="guided_form_version"
            ),
        ]

    def __str__(self) -> str:
        return f"Form v{self.version}"


class ConsentText(_OrganizationSetting):
    """A consent the patient reads to the end, acknowledges and (when required) signs.

    Rows are versions: a session keeps the version it showed even after an admin changes the
    text (the admin saves a changed text as a new version).
    """

    key = models.SlugField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField()
    requires_signature = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["organization", "order", "key", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "location", "key", "version"], name="guided_consent_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"


class GuidedSession(PublicIdModel):
    tenant_organization_field = "organization"
    tenant_location_field = "location"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for a new patient until the session completes.",
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=SessionStatus.choices, default=SessionStatus.ACTIVE
    )
    end_reason = models.CharField(max_length=20, blank=True)
    step = models.CharField(max_length=20, default="identity")
    steps_opened = models.JSONField(default=list, blank=True)
    steps_ready = models.JSONField(default=list, blank=True)
    values_encrypted = EncryptedTextField(blank=True, default="")
    uploads = models.JSONField(default=dict, blank=True)  # slot -> upload public id
    consents = models.JSONField(default=dict, blank=True)  # key -> {acknowledged, signed}
    signature = models.JSONField(default=dict, blank=True)  # {document, status}
    highlight = models.CharField(max_length=60, blank=True)
    focus = models.CharField(max_length=60, blank=True)
    presence = models.JSONField(default=dict, blank=True)  # role -> {status, since, channels}
    version = models.PositiveIntegerField(default=0)
    form_definition = models.ForeignKey(
        FormDefinition, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    consent_texts = models.ManyToManyField(ConsentText, blank=True, related_name="+")
    last_activity_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    completed_patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=SessionStatus.values), name="guided_session_status"
            ),
        ]
        indexes = [
            models.Index(fields=["location", "status"], name="guided_session_loc_status"),
            # The idle-out job's way in: the few active sessions. No index may hold a column
            # a command changes (step, highlight, version, last_activity_at, ...): the row is
            # rewritten several times a second, and only then can PostgreSQL do it in place
            # (a HOT update) instead of adding an entry to every index each time.
            models.Index(
                fields=["created_at"],
                name="guided_session_active",
                condition=models.Q(status=SessionStatus.ACTIVE),
            ),
        ]

    def __str__(self) -> str:
        return f"Guided session {self.public_id}"

    @property
    def values(self) -> dict[str, str]:
        if not self.values_encrypted:
            return {}
        data = json.loads(self.values_encrypted)
        return data if isinstance(data, dict) else {}

    @values.setter
    def values(self, data: dict[str, Any]) -> None:
        self.values_encrypted = json.dumps(data, separators=(",", ":"), sort_keys=True)

    @property
    def is_active(self) -> bool:
        return self.status == SessionStatus.ACTIVE


class PairingCode(models.Model):
    """A 6-digit code that binds one tablet to one session: single use, 10 minutes."""

    tenant_organization_field = "session__organization"
    tenant_location_field = "session__location"

    session = models.ForeignKey(GuidedSession, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    code_encrypted = EncryptedTextField()  # shown again on the staff console until used
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    is_live = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code_hash"],
                condition=models.Q(is_live=True),
                name="guided_code_live_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Pairing code of session {self.session_id}"


class DeviceToken(PublicIdModel):
    """What the patient tablet holds (a cookie) after pairing; stored as a SHA-256 only."""

    tenant_organization_field = "session__organization"
    tenant_location_field = "session__location"

    session = models.ForeignKey(GuidedSession, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Device {self.public_id}"


class SessionMessage(models.Model):
    """Ledger of applied client messages: the same client message id applies once."""

    tenant_organization_field = "session__organization"
    tenant_location_field = "session__location"

    # No index of its own: guided_message_once (session, client_id) starts with it.
    session = models.ForeignKey(
        GuidedSession, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    client_id = models.CharField(max_length=64)
    type = models.CharField(max_length=30)
    role = models.CharField(max_length=10)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "client_id"], name="guided_message_once"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.client_id}"


class GuidedUpload(PublicIdModel):
    """A photo taken on the tablet (identity document or insurance card side), a draft."""

    tenant_organization_field = "session__organization"
    tenant_location_field = "session__location"

    session = models.ForeignKey(GuidedSession, on_delete=models.CASCADE, related_name="files")
    slot = models.CharField(max_length=20)
    storage_name = models.CharField(max_length=300)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    kind = models.CharField(max_length=10)

    def __str__(self) -> str:
        return f"Upload {self.public_id}"


class Signature(PublicIdModel):
    """A drawn signature of one consent (PNG) and the signed PDF made from it."""

    tenant_organization_field = "session__organization"
    tenant_location_field = "session__location"

    session = models.ForeignKey(GuidedSession, on_delete=models.CASCADE, related_name="signatures")
    consent = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="+")
    image_name = models.CharField(max_length=300)
    image_sha256 = models.CharField(max_length=64)
    pdf_name = models.CharField(max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    text_sha256 = models.CharField(max_length=64)
    signer_name = models.CharField(max_length=250, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    device = models.ForeignKey(DeviceToken, on_delete=models.PROTECT, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)

    def __str__(self) -> str:
        return f"Signature {self.public_id}"
