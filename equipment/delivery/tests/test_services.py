from __future__ import annotations

from datetime import date

import pytest

from clinic.errors import PermissionDenied
from clinic.models import AuditEvent, OutboxEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from equipment.delivery import services
from equipment.delivery.models import DeliveryTicket, ProofOfDelivery, TicketState
from equipment.delivery.services import (
    LineIn,
    TicketInvalid,
    ticket_cancel,
    ticket_create,
    ticket_deliver,
    ticket_dispatch,
    ticket_fail,
    ticket_schedule,
)
from equipment.fleet.models import PatientEquipment
from equipment.stock.models import ReservationStatus, SerialStatus, SerialUnit
from equipment.stock.services import InsufficientStock
from equipment.tests.factories import balance_of, png_data_url

pytestmark = pytest.mark.django_db


def out_for_delivery(ticket, employee, technician):
    ticket_schedule(actor=employee, ticket=ticket)
    return ticket_dispatch(actor=technician, ticket=ticket)


def deliver(ticket, technician, signature, serials=("SN1",), **kwargs):
    device_line = ticket.lines.get(item__serialized=True)
    return ticket_deliver(
        actor=technician,
        ticket=ticket,
        recipient_name=kwargs.pop("recipient_name", "Pat Holder"),
        relationship=kwargs.pop("relationship", "self"),
        signature_data_url=signature,
        serial_numbers={device_line.pk: list(serials)},
        **kwargs,
    )


def snapshot(location, item, device):
    return (
        balance_of(location, item).on_hand,
        balance_of(location, item).reserved,
        balance_of(location, device).on_hand,
        SerialUnit.objects.filter(status=SerialStatus.ASSIGNED).count(),
        PatientEquipment.objects.count(),
        ProofOfDelivery.objects.count(),
        OutboxEvent.objects.filter(name="delivery.completed").count(),
    )


def test_a_ticket_is_created_as_a_draft_with_hcpcs_and_the_patients_address(ticket, patient):
    assert ticket.state == TicketState.DRAFT
    assert ticket.address == "12 Harbor Road, Mystic, CT, 06355"
    assert sorted(ticket.lines.values_list("hcpcs", flat=True)) == ["A7030", "E0601"]
    assert patient.assignments.filter(technician=ticket.technician).exists()


def test_scheduling_reserves_every_line(ticket, employee, location, item, device):
    ticket_schedule(actor=employee, ticket=ticket)
    assert balance_of(location, item).reserved == 2
    assert balance_of(location, device).reserved == 1
    ticket.refresh_from_db()
    assert ticket.state == TicketState.SCHEDULED


def test_scheduling_when_stock_is_short_reserves_nothing(
    stocked, employee, location, patient, physician, item, device, technician
):
    ticket = ticket_create(
        actor=employee,
        location=location,
        patient=patient,
        physician=physician,
        date_of_service=date.today(),
        method="home",
        technician=technician,
        lines=[LineIn(item=item, quantity=2), LineIn(item=device, quantity=3)],
    )
    with pytest.raises(InsufficientStock):
        ticket_schedule(actor=employee, ticket=ticket)
    ticket.refresh_from_db()
    assert ticket.state == TicketState.DRAFT
    assert balance_of(location, item).reserved == 0


def test_a_home_delivery_needs_a_technician(stocked, employee, location, patient, physician, item):
    ticket = ticket_create(
        actor=employee,
        location=location,
        patient=patient,
        physician=physician,
        date_of_service=date.today(),
        method="home",
        lines=[LineIn(item=item, quantity=1)],
    )
    with pytest.raises(TicketInvalid, match="needs a technician"):
        ticket_schedule(actor=employee, ticket=ticket)
    assert balance_of(location, item).reserved == 0


def test_delivery_dispenses_assigns_records_and_emits_in_one_go(
    ticket, employee, technician, location, item, device, patient, signature
):
    out_for_delivery(ticket, employee, technician)
    proof = deliver(ticket, technician, signature)
    ticket.refresh_from_db()
    assert ticket.state == TicketState.DELIVERED and ticket.delivered_at is not None
    assert (balance_of(location, item).on_hand, balance_of(location, item).reserved) == (3, 0)
    assert balance_of(location, device).on_hand == 1
    unit = SerialUnit.objects.get(serial_number="SN1")
    assert (unit.status, unit.patient_id) == (SerialStatus.ASSIGNED, patient.pk)
    records = PatientEquipment.objects.filter(patient=patient, delivery_ticket_id=ticket.pk)
    assert {(r.item_id, r.serial_id, r.acquisition) for r in records} == {
        (item.pk, None, "purchase"),
        (device.pk, unit.pk, "rental"),
    }
    assert len(proof.signature_sha256) == 64 and proof.technician == technician
    event = OutboxEvent.objects.get(name="delivery.completed")
    assert event.payload == {
        "ticket_id": ticket.pk,
        "patient_id": patient.pk,
        "location_id": location.pk,
        "proof_id": proof.pk,
    }
    assert AuditEvent.objects.filter(action="delivery.delivered").count() == 1
    assert not ticket.lines.filter(reservation__status=ReservationStatus.ACTIVE).exists()


def test_a_wrong_serial_delivers_nothing(
    ticket, employee, technician, location, item, device, signature
):
    out_for_delivery(ticket, employee, technician)
    before = snapshot(location, item, device)
    with pytest.raises(Exception, match="Not in stock here"):
        deliver(ticket, technician, signature, serials=("NOPE",))
    assert snapshot(location, item, device) == before
    ticket.refresh_from_db()
    assert ticket.state == TicketState.OUT_FOR_DELIVERY


def test_a_failure_at_the_last_step_rolls_back_the_dispense_and_the_proof(
    ticket, employee, technician, location, item, device, signature, monkeypatch
):
    out_for_delivery(ticket, employee, technician)
    before = snapshot(location, item, device)

    def broken(**kwargs):
        raise RuntimeError("outbox down")

    monkeypatch.setattr(services, "event_record", broken)
    with pytest.raises(RuntimeError):
        deliver(ticket, technician, signature)
    assert snapshot(location, item, device) == before
    assert SerialUnit.objects.get(serial_number="SN1").status == SerialStatus.IN_STOCK


@pytest.mark.parametrize(
    ("data_url", "message"),
    [
        ("", "missing"),
        ("data:image/jpeg;base64,AAAA", "must be a PNG"),
        ("data:image/png;base64,@@@not-base64", "could not be read"),
        ("data:image/png;base64,SGVsbG8gd29ybGQ=", "not a usable image"),
    ],
)
def test_a_bad_signature_is_refused_with_nothing_written(
    ticket, employee, technician, location, item, device, data_url, message
):
    out_for_delivery(ticket, employee, technician)
    before = snapshot(location, item, device)
    with pytest.raises(TicketInvalid, match=message):
        deliver(ticket, technician, data_url)
    assert snapshot(location, item, device) == before


def test_staff_may_not_sign_for_the_patient(ticket, employee, technician, signature):
    out_for_delivery(ticket, employee, technician)
    with pytest.raises(TicketInvalid, match="may not sign"):
        deliver(ticket, technician, signature, recipient_name=technician.full_name.upper())


@pytest.mark.parametrize("step", ["dispatch", "deliver", "fail"])
def test_a_draft_cannot_skip_ahead_and_nothing_is_written(
    ticket, technician, employee, step, signature
):
    audits = AuditEvent.objects.count()
    with pytest.raises(TicketInvalid, match="is draft"):
        if step == "dispatch":
            ticket_dispatch(actor=technician, ticket=ticket)
        elif step == "deliver":
            deliver(ticket, technician, signature)
        else:
            ticket_fail(actor=technician, ticket=ticket, reason="Nobody home")
    ticket.refresh_from_db()
    assert ticket.state == TicketState.DRAFT
    assert AuditEvent.objects.count() == audits


def test_a_delivered_ticket_cannot_be_cancelled_or_delivered_again(
    ticket, employee, technician, signature
):
    out_for_delivery(ticket, employee, technician)
    deliver(ticket, technician, signature)
    with pytest.raises(TicketInvalid):
        ticket_cancel(actor=employee, ticket=ticket)
    with pytest.raises(TicketInvalid):
        deliver(ticket, technician, png_data_url())
    assert ProofOfDelivery.objects.count() == 1


def test_a_failed_delivery_releases_the_stock(ticket, employee, technician, location, item):
    out_for_delivery(ticket, employee, technician)
    with pytest.raises(TicketInvalid, match="Say why"):
        ticket_fail(actor=technician, ticket=ticket, reason=" ")
    ticket_fail(actor=technician, ticket=ticket, reason="Nobody home")
    ticket.refresh_from_db()
    assert (ticket.state, ticket.failure_reason) == (TicketState.FAILED, "Nobody home")
    assert balance_of(location, item).reserved == 0


def test_cancelling_a_scheduled_ticket_releases_the_stock(ticket, employee, location, device):
    ticket_schedule(actor=employee, ticket=ticket)
    ticket_cancel(actor=employee, ticket=ticket, reason="Patient declined")
    assert balance_of(location, device).reserved == 0
    assert DeliveryTicket.objects.get().state == TicketState.CANCELLED


def test_an_in_clinic_pickup_is_delivered_from_scheduled(
    stocked, employee, location, patient, physician, item, signature
):
    ticket = ticket_create(
        actor=employee,
        location=location,
        patient=patient,
        physician=physician,
        date_of_service=date.today(),
        method="pickup",
        lines=[LineIn(item=item, quantity=1)],
    )
    ticket_schedule(actor=employee, ticket=ticket)
    ticket_deliver(
        actor=employee,
        ticket=ticket,
        recipient_name="Sam Holder",
        relationship="spouse",
        signature_data_url=signature,
    )
    assert DeliveryTicket.objects.get().state == TicketState.DELIVERED


def test_only_the_assigned_technician_works_a_ticket(ticket, employee, location, signature):
    other = staff_user(role=Role.FIELD_TECHNICIAN, location=location)
    ticket_schedule(actor=employee, ticket=ticket)
    with pytest.raises(PermissionDenied):
        ticket_dispatch(actor=other, ticket=ticket)
    assert DeliveryTicket.objects.get().state == TicketState.SCHEDULED


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.CLINICIAN, Role.SUPPORT])
def test_only_office_staff_create_tickets(stocked, location, patient, physician, item, role):
    user = staff_user(role=role, location=location)
    with pytest.raises(PermissionDenied):
        ticket_create(
            actor=user,
            location=location,
            patient=patient,
            physician=physician,
            date_of_service=date.today(),
            method="shipped",
            lines=[LineIn(item=item, quantity=1)],
        )
    assert not DeliveryTicket.objects.exists()


def test_another_organization_cannot_touch_a_ticket(ticket):
    outsider = staff_user(role=Role.ADMIN, location=LocationFactory())
    with pytest.raises(PermissionDenied):
        ticket_schedule(actor=outsider, ticket=ticket)
    with pytest.raises(PermissionDenied):
        ticket_cancel(actor=outsider, ticket=ticket)
    assert DeliveryTicket.objects.get().state == TicketState.DRAFT


def test_a_bad_line_writes_no_ticket(stocked, employee, location, patient, physician, item):
    with pytest.raises(TicketInvalid, match="between 1 and 100"):
        ticket_create(
            actor=employee,
            location=location,
            patient=patient,
            physician=physician,
            date_of_service=date.today(),
            method="shipped",
            lines=[LineIn(item=item, quantity=0)],
        )
    assert not DeliveryTicket.objects.exists()
