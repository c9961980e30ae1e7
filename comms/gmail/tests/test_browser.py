"""The Gmail pages in a real browser (ASGI server, Chromium) against the fake Google: an
ADMIN's mailboxes page and email list, an email thread where staff mark read and star (Gmail's
labels change) and save an attachment to the patient's documents, a reply written on the
compose page, and the search. Screenshots (desktop 1280x800, phone 390x844) go to
/tmp/comms-gmail-*.png."""

from __future__ import annotations

import os
import tempfile

import pytest
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import staff_user
from comms.models import Message
from comms.tests import gmail_support
from comms.tests.gmail_support import connected_mailbox, incoming
from patients.documents.tests.factories import pdf_bytes
from patients.models import Document
from patients.tests.factories import PatientFactory
from tests.browser.fixtures import signed_in_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

fake_google = gmail_support.fake_google  # the fixture
WAIT_MS = 20000
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
SHOTS = os.path.join(tempfile.gettempdir(), "comms-gmail")  # screenshots to look at


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def clinic(fake_google, location):
    """Set up before the server starts, so the forked server sees the fake Google settings."""
    patient = PatientFactory(
        home_location=location,
        organization=location.organization,
        first_name="Robin",
        last_name="Marsh",
        email="robin.marsh@example.org",
    )
    admin = staff_user(role=Role.ADMIN, location=location, full_name="Ada Admin")
    mailbox = connected_mailbox(fake_google, organization=location.organization)
    return patient, admin, mailbox


def _page(browser, base, user, size="desktop"):
    width, height = SIZES[size]
    context = signed_in_context(browser, base, user, viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return context, page


def _shots(browser, base, user, path, name):
    for size in SIZES:
        context, page = _page(browser, base, user, size)
        page.goto(base + path)
        page.screenshot(path=f"{SHOTS}-{name}-{size}.png", full_page=True)
        context.close()


def test_email_pages_in_a_browser(clinic, fake_google, live_asgi, browser):
    patient, admin, mailbox = clinic
    first = incoming(
        fake_google,
        mailbox,
        sender="Robin Marsh <robin.marsh@example.org>",
        subject="Mask cushion",
        body="Hello, my mask cushion is worn out and leaks at night. Can you send a new one?",
        attachments=(("prescription.pdf", "application/pdf", pdf_bytes("Rx")),),
    )
    incoming(fake_google, mailbox, sender="billing@vendor.example", subject="Invoice 2231")
    staff = staff_user(role=Role.EMPLOYEE, location=patient.home_location, full_name="Eve Staff")

    context, page = _page(browser, live_asgi, staff)
    page.goto(live_asgi + reverse("comms:email_detail", kwargs={"public_id": first.public_id}))
    page.get_by_role("button", name="Mark read").click()
    page.get_by_role("button", name="Mark unread").wait_for()
    assert "UNREAD" not in fake_google.messages[first.provider_sid].label_ids
    page.get_by_role("button", name="Star", exact=True).click()
    page.get_by_role("button", name="Unstar").wait_for()
    assert "STARRED" in fake_google.messages[first.provider_sid].label_ids
    page.get_by_role("button", name="Save to documents").click()
    page.get_by_text("Saved to the patient's documents").wait_for()
    assert Document.objects.filter(patient=patient, category="correspondence").count() == 1

    page.get_by_role("link", name="Reply").click()
    page.get_by_label("Message").fill("Hello Robin, a new cushion is on its way.")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Email queued").wait_for()
    reply = Message.objects.get(channel="email", direction="outbound")
    assert reply.subject == "Re: Mask cushion" and reply.gmail.reply_to_id == first.gmail.pk
    context.close()

    _shots(
        browser,
        live_asgi,
        staff,
        reverse("comms:email_detail", kwargs={"public_id": first.public_id}),
        "email",
    )
    _shots(
        browser,
        live_asgi,
        staff,
        reverse("comms:email_compose", kwargs={"public_id": patient.public_id}),
        "compose",
    )
    _shots(browser, live_asgi, staff, reverse("comms:message_search") + "?q=cushion", "search")
    _shots(browser, live_asgi, admin, reverse("comms:gmail_settings"), "mailboxes")
    _shots(browser, live_asgi, admin, reverse("comms:email_list"), "list")
    unassigned = Message.objects.get(subject="Invoice 2231")
    _shots(
        browser,
        live_asgi,
        admin,
        reverse("comms:email_detail", kwargs={"public_id": unassigned.public_id}),
        "unassigned",
    )
