"""Staff actions on conversations: mark read, archive, and choose the patient of an unassigned
message. Each is audited and tells open pages through the comms stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, NotFound
from clinic.events.services import event_record
from comms.messaging.permissions import can_message_patient, can_use_unassigned
from comms.messaging.services import conversation_for_patient
from comms.messaging.stream import comms_publish
from comms.models import Conversation, Direction, Message

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


def _latest(conversation: Conversation) -> Message | None:
    return (
        conversation.messages.select_related("organization", "patient", "conversation")
        .order_by("-created_at", "-id")
        .first()
    )


@transaction.atomic
def conversation_mark_read(*, actor: User, conversation: Conversation) -> int:
    """Mark every inbound message of the conversation read. Returns how many were unread."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    now = timezone.now()
    changed = Message.objects.filter(
        conversation=locked, direction=Direction.INBOUND, read_at__isnull=True
    ).update(read_at=now)
    if locked.unread_count:
        Conversation.objects.filter(pk=locked.pk).update(unread_count=0)
    if changed or locked.unread_count:
        audit_record(
            actor=actor, action="conversation.read", obj=locked, details={"messages": changed}
        )
        latest = _latest(locked)
        if latest is not None:
            comms_publish(message=latest, change="read")
    return changed


@transaction.atomic
def conversation_archive(*, actor: User, conversation: Conversation, archived: bool = True) -> None:
    """Archive (or bring back) a conversation; a new incoming message brings it back too."""
    Conversation.objects.filter(pk=conversation.pk).update(
        archived_at=timezone.now() if archived else None
    )
    audit_record(
        actor=actor,
        action="conversation.archived" if archived else "conversation.restored",
        obj=conversation,
    )
    latest = _latest(conversation)
    if latest is not None:
        comms_publish(message=latest, change="archive")


@transaction.atomic
def message_assign(*, actor: User, message: Message, patient: Patient) -> Message:
    """File an unassigned incoming message under ``patient`` (staff chose who sent it)."""
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("conversation", "organization")
        .get(pk=message.pk)
    )
    if message.patient_id is not None or message.direction != Direction.INBOUND:
        raise ApplicationError("That message already belongs to a patient.", code="assigned")
    if not can_use_unassigned(actor) or patient.organization_id != message.organization_id:
        raise NotFound("That patient does not exist or is not available to you.")
    if not can_message_patient(actor, patient):
        raise NotFound("That patient does not exist or is not available to you.")
    source = message.conversation
    target = conversation_for_patient(patient)
    unread = 1 if message.read_at is None else 0
    message.patient = patient
    message.conversation = target
    message.location_id = patient.home_location_id
    message.candidate_patient_ids = []
    message.save(
        update_fields=["patient", "conversation", "location", "candidate_patient_ids", "updated_at"]
    )
    if source is not None and unread:
        Conversation.objects.filter(pk=source.pk, unread_count__gt=0).update(
            unread_count=F("unread_count") - 1
        )
    Conversation.objects.filter(pk=target.pk).update(
        unread_count=F("unread_count") + unread, last_message_at=timezone.now(), archived_at=None
    )
    audit_record(
        actor=actor,
        action="message.assigned",
        obj=message,
        details={"patient": str(patient.public_id)},
    )
    event_record(
        name="comms.sms_received",
        organization=message.organization,
        aggregate=message,
        payload={"message": str(message.public_id)},
    )
    message.patient = patient
    comms_publish(message=message, change="assigned")
    return message
