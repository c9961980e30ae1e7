"""The equipment app's models, gathered for Django's discovery; each lives in its sub-domain."""

from equipment.catalog.models import Item, ItemKind
from equipment.delivery.models import (
    DeliveryLine,
    DeliveryMethod,
    DeliveryTicket,
    ProofOfDelivery,
    TicketState,
)
from equipment.fleet.models import Acquisition, MaskType, PatientEquipment, RentalMonth
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
    "Acquisition",
    "AdjustReason",
    "DeliveryLine",
    "DeliveryMethod",
    "DeliveryTicket",
    "Item",
    "ItemKind",
    "MaskType",
    "MovementKind",
    "PatientEquipment",
    "ProofOfDelivery",
    "RentalMonth",
    "Reservation",
    "ReservationStatus",
    "SerialEvent",
    "SerialEventKind",
    "SerialStatus",
    "SerialUnit",
    "StockBalance",
    "StockMovement",
    "TicketState",
]
