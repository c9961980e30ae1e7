"""Sending: the one interface every app uses (``message_send``), templates and the gateway
settings.

``message_send`` renders, checks consent and opt-out, and writes the outbound row with its unique
``dedupe_key`` in the caller's transaction; after commit ``comms.messaging.tasks`` hands it,
batched with the transaction's other messages, to ``comms.messaging.delivery`` and the
organization's gateway. A second call with the same key
returns the first message and sends nothing. Delivery retries only transient gateway failures.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from clinic.audit.services import audit_record
from clinic.errors import NotFound
from clinic.phones import phone_or_none
from comms.errors import MessageRefused, TemplateInvalid
from comms.messaging.preferences import preference_for
from comms.messaging.rendering import (
    DEFAULT_TEMPLATES,
    patient_context,
    template_check,
    template_render,
)
from comms.messaging.tasks import deliver_after_commit
from comms.models import (
    Channel,
    CommsSettings,
    ContactPreference,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MessageTemplate,
)
from comms.sms.text import segment_count

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient

logger = logging.getLogger(__name__)

SMS_MAX_CHARS = 1600  # Twilio's limit for one message body
EMAIL_MAX_CHARS = 50_000
_PURPOSE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


# ---------------------------------------------------------------- preferences


def patient_sms_number(patient: Patient) -> str | None:
    return phone_or_none(patient.phone_mobile)


def conversation_for_patient(patient: Patient) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(
        organization_id=patient.organization_id,
        patient=patient,
        defaults={"location_id": patient.home_location_id},
    )
    return conversation


# ---------------------------------------------------------------- sending


def _render(
    *, patient: Patient, channel: str, template: str | None, body: str | None, context: dict | None
) -> tuple[str, str, MessageTemplate | None]:
    """(subject, body, template row) or MessageRefused."""
    if template:
        row = MessageTemplate.objects.filter(
            organization_id=patient.organization_id, channel=channel, key=template, is_active=True
        ).first()
        text = row.body if row is not None else DEFAULT_TEMPLATES.get(template)
        if text is None:
            raise MessageRefused(
                f"There is no message template called “{template}”.", code="unknown_template"
            )
        values = {**patient_context(patient), **(context or {})}
        try:
            rendered = template_render(text, values)
            subject = template_render(row.subject, values) if row and row.subject else ""
        except TemplateInvalid as exc:
            raise MessageRefused(exc.message, code=exc.code) from exc
        return subject, rendered, row
    text = (body or "").strip()
    if not text:
        raise MessageRefused("Write a message or choose a template.", code="empty")
    return "", text, None


@transaction.atomic
def message_send(
    *,
    actor: User | None,
    patient: Patient,
    channel: str,
    purpose: str,
    dedupe_key: str,
    template: str | None = None,
    body: str | None = None,
    context: dict | None = None,
) -> Message:
    """Queue one message to ``patient``; delivered after commit. See the module docstring.

    Raises ``MessageRefused`` for an opted-out or non-consenting patient, a missing number or
    address, an unknown template or a missing placeholder value.
    """
    if channel not in Channel.values:
        raise MessageRefused("Messages go by text message or email.", code="bad_channel")
    purpose = (purpose or "").strip().lower()
    if not purpose or len(purpose) > 40 or not set(purpose) <= _PURPOSE_CHARS:
        raise MessageRefused("A message needs a purpose code.", code="bad_purpose")
    dedupe_key = (dedupe_key or "").strip()
    if not dedupe_key or len(dedupe_key) > 200:
        raise MessageRefused("A message needs a key of at most 200 characters.", code="bad_key")
    if actor is not None and actor.organization_id != patient.organization_id:
        raise NotFound("That patient does not exist or is not available to you.")

    existing = Message.objects.filter(
        organization_id=patient.organization_id, dedupe_key=dedupe_key
    ).first()
    if existing is not None:
        return existing

    if channel == Channel.SMS:
        address = patient_sms_number(patient)
        if address is None:
            raise MessageRefused(
                "This patient has no valid mobile number to text.", code="no_number"
            )
    else:
        address = (patient.email or "").strip().lower()
        if not address:
            raise MessageRefused("This patient has no email address.", code="no_address")
    preference = preference_for(organization=patient.organization, channel=channel, address=address)
    if preference is not None and preference.opted_out:
        raise MessageRefused(
            "This patient has opted out of text messages (they replied "
            f"{preference.last_keyword or 'STOP'}). Nothing was sent; they can reply START to "
            "receive messages again.",
            code="opted_out",
        )
    if preference is not None and preference.consent == ContactPreference.Consent.REFUSED:
        raise MessageRefused(
            "This patient has not consented to messages on this channel.", code="no_consent"
        )

    subject, text, template_row = _render(
        patient=patient, channel=channel, template=template, body=body, context=context
    )
    limit = SMS_MAX_CHARS if channel == Channel.SMS else EMAIL_MAX_CHARS
    if len(text) > limit:
        raise MessageRefused(
            f"That message is too long (at most {limit} characters).", code="too_long"
        )
    count = segment_count(text) if channel == Channel.SMS else None
    conversation = conversation_for_patient(patient) if channel == Channel.SMS else None
    try:
        with transaction.atomic():
            message = Message.objects.create(
                organization_id=patient.organization_id,
                location_id=patient.home_location_id,
                patient=patient,
                conversation=conversation,
                channel=channel,
                direction=Direction.OUTBOUND,
                purpose=purpose,
                template=template_row,
                subject=subject,
                body=text,
                to_address=address,
                status=MessageStatus.QUEUED,
                dedupe_key=dedupe_key,
                segments=count.segments if count else 0,
                encoding=count.encoding if count else "",
                sender=actor,
            )
    except IntegrityError:
        # Someone committed the same key meanwhile: theirs is the message.
        return Message.objects.get(organization_id=patient.organization_id, dedupe_key=dedupe_key)
    if conversation is not None:
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=message.created_at, archived_at=None
        )
    audit_record(
        actor=actor,
        action="message.queued",
        obj=message,
        organization=patient.organization,
        details={"channel": channel, "purpose": purpose},
    )
    deliver_after_commit(message.pk)
    return message


# ---------------------------------------------------------------- configuration


@transaction.atomic
def template_save(
    *, actor: User, key: str, name: str, body: str, channel: str = Channel.SMS
) -> MessageTemplate:
    """Create or replace the organization's template ``key``. Unknown placeholders are refused
    (``TemplateInvalid``), so a typo never reaches a patient."""
    template_check(body)
    row, created = MessageTemplate.objects.update_or_create(
        organization_id=actor.organization_id or 0,
        channel=channel,
        key=key,
        defaults={"name": name.strip(), "body": body.strip(), "is_active": True},
    )
    if created:
        MessageTemplate.objects.filter(pk=row.pk).update(created_by=actor)
    audit_record(actor=actor, action="template.saved", obj=row, details={"key": key[:60]})
    return row


@transaction.atomic
def comms_settings_save(*, actor: User, values: dict[str, Any]) -> CommsSettings:
    """Save the organization's gateway settings; an empty auth token keeps the saved one."""
    row, _ = CommsSettings.objects.select_for_update().get_or_create(
        organization_id=actor.organization_id or 0
    )
    for field in (
        "sms_gateway",
        "twilio_credentials_from_environment",
        "twilio_account_sid",
        "twilio_from_number",
        "twilio_messaging_service_sid",
        "help_reply",
    ):
        setattr(
            row,
            field,
            values.get(field) or ("" if field != "twilio_credentials_from_environment" else False),
        )
    if values.get("twilio_auth_token"):
        row.twilio_auth_token = values["twilio_auth_token"]
    row.save()
    audit_record(
        actor=actor, action="comms.settings_changed", obj=row, details={"gateway": row.sms_gateway}
    )
    return row
