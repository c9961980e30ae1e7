"""Fixtures and helpers of the Gmail tests: the fake Google on 127.0.0.1, wired into settings,
and connected mailboxes whose tokens the fake accepts. Test modules import what they use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from comms.gmail.models import GmailMailbox
from comms.tests.fake_gmail import FakeGmail, FakeGmailServer


@pytest.fixture
def fake_google(settings) -> Iterator[FakeGmail]:
    """A fake Google (Gmail API, OAuth token/revoke, certificates) the real client libraries
    are pointed at."""
    with FakeGmailServer() as fake:
        base = fake.base_url
        settings.GMAIL_OAUTH_CLIENT_ID = fake.client_id
        settings.GMAIL_OAUTH_CLIENT_SECRET = fake.client_secret
        settings.GMAIL_API_ENDPOINT = base
        settings.GOOGLE_OAUTH_AUTH_URI = base + "o/oauth2/auth"
        settings.GOOGLE_OAUTH_TOKEN_URI = base + "token"
        settings.GOOGLE_OAUTH_REVOKE_URI = base + "revoke"
        settings.GOOGLE_OAUTH_CERTS_URL = base + "oauth2/v1/certs"
        yield fake


def connected_mailbox(
    fake: FakeGmail, *, organization, kind: str = "shared", owner=None
) -> GmailMailbox:
    """A mailbox connected to ``fake`` as if an ADMIN had gone through the consent screen."""
    access, refresh = fake.grant_tokens()
    return GmailMailbox.objects.create(
        organization=organization,
        kind=kind,
        owner=owner,
        email_address=fake.email_address,
        access_token=access,
        refresh_token=refresh,
        token_expires_at=timezone.now() + timedelta(hours=1),
        scopes="https://www.googleapis.com/auth/gmail.modify",
    )


def incoming(fake: FakeGmail, mailbox: GmailMailbox, **kwargs):
    """A message arriving in ``fake``'s mailbox, synced: its ``comms.Message``."""
    from comms.gmail.models import GmailMessage
    from comms.gmail.sync import mailbox_sync

    fake_message = fake.add_message(**kwargs)
    mailbox_sync(mailbox_id=mailbox.pk)
    return GmailMessage.objects.get(gmail_id=fake_message.id).message
