"""The equipment app's models, gathered for Django's discovery; each lives in its sub-domain."""

from equipment.catalog.models import Item, ItemKind
from equipment.stock.models import (
    AdjustReason,
    MovementKind,
    Reservation,
    ReservationStatus,
    SerialEvent,
    SerialEventKind,
    SerialStatus,
    SerialUnit,
    StockBalance,
    StockMovement,
)

__all__ = [
    "AdjustReason",
    "Item",
    "ItemKind",
    "MovementKind",
    "Reservation",
    "ReservationStatus",
    "SerialEvent",
    "SerialEventKind",
    "SerialStatus",
    "SerialUnit",
    "StockBalance",
    "StockMovement",
]
