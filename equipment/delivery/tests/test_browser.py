"""The technician's proof of delivery on a phone, in a real browser: today's tickets, start,
type the serial, draw the signature on the pad, confirm; the stock goes down, the serial is
the patient's and the stored signature is the drawn PNG."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.storage import storages
from django.urls import reverse
from PIL import Image

from equipment.delivery.models import ProofOfDelivery, TicketState
from equipment.delivery.services import ticket_schedule
from equipment.stock.models import SerialStatus, SerialUnit
from equipment.tests.factories import balance_of
from tests.browser.fixtures import signed_in_context

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 20000  # only keeps a broken test from hanging
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _phone_page(browser: Any, base: str, user: Any) -> Any:
    page = signed_in_context(browser, base, user, **PHONE).new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def test_technician_completes_a_delivery_with_a_drawn_signature_on_a_phone(
    browser, live_asgi, ticket, employee, technician, location, device, patient
):
    ticket_schedule(actor=employee, ticket=ticket)
    line = ticket.lines.get(item=device)
    page = _phone_page(browser, live_asgi, technician)

    page.goto(live_asgi + reverse("equipment:my_deliveries"))
    card = page.locator(f"#ticket-{ticket.public_id}")
    card.locator("text=Start delivery").click()
    page.wait_for_selector("canvas[data-signature-pad]", timeout=WAIT_MS)

    for box in page.locator(".delivery-lines input[type=checkbox]").all():
        box.check()
    page.fill(f"textarea[name=serials-{line.pk}]", "SN2")
    canvas = page.locator("canvas[data-signature-pad]")
    canvas.scroll_into_view_if_needed()
    pad = canvas.bounding_box()  # in the viewport's coordinates, where the mouse moves
    assert pad is not None and pad["width"] <= 390
    page.mouse.move(pad["x"] + 20, pad["y"] + 40)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(pad["x"] + 20 + step * 20, pad["y"] + 40 + (step % 3) * 30)
    page.mouse.up()
    page.click("text=Confirm delivery")
    page.wait_for_selector(f"text=Ticket {ticket.reference} delivered.", timeout=WAIT_MS)

    ticket.refresh_from_db()
    assert ticket.state == TicketState.DELIVERED
    unit = SerialUnit.objects.get(serial_number="SN2")
    assert (unit.status, unit.patient_id) == (SerialStatus.ASSIGNED, patient.pk)
    assert balance_of(location, device).on_hand == 1
    proof = ProofOfDelivery.objects.get()
    with storages["default"].open(proof.signature_file) as stored:
        image = Image.open(io.BytesIO(stored.read())).convert("L")
    assert image.getextrema()[0] < 128  # the drawn stroke is in it, not a blank pad
    assert page.errors == []


def test_an_empty_pad_is_refused_with_a_message(browser, live_asgi, ticket, employee, technician):
    ticket_schedule(actor=employee, ticket=ticket)
    page = _phone_page(browser, live_asgi, technician)
    page.goto(live_asgi + reverse("equipment:my_deliveries"))
    page.locator("text=Start delivery").click()
    page.wait_for_selector("canvas[data-signature-pad]", timeout=WAIT_MS)
    page.click("text=Confirm delivery")
    page.wait_for_selector("text=The signature is missing.", timeout=WAIT_MS)
    assert not ProofOfDelivery.objects.exists()
