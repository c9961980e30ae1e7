"""Scoped reads of stock: the user's organization, and inside it the locations they work at
(every location for an ADMIN), through the one tenancy rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import F, QuerySet

from clinic.models import Location
from clinic.tenancy import scope_queryset

from .models import (
    Reservation,
    ReservationStatus,
    SerialEvent,
    SerialUnit,
    StockBalance,
    StockMovement,
)
from .permissions import DISPENSE_ROLES, MANAGE_ROLES, can_use_stock, location_ids_with

if TYPE_CHECKING:
    from clinic.models import User


def _scoped(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if not user.is_authenticated or not can_use_stock(user):
        return qs.none()
    return scope_queryset(qs, user)


def balances_visible_to(user: User) -> QuerySet[StockBalance]:
    return _scoped(StockBalance.objects.select_related("item", "location"), user)


def low_stock_visible_to(user: User) -> QuerySet[StockBalance]:
    """Balances whose available units (on hand minus reserved) are below the reorder point."""
    return (
        balances_visible_to(user)
        .filter(reorder_point__isnull=False, reorder_point__gt=F("on_hand") - F("reserved"))
        .order_by("location__name", "item__hcpcs", "item__name")
    )


def movements_visible_to(user: User) -> QuerySet[StockMovement]:
    return _scoped(
        StockMovement.objects.select_related("item", "location", "actor", "serial"), user
    )


def reservations_visible_to(user: User) -> QuerySet[Reservation]:
    return _scoped(Reservation.objects.select_related("item", "location"), user)


def active_reservations_visible_to(user: User) -> QuerySet[Reservation]:
    return reservations_visible_to(user).filter(status=ReservationStatus.ACTIVE)


def serials_visible_to(user: User) -> QuerySet[SerialUnit]:
    return _scoped(SerialUnit.objects.select_related("item", "location", "patient"), user)


def serial_history(unit: SerialUnit) -> QuerySet[SerialEvent]:
    """One unit's whole history, oldest first, with who, where and (ids only) which patient."""
    return unit.events.select_related("location", "actor", "patient").order_by("id")


def _locations(user: User, roles: frozenset[str]) -> QuerySet[Location]:
    locations = scope_queryset(Location.objects.filter(is_active=True), user, all_locations=True)
    if user.is_org_admin:
        return locations
    return locations.filter(pk__in=location_ids_with(user, roles))


def stock_manage_locations(user: User) -> QuerySet[Location]:
    """Where the user may receive, transfer, adjust, reserve and set reorder points."""
    return _locations(user, MANAGE_ROLES)


def stock_dispense_locations(user: User) -> QuerySet[Location]:
    """Where the user may dispense and take returns."""
    return _locations(user, DISPENSE_ROLES)


def transfer_target_locations(user: User) -> QuerySet[Location]:
    """Any active location of the organization may receive a transfer."""
    return scope_queryset(Location.objects.filter(is_active=True), user, all_locations=True)
