"""The same ticket completed from several phones (and the office) at the same moment, each on
its own database connection: exactly one delivery wins, the others are told it is delivered,
and the stock, the serial, the proof and the outbox event exist once."""

from __future__ import annotations

import pytest

from clinic.models import OutboxEvent
from equipment.delivery.models import ProofOfDelivery, TicketState
from equipment.delivery.services import (
    TicketInvalid,
    ticket_deliver,
    ticket_dispatch,
    ticket_schedule,
)
from equipment.fleet.models import PatientEquipment
from equipment.stock.tests.test_race import race
from equipment.tests.factories import balance_of, png_data_url

ATTEMPTS = 8


@pytest.mark.django_db(transaction=True)
def test_one_of_many_simultaneous_deliveries_of_a_ticket_wins(
    ticket, employee, technician, location, item, device
):
    ticket_schedule(actor=employee, ticket=ticket)
    ticket_dispatch(actor=technician, ticket=ticket)
    line = ticket.lines.get(item=device)
    signature = png_data_url()

    won, refused = race(
        lambda i: ticket_deliver(
            actor=technician if i % 2 else employee,
            ticket=ticket,
            recipient_name=f"Recipient {i}",
            relationship="spouse",
            signature_data_url=signature,
            serial_numbers={line.pk: ["SN1"]},
        ),
        ATTEMPTS,
    )

    assert len(won) == 1
    assert len(refused) == ATTEMPTS - 1
    assert all(isinstance(e, TicketInvalid) for e in refused), {type(e) for e in refused}
    ticket.refresh_from_db()
    assert ticket.state == TicketState.DELIVERED
    assert ProofOfDelivery.objects.count() == 1
    assert OutboxEvent.objects.filter(name="delivery.completed").count() == 1
    assert PatientEquipment.objects.count() == 2
    assert (balance_of(location, item).on_hand, balance_of(location, item).reserved) == (3, 0)
    assert balance_of(location, device).on_hand == 1
