"""Who may do what with delivery tickets.

- Office staff who manage stock at the ticket's location (an organization ADMIN, or an EMPLOYEE
  there) create, schedule, cancel and also work tickets;
- the FIELD_TECHNICIAN a ticket is assigned to (and who may dispense at its location) takes it
  out, delivers it with proof, or reports it failed;
- nobody else sees tickets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from equipment.stock.permissions import can_dispense_at, can_manage_stock_at

if TYPE_CHECKING:
    from clinic.models import Location, User

    from .models import DeliveryTicket


def can_manage_tickets_at(user: User, location: Location) -> bool:
    return can_manage_stock_at(user, location)


def can_work_ticket(user: User, ticket: DeliveryTicket) -> bool:
    if can_manage_tickets_at(user, ticket.location):
        return True
    return ticket.technician_id == user.pk and can_dispense_at(user, ticket.location)
