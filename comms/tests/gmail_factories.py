"""Rows of the Gmail models for tests (tests/test_tenant_isolation.py walks them)."""

from __future__ import annotations

from django.utils import timezone

from clinic.models import Location
from comms.gmail.models import GmailAttachment, GmailLabel, GmailMailbox, GmailMessage, GmailThread
from comms.models import Channel, Direction, Message


def gmail_rows_for_tenant_walk(location: Location, patient) -> None:
    """One row of every Gmail model for ``location``'s organization, linked to ``patient``."""
    org = location.organization
    mailbox = GmailMailbox.objects.create(
        organization=org,
        email_address="frontdesk@alpha.test",
        access_token="ya29.walk-access",
        refresh_token="1//walk-refresh",
    )
    GmailLabel.objects.create(mailbox=mailbox, gmail_id="INBOX", name="INBOX", is_system=True)
    thread = GmailThread.objects.create(mailbox=mailbox, gmail_id="walkthread1", patient=patient)
    message = Message.objects.create(
        organization=org,
        location=location,
        patient=patient,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        status="received",
        subject="Alpha mask question",
        body="Alphasecret mask question",
        from_address=patient.email or "alphonse@alpha.test",
        gateway="gmail",
        provider_sid="walkmessage1",
    )
    row = GmailMessage.objects.create(
        message=message,
        mailbox=mailbox,
        thread=thread,
        gmail_id="walkmessage1",
        label_ids=["INBOX", "UNREAD"],
        is_unread=True,
        rfc_message_id="<walk1@alpha.test>",
        internal_at=timezone.now(),
    )
    GmailAttachment.objects.create(
        gmail_message=row,
        part_id="1",
        gmail_attachment_id="walk-attachment",
        filename="alpha-scan.pdf",
        mime_type="application/pdf",
        size=10,
    )
