"""The inbox and the patient's communications tab follow changes live (issue 5): unread email
in the inbox's counters (new mail synced from the fake Gmail, then read in Gmail), and a patient
status change on the open timeline, without reloading. A real ASGI server, Celery worker (the
outbox), Redis channel layer and Chromium. Screenshots of the inbox (desktop 1280x800, phone
390x844) go to /tmp/comms-inbox-live-*.png."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from clinic.models import Notification, Role
from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401
from comms.gmail.sync import mailbox_sync
from comms.tests import gmail_support
from comms.tests.gmail_support import connected_mailbox
from patients.record.services import allowed_transitions, patient_status_change
from patients.tests.factories import PatientFactory
from tests.browser.test_comms_sms import WAIT_MS, _context, _live

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

fake_google = gmail_support.fake_google  # the fixture
SHOTS = Path(tempfile.gettempdir())


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_unread_email_and_status_changes_arrive_live(
    browser,
    live_asgi,
    celery_worker,  # noqa: F811
    fake_google,
    location,
    make_staff,
):
    patient = PatientFactory(
        home_location=location,
        organization=location.organization,
        first_name="Robin",
        last_name="Marsh",
        email="robin.marsh@example.org",
    )
    user = make_staff(role=Role.EMPLOYEE, location=location)
    mailbox = connected_mailbox(fake_google, organization=location.organization)
    mailbox_sync(mailbox_id=mailbox.pk)  # the first (full) sync; later ones are incremental
    context = _context(browser, live_asgi, user, {"width": 1280, "height": 800})
    errors: list[str] = []

    inbox = context.new_page()
    inbox.on("pageerror", lambda exc: errors.append(str(exc)))
    inbox.goto(live_asgi + reverse("comms:inbox"))
    _live(inbox)
    inbox.evaluate("window.__sameDocument = true")
    assert inbox.inner_text("#inbox-email-count") == "0"

    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(live_asgi + reverse("comms:patient", kwargs={"public_id": patient.public_id}))
    _live(tab)
    tab.evaluate("window.__sameDocument = true")
    assert tab.locator(".timeline-status").count() == 0

    # New mail from the patient: counted in the open inbox, and the location's staff notified.
    arrived = fake_google.add_message(sender=patient.email, subject="Mask is leaking")
    mailbox_sync(mailbox_id=mailbox.pk)
    expect(inbox.locator("#inbox-email-count")).to_have_text("1", timeout=WAIT_MS)
    assert Notification.objects.get(recipient=user).kind == "comms.email"
    inbox.screenshot(path=str(SHOTS / "comms-inbox-live-desktop.png"), full_page=True)

    # Read in Gmail: the next sync takes it off the counter.
    fake_google.change_labels(arrived.id, remove=("UNREAD",))
    mailbox_sync(mailbox_id=mailbox.pk)
    expect(inbox.locator("#inbox-email-count")).to_have_text("0", timeout=WAIT_MS)

    # A status change shows up on the open timeline.
    to = allowed_transitions(patient.status)[0]
    patient_status_change(actor=user, patient=patient, to=to, reason="Called the patient")
    expect(tab.locator(".timeline-status")).to_have_count(1, timeout=WAIT_MS)
    assert tab.evaluate("window.__sameDocument === true")
    assert inbox.evaluate("window.__sameDocument === true")  # no reloads happened
    tab.screenshot(path=str(SHOTS / "comms-timeline-live-desktop.png"), full_page=True)

    phone = _context(browser, live_asgi, user, {"width": 390, "height": 844})
    small = phone.new_page()
    small.goto(live_asgi + reverse("comms:inbox"))
    small.screenshot(path=str(SHOTS / "comms-inbox-live-phone.png"), full_page=True)
    phone.close()
    context.close()
    assert errors == []
