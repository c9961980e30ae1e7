from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from equipment.delivery.models import DeliveryTicket, ProofOfDelivery, TicketState
from equipment.delivery.services import LineIn, ticket_create, ticket_dispatch, ticket_schedule
from equipment.stock.models import SerialStatus, SerialUnit
from equipment.tests.factories import balance_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduled(ticket, employee):
    return ticket_schedule(actor=employee, ticket=ticket)


def complete_url(ticket):
    return reverse("equipment:ticket_complete", kwargs={"public_id": ticket.public_id})


def device_line(ticket):
    return ticket.lines.get(item__serialized=True)


def test_the_technician_sees_todays_tickets_and_starts_one(
    signed_in, technician, scheduled, patient
):
    client = signed_in(technician)
    page = client.get(reverse("equipment:my_deliveries"))
    assert page.status_code == 200
    assert patient.last_name.encode() in page.content and b"Start delivery" in page.content
    assert AuditEvent.objects.filter(
        action="patient.viewed", object_id=str(patient.public_id)
    ).exists()
    response = client.post(
        reverse("equipment:ticket_start", kwargs={"public_id": scheduled.public_id})
    )
    assert response.status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.state == TicketState.OUT_FOR_DELIVERY


def test_the_technician_completes_a_ticket_with_a_signature(
    signed_in, technician, scheduled, signature, patient
):
    ticket_dispatch(actor=technician, ticket=scheduled)
    client = signed_in(technician)
    page = client.get(complete_url(scheduled))
    assert page.status_code == 200 and b"data-signature-pad" in page.content
    assert b"In stock here: SN1, SN2" in page.content
    response = client.post(
        complete_url(scheduled),
        {
            "signer": "patient",
            "signature": signature,
            f"serials-{device_line(scheduled).pk}": "SN2",
        },
    )
    assert response.status_code == 302
    proof = ProofOfDelivery.objects.get()
    assert (proof.relationship, proof.recipient_name) == (
        "self",
        f"{patient.first_name} {patient.last_name}",
    )
    assert SerialUnit.objects.get(serial_number="SN2").status == SerialStatus.ASSIGNED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"signer": "patient", "signature": ""}, b"signature is missing"),
        ({"signer": "patient", "signature": "data:text/html;base64,PGI+"}, b"must be a PNG"),
        ({"signer": "representative", "representative_name": "Sam"}, b"relationship"),
        ({"signer": "robot"}, b"Select a valid choice"),
    ],
)
def test_bad_input_is_a_400_with_a_message_and_nothing_delivered(
    signed_in, technician, scheduled, data, message
):
    ticket_dispatch(actor=technician, ticket=scheduled)
    response = signed_in(technician).post(
        complete_url(scheduled), {**data, f"serials-{device_line(scheduled).pk}": "SN1"}
    )
    assert response.status_code == 400
    assert message in response.content
    scheduled.refresh_from_db()
    assert scheduled.state == TicketState.OUT_FOR_DELIVERY
    assert not ProofOfDelivery.objects.exists()


def test_an_unknown_serial_is_a_400_and_the_typed_serial_stays(
    signed_in, technician, scheduled, signature
):
    ticket_dispatch(actor=technician, ticket=scheduled)
    response = signed_in(technician).post(
        complete_url(scheduled),
        {
            "signer": "patient",
            "signature": signature,
            f"serials-{device_line(scheduled).pk}": "ZZ9",
        },
    )
    assert response.status_code == 400
    assert b"Not in stock here: ZZ9" in response.content
    assert b">ZZ9</textarea>" in response.content


def test_reporting_a_failure_needs_a_reason(signed_in, technician, scheduled):
    ticket_dispatch(actor=technician, ticket=scheduled)
    url = reverse("equipment:ticket_fail", kwargs={"public_id": scheduled.public_id})
    client = signed_in(technician)
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "Nobody home"}).status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.state == TicketState.FAILED


def test_other_technicians_and_organizations_get_404(signed_in, scheduled, location, signature):
    other_tech = staff_user(role=Role.FIELD_TECHNICIAN, location=location)
    outsider = staff_user(role=Role.ADMIN, location=LocationFactory())
    clinician = staff_user(role=Role.CLINICIAN, location=location)
    for user in (other_tech, outsider, clinician):
        client = signed_in(user)
        assert client.get(complete_url(scheduled)).status_code == 404
        start = reverse("equipment:ticket_start", kwargs={"public_id": scheduled.public_id})
        assert client.post(start).status_code == 404
    scheduled.refresh_from_db()
    assert scheduled.state == TicketState.SCHEDULED
    assert signed_in(other_tech).get(reverse("equipment:my_deliveries")).status_code == 200
    assert signed_in(clinician).get(reverse("equipment:my_deliveries")).status_code == 404


def new_url(patient):
    return reverse("equipment:ticket_new") + f"?patient={patient.public_id}"


def test_office_staff_create_schedule_and_cancel_a_ticket_through_the_pages(
    signed_in, employee, stocked, patient, physician, item, device, technician, location
):
    client = signed_in(employee)
    assert client.get(new_url(patient)).status_code == 200
    response = client.post(
        new_url(patient),
        {
            "location": location.pk,
            "physician": physician.pk,
            "date_of_service": "2026-03-02",
            "method": "home",
            "technician": technician.pk,
            "item_1": item.pk,
            "quantity_1": 2,
            "acquisition_1": "purchase",
            "item_2": device.pk,
            "quantity_2": 1,
            "acquisition_2": "rental",
            "acquisition_3": "purchase",
            "acquisition_4": "purchase",
        },
    )
    assert response.status_code == 302
    ticket = DeliveryTicket.objects.get()
    assert ticket.lines.count() == 2 and ticket.address.startswith("12 Harbor Road")
    detail = client.get(reverse("equipment:ticket", kwargs={"public_id": ticket.public_id}))
    assert physician.npi.encode() in detail.content
    client.post(reverse("equipment:ticket_schedule", kwargs={"public_id": ticket.public_id}))
    assert balance_of(location, item).reserved == 2
    again = client.post(
        reverse("equipment:ticket_schedule", kwargs={"public_id": ticket.public_id})
    )
    assert again.status_code == 400 and b"is scheduled" in again.content
    client.post(
        reverse("equipment:ticket_cancel", kwargs={"public_id": ticket.public_id}),
        {"reason": "Declined"},
    )
    ticket.refresh_from_db()
    assert ticket.state == TicketState.CANCELLED and balance_of(location, item).reserved == 0
    listing = client.get(reverse("equipment:tickets"))
    assert ticket.reference.encode() in listing.content


def test_a_ticket_without_items_is_a_400_with_a_message(
    signed_in, employee, patient, physician, location
):
    response = signed_in(employee).post(
        new_url(patient),
        {
            "location": location.pk,
            "physician": physician.pk,
            "date_of_service": "2026-03-02",
            "method": "pickup",
            "acquisition_1": "purchase",
        },
    )
    assert response.status_code == 400
    assert b"This field is required" in response.content
    assert not DeliveryTicket.objects.exists()


def test_technicians_and_clinicians_have_no_office_pages(signed_in, ticket, technician, location):
    clinician = staff_user(role=Role.CLINICIAN, location=location)
    for user in (technician, clinician):
        client = signed_in(user)
        assert client.get(reverse("equipment:tickets")).status_code == 404
        url = reverse("equipment:ticket_schedule", kwargs={"public_id": ticket.public_id})
        assert client.post(url).status_code == 404
    ticket.refresh_from_db()
    assert ticket.state == TicketState.DRAFT


def test_a_new_ticket_without_a_patient_is_a_404(signed_in, employee):
    client = signed_in(employee)
    assert client.get(reverse("equipment:ticket_new")).status_code == 404
    assert client.get(reverse("equipment:ticket_new") + "?patient=nope").status_code == 404


def test_the_ticket_list_takes_a_constant_number_of_queries(
    signed_in, employee, ticket, patient, physician, item, location, django_assert_max_num_queries
):
    client = signed_in(employee)
    client.get(reverse("equipment:tickets"))
    with django_assert_max_num_queries(40) as few:
        client.get(reverse("equipment:tickets"))
    for _ in range(5):
        ticket_create(
            actor=employee,
            location=location,
            patient=patient,
            physician=physician,
            date_of_service=ticket.date_of_service,
            method="pickup",
            lines=[LineIn(item=item, quantity=1)],
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("equipment:tickets"))
    assert response.content.count(b"DT-") == 6
