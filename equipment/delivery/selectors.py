"""Scoped reads of delivery tickets: the organization and locations rule first, then office
staff see their locations' tickets and a technician only the tickets given to them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, Q, QuerySet

from clinic.errors import NotFound
from clinic.tenancy import scope_queryset
from equipment.stock.permissions import MANAGE_ROLES, location_ids_with

from .models import OPEN_STATES, DeliveryLine, DeliveryTicket, TicketState

if TYPE_CHECKING:
    from clinic.models import User


def tickets_visible_to(user: User) -> QuerySet[DeliveryTicket]:
    qs = scope_queryset(DeliveryTicket.objects.all(), user)
    if user.is_org_admin:
        return qs
    return qs.filter(Q(location__in=location_ids_with(user, MANAGE_ROLES)) | Q(technician=user))


def ticket_get_visible(user: User, public_id: Any) -> DeliveryTicket:
    try:
        return (
            tickets_visible_to(user)
            .select_related("patient", "location", "physician", "technician")
            .prefetch_related(
                Prefetch("lines", queryset=DeliveryLine.objects.select_related("item"))
            )
            .get(public_id=public_id)
        )
    except (DeliveryTicket.DoesNotExist, ValueError) as exc:
        raise NotFound("That delivery ticket does not exist.") from exc


def technician_day(user: User, day: date) -> QuerySet[DeliveryTicket]:
    """The technician's tickets of ``day``: open ones first, then the ones done."""
    return (
        tickets_visible_to(user)
        .filter(technician=user, date_of_service=day)
        .filter(state__in=[*OPEN_STATES, TicketState.DELIVERED, TicketState.FAILED])
        .exclude(state=TicketState.DRAFT)
        .select_related("patient", "location")
        .prefetch_related(Prefetch("lines", queryset=DeliveryLine.objects.select_related("item")))
        .order_by("state", "id")
    )
