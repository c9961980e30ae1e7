"""What Twilio tells us: delivery status callbacks and incoming text messages.

Both are called by the webhook views after the signature has been verified. Each delivery is
claimed once in ``WebhookReceipt`` (by Twilio's idempotency token and by message SID + status),
so a replayed webhook has no second effect. Incoming messages are matched to patients by number:
one match joins that patient's conversation (and records ``comms.sms_received``); several go to
the unassigned inbox with the candidates for staff to choose from; none go there too. Opt-out
keywords (DOMAIN.md) change the number's preference; HELP is answered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.events.services import event_record
from clinic.models import Membership, Role
from clinic.notifications.services import notification_send
from clinic.phones import phone_or_none
from comms.messaging.preferences import preference_opt_out
from comms.messaging.stream import comms_publish
from comms.models import (
    STATUS_RANK,
    Channel,
    CommsSettings,
    ContactPreference,
    Conversation,
    Direction,
    LocationSender,
    Message,
    MessageStatus,
)
from comms.sms.text import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    keyword_of,
)
from patients.models import Patient

if TYPE_CHECKING:
    from clinic.models import Organization, User

logger = logging.getLogger(__name__)

NOTIFY_ROLES = (Role.EMPLOYEE, Role.CLINICIAN)


class Replay(Exception):
    """This webhook delivery was already applied."""


def _claim(organization: Organization, keys: list[str]) -> None:
    """Insert every receipt key or none (raises ``Replay`` when one was seen before)."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            for key in keys:
                cur.execute(
                    """
                        INSERT INTO comms_webhookreceipt (organization_id, key, received_at)
                        VALUES (%s, %s, now()) ON CONFLICT (organization_id, key) DO NOTHING
                        RETURNING id
                        """,
                    [organization.pk, key[:200]],
                )
                if cur.fetchone() is None:
                    raise Replay
    except Replay:
        raise
    except IntegrityError as exc:  # pragma: no cover - ON CONFLICT covers the race
        raise Replay from exc


def _keys(token: str, *rest: str) -> list[str]:
    keys = [f"token:{token}"] if token else []
    return keys + list(rest)


# ---------------------------------------------------------------- status callbacks


@transaction.atomic
def sms_status_update(
    *, organization: Organization, sid: str, status: str, error_code: str = "", token: str = ""
) -> Message | None:
    """Apply one status callback. A status never moves a message backwards (callbacks may come
    late or out of order); a replay (same token, or same SID and status) does nothing."""
    status = (status or "").strip().lower()
    if status not in STATUS_RANK or not sid:
        return None
    try:
        _claim(organization, _keys(token, f"status:{sid}:{status}"))
    except Replay:
        return None
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("organization", "patient", "conversation")
        .filter(organization=organization, channel=Channel.SMS, provider_sid=sid)
        .first()
    )
    if message is None:
        return None
    if STATUS_RANK[status] <= STATUS_RANK.get(message.status, 0):
        return message
    now = timezone.now()
    message.status = status
    message.status_at = now
    fields = ["status", "status_at", "updated_at"]
    if status == MessageStatus.DELIVERED:
        message.delivered_at = now
        fields.append("delivered_at")
    if status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        message.error_code = (error_code or "")[:20]
        message.error_message = "The carrier could not deliver this message."
        fields += ["error_code", "error_message"]
    message.save(update_fields=fields)
    comms_publish(message=message, change="status")
    return message


# ---------------------------------------------------------------- incoming messages


def _location_for_number(organization: Organization, to: str) -> int | None:
    return (
        LocationSender.objects.filter(organization=organization, from_number=to)
        .values_list("location_id", flat=True)
        .first()
    )


def message_recipients(organization: Organization, location_id: int | None) -> list[User]:
    """The staff to tell about a new message: the location's office staff and clinicians,
    or the organization's ADMINs when no location is known."""
    if location_id is not None:
        members = Membership.objects.filter(
            location_id=location_id, role__in=NOTIFY_ROLES, user__is_active=True
        )
    else:
        members = Membership.objects.filter(
            location__organization=organization, role=Role.ADMIN, user__is_active=True
        )
    users = {m.user_id: m.user for m in members.select_related("user")}
    return list(users.values())


def help_text(organization: Organization) -> str:
    row = CommsSettings.objects.filter(organization=organization).first()
    if row is not None and row.help_reply:
        return row.help_reply
    return (
        f"{organization.name}: for help call your clinic. Reply STOP to stop texts, "
        "START to receive them again."
    )


@transaction.atomic
def sms_receive(
    *,
    organization: Organization,
    from_number: str,
    to_number: str,
    body: str,
    sid: str,
    token: str = "",
) -> tuple[Message | None, str]:
    """Store one incoming SMS. Returns (message, reply text or "") — (None, "") for a replay."""
    try:
        _claim(organization, _keys(token, f"sms:{sid}"))
    except Replay:
        return None, ""
    sender = phone_or_none(from_number) or (from_number or "")[:20]
    to = phone_or_none(to_number) or (to_number or "")[:20]
    now = timezone.now()

    patients = list(
        organization_patients(organization)
        .filter(Q(phone_mobile=sender) | Q(phone_home=sender))
        .select_related("home_location")
        .order_by("id")[:20]
    )
    patient = patients[0] if len(patients) == 1 else None
    if patient is not None:
        conversation, _ = Conversation.objects.get_or_create(
            organization=organization,
            patient=patient,
            defaults={"location_id": patient.home_location_id},
        )
        location_id: int | None = patient.home_location_id
    else:
        location_id = _location_for_number(organization, to)
        if location_id is None and patients:
            homes = {p.home_location_id for p in patients}
            location_id = homes.pop() if len(homes) == 1 else None
        conversation, _ = Conversation.objects.get_or_create(
            organization=organization,
            patient=None,
            phone=sender,
            defaults={"location_id": location_id},
        )
    message = Message.objects.create(
        organization=organization,
        location_id=location_id,
        patient=patient,
        conversation=conversation,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        purpose="reply",
        body=(body or "")[:1600],
        from_address=sender,
        to_address=to,
        status=MessageStatus.RECEIVED,
        gateway="twilio",
        provider_sid=sid[:64],
        candidate_patient_ids=[p.pk for p in patients] if len(patients) > 1 else [],
        status_at=now,
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        unread_count=F("unread_count") + 1, last_message_at=now, archived_at=None
    )

    reply = ""
    keyword = keyword_of(body)
    if keyword in OPT_OUT_KEYWORDS:
        preference_opt_out(
            organization=organization, channel=Channel.SMS, address=sender, keyword=keyword
        )
        audit_record(
            actor=None,
            action="sms.opted_out",
            obj=message,
            organization=organization,
            details={"keyword": keyword},
        )
    elif keyword in OPT_IN_KEYWORDS:
        preference, _ = ContactPreference.objects.select_for_update().get_or_create(
            organization=organization, channel=Channel.SMS, address=sender
        )
        preference.opted_out = False
        preference.opted_in_at = now
        preference.last_keyword = keyword
        preference.save(update_fields=["opted_out", "opted_in_at", "last_keyword", "updated_at"])
        audit_record(
            actor=None,
            action="sms.opted_in",
            obj=message,
            organization=organization,
            details={"keyword": keyword},
        )
    elif keyword in HELP_KEYWORDS:
        reply = help_text(organization)
        Message.objects.create(
            organization=organization,
            location_id=location_id,
            patient=patient,
            conversation=conversation,
            channel=Channel.SMS,
            direction=Direction.OUTBOUND,
            purpose="help_reply",
            body=reply,
            to_address=sender,
            from_address=to,
            status=MessageStatus.SENT,
            gateway="twilio",
            sent_at=now,
            status_at=now,
        )

    if patient is not None:
        event_record(
            name="comms.sms_received",
            organization=organization,
            aggregate=message,
            payload={"message": str(message.public_id)},
        )
    comms_publish(message=message, change="inbound")
    url = (
        reverse("comms:patient", kwargs={"public_id": patient.public_id})
        if patient is not None
        else reverse("comms:inbox") + "?box=unassigned"
    )
    for recipient in message_recipients(organization, location_id):
        notification_send(
            actor=None, recipient=recipient, kind="comms.sms", title="New text message", url=url
        )
    return message, reply


def organization_patients(organization: Organization) -> Any:

    return Patient.objects.filter(organization=organization)
