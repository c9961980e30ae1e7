"""Outbox reactions of stock: a balance that fell below its reorder point notifies the people
who reorder (the organization's ADMINs and the location's office staff), live in their bell."""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse

from clinic.events.services import event_handler
from clinic.models import OutboxEvent, Role, User
from clinic.notifications.services import notification_send

from .models import StockBalance
from .services import LOW_STOCK_EVENT


def low_stock_recipients(balance: StockBalance) -> list[User]:
    return list(
        User.objects.filter(is_active=True, organization_id=balance.organization_id)
        .filter(
            Q(memberships__role=Role.ADMIN, memberships__location__is_active=True)
            | Q(memberships__role=Role.EMPLOYEE, memberships__location_id=balance.location_id)
        )
        .distinct()
        .order_by("pk")
    )


@event_handler(LOW_STOCK_EVENT)
def low_stock_notify(event: OutboxEvent) -> None:
    balance = (
        StockBalance.objects.select_related("item", "location", "location__organization")
        .filter(pk=event.payload.get("balance_id"))
        .first()
    )
    if balance is None:
        return
    available = int(event.payload.get("available", balance.available))
    title = f"Low stock: {balance.item.hcpcs} at {balance.location.name}"[:200]
    body = f"{balance.item.name}: {available} available, reorder point {balance.reorder_point}."
    for user in low_stock_recipients(balance):
        notification_send(
            actor=None,
            recipient=user,
            kind="equipment.low_stock",
            title=title,
            body=body[:500],
            url=reverse("equipment:low_stock"),
        )
