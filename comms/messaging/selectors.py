"""Scoped reads of comms: conversations a user may see, a patient's thread, inbox counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from clinic.errors import NotFound
from clinic.tenancy import scope_queryset
from comms.messaging.permissions import can_use_unassigned, unassigned_location_ids
from comms.models import Conversation, Message
from patients.record.selectors import patients_visible_to

if TYPE_CHECKING:
    from clinic.models import User


def conversations_visible_to(user: User) -> QuerySet[Conversation]:
    """Patients' conversations of the patients ``user`` may open, plus the unassigned ones of
    their locations (unassigned threads without a location: ADMINs and every EMPLOYEE)."""
    qs = scope_queryset(Conversation.objects.all(), user)
    visible = Q(patient__in=patients_visible_to(user).values("pk"))
    if can_use_unassigned(user):
        locations = unassigned_location_ids(user)
        unassigned = Q(patient__isnull=True)
        if locations is not None:
            unassigned &= Q(location_id__in=locations) | Q(location__isnull=True)
        visible |= unassigned
    return qs.filter(visible)


def conversation_get_visible(user: User, public_id: Any) -> Conversation:
    try:
        return (
            conversations_visible_to(user)
            .select_related("patient", "location")
            .get(public_id=public_id)
        )
    except (Conversation.DoesNotExist, ValueError) as exc:
        raise NotFound("That conversation does not exist or is not available to you.") from exc


def message_get_visible(user: User, public_id: Any) -> Message:
    try:
        return (
            Message.objects.filter(conversation__in=conversations_visible_to(user).values("pk"))
            .select_related("conversation", "patient")
            .get(public_id=public_id)
        )
    except (Message.DoesNotExist, ValueError) as exc:
        raise NotFound("That message does not exist or is not available to you.") from exc


def thread_messages(conversation: Conversation, *, limit: int = 50) -> list[Message]:
    """The latest ``limit`` messages, oldest first (as a conversation reads)."""
    rows = list(
        conversation.messages.select_related("sender").order_by("-created_at", "-id")[:limit]
    )
    rows.reverse()
    return rows
