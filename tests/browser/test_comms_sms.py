"""Done means (issue 5, SMS): a staff member texts a patient from the patient's page; the fake
Twilio server (127.0.0.1, driven by the real twilio client) reports it delivered through a signed
status callback and the status changes on screen without a reload; the patient's reply appears
live in the conversation and in the unread counters; STOP opts the patient out and the next send
is refused with a clear message. A real ASGI server, Celery worker, Redis and Chromium.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from clinic.models import Role
from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401
from comms.models import ContactPreference, Message
from comms.tests.factories import SENDER, SmsPatientFactory, twilio_settings_for
from comms.tests.fake_twilio import fake_twilio_server
from tests.browser.fixtures import signed_in_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 20000  # only keeps a broken test from hanging
PHONE = "+12015550142"
# Screenshots to look at after a run (desktop 1280x800, phone 390x844).
SHOTS = Path(tempfile.gettempdir())


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def fake(live_asgi, settings):
    """Fake Twilio whose status callbacks reach the live server; the worker's client uses it."""
    with fake_twilio_server(callbacks=("sent", "delivered"), callback_delay=0.6) as server:
        settings.TWILIO_API_BASE_URL = server.base_url
        settings.COMMS_PUBLIC_BASE_URL = live_asgi
        yield server


def _context(browser, live_asgi, user, viewport):
    context = signed_in_context(browser, live_asgi, user, viewport=viewport)
    return context


def _live(page) -> None:
    page.wait_for_selector("html[data-realtime=connected]", state="attached", timeout=WAIT_MS)


def test_send_delivered_live_reply_live_stop_refuses_next_send(
    browser,
    live_asgi,
    fake,
    celery_worker,  # noqa: F811
    location,
    make_staff,
):
    patient = SmsPatientFactory(
        home_location=location, first_name="Robin", last_name="Quill", phone_mobile=PHONE
    )
    twilio_settings_for(location.organization)
    user = make_staff(role=Role.EMPLOYEE, location=location)
    context = _context(browser, live_asgi, user, {"width": 1280, "height": 800})
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    tab_url = live_asgi + reverse("comms:patient", kwargs={"public_id": patient.public_id})
    page.goto(live_asgi + reverse("patients:detail", kwargs={"public_id": patient.public_id}))
    page.click("nav.tabs >> text=Communications")
    page.wait_for_url(tab_url)

    # Segment count while typing: GSM-7, then UCS-2 once an emoji is in.
    page.fill("#id_body", "Your new mask is ready for pickup at the clinic.")
    assert "48 characters · 1 segment (GSM-7)" in page.inner_text("#sms-count")
    page.fill("#id_body", "Your new mask is ready 😀")
    assert "(UCS-2)" in page.inner_text("#sms-count")
    page.fill("#id_body", "Your new mask is ready for pickup at the clinic.")
    page.click("#sms-form button[type=submit]")
    page.wait_for_selector("text=Message queued.", timeout=WAIT_MS)
    _live(page)
    page.evaluate("window.__sameDocument = true")

    # The worker sends through the real twilio client; the fake reports sent, then delivered.
    page.wait_for_selector(".sms-outbound[data-status=delivered]", timeout=WAIT_MS)
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    message = Message.objects.get(direction="outbound")
    assert message.status == "delivered" and message.provider_sid.startswith("SM")
    assert fake.sent_to(PHONE)[0].from_ == SENDER
    assert "Not really sent" not in page.inner_text("#comms-thread")

    # An inbox in a second tab, counting live.
    inbox = context.new_page()
    inbox.on("pageerror", lambda exc: errors.append(str(exc)))
    inbox.goto(live_asgi + reverse("comms:inbox"))
    _live(inbox)
    assert inbox.inner_text("#inbox-unread-count") == "0"

    inbound_url = live_asgi + reverse(
        "comms:twilio_inbound", kwargs={"org_public_id": location.organization.public_id}
    )
    status, _ = fake.send_inbound(inbound_url, from_=PHONE, to=SENDER, body="Thanks, see you then")
    assert status == 200
    page.wait_for_selector(".sms-inbound >> text=Thanks, see you then", timeout=WAIT_MS)
    page.wait_for_selector("#thread-unread >> text=1 unread", timeout=WAIT_MS)
    expect(inbox.locator("#inbox-unread-count")).to_have_text("1", timeout=WAIT_MS)
    assert "Quill, Robin" in inbox.inner_text("#inbox-list")
    assert page.evaluate("window.__sameDocument === true")
    page.screenshot(path=str(SHOTS / "comms-sms-desktop.png"), full_page=True)
    inbox.screenshot(path=str(SHOTS / "comms-sms-inbox-desktop.png"), full_page=True)

    # STOP: the opt-out shows up live; the next send is refused with a clear message.
    status, _ = fake.send_inbound(inbound_url, from_=PHONE, to=SENDER, body="STOP")
    assert status == 200
    page.wait_for_selector("#thread-opted-out", timeout=WAIT_MS)
    assert ContactPreference.objects.get(address=PHONE).opted_out
    page.fill("#id_body", "Are you still there?")
    page.click("#sms-form button[type=submit]")
    page.wait_for_selector(".error-summary", timeout=WAIT_MS)
    refusal = page.inner_text(".error-summary")
    assert "opted out" in refusal and "START" in refusal
    assert not Message.objects.filter(body="Are you still there?").exists()
    assert len(fake.sent_to(PHONE)) == 1
    page.screenshot(path=str(SHOTS / "comms-sms-refused-desktop.png"), full_page=True)

    phone = _context(browser, live_asgi, user, {"width": 390, "height": 844})
    small = phone.new_page()
    small.goto(tab_url)
    small.screenshot(path=str(SHOTS / "comms-sms-phone.png"), full_page=True)
    small.goto(live_asgi + reverse("comms:inbox"))
    small.screenshot(path=str(SHOTS / "comms-sms-inbox-phone.png"), full_page=True)
    phone.close()
    context.close()
    assert errors == []
