"""Connecting and disconnecting a Gmail mailbox: the OAuth 2.0 web-server flow with state and
PKCE through google-auth-oauthlib against a fake Google on 127.0.0.1 (consent screen, token and
revoke endpoints), tokens encrypted at rest, ADMIN only, audited."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.db import connection
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from comms.gmail.models import GmailMailbox
from comms.gmail.views import OAUTH_SESSION_KEY
from comms.tests import gmail_support
from comms.tests.gmail_support import connected_mailbox

pytestmark = pytest.mark.django_db

fake_google = gmail_support.fake_google  # the fixture


@pytest.fixture(autouse=True)
def _http_token_endpoint(monkeypatch):
    # oauthlib refuses plain-http token endpoints; only the fake Google on 127.0.0.1 is http.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def location():
    return LocationFactory()


@pytest.fixture
def admin(location):
    return staff_user(role=Role.ADMIN, location=location)


def _consent(fake, client, kind="shared"):
    """Press Connect, let the (fake) Google consent screen answer, and return its redirect."""
    response = client.post(reverse("comms:gmail_connect"), {"kind": kind})
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(fake.base_url + "o/oauth2/auth?")
    google = requests.get(url, allow_redirects=False, timeout=5)
    assert google.status_code == 302
    return url, google.headers["Location"]


def test_connecting_uses_state_and_pkce_and_keeps_the_tokens_encrypted(
    fake_google, admin, signed_in, celery_queue, django_capture_on_commit_callbacks
):
    from clinic.tests.conftest import queued_messages

    client = signed_in(admin)
    auth_url, back = _consent(fake_google, client)
    query = {k: v[0] for k, v in parse_qs(urlparse(auth_url).query).items()}
    pending = client.session[OAUTH_SESSION_KEY]
    assert query["state"] == pending["state"]
    assert query["code_challenge_method"] == "S256"
    expected = base64.urlsafe_b64encode(hashlib.sha256(pending["verifier"].encode()).digest())
    assert query["code_challenge"] == expected.decode().rstrip("=")
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["scope"] == "https://www.googleapis.com/auth/gmail.modify"
    assert pending["verifier"] not in auth_url

    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(back)

    assert response.status_code == 302 and response["Location"] == reverse("comms:gmail_settings")
    mailbox = GmailMailbox.objects.get()
    assert mailbox.email_address == fake_google.email_address
    assert mailbox.kind == "shared" and mailbox.owner is None
    assert mailbox.refresh_token in fake_google.refresh_tokens
    assert mailbox.access_token in fake_google.access_tokens
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM comms_gmailmailbox WHERE id = %s",
            [mailbox.pk],
        )
        stored_access, stored_refresh = cursor.fetchone()
    assert mailbox.refresh_token not in stored_refresh and mailbox.access_token not in stored_access
    audit = AuditEvent.objects.get(action="gmail_mailbox.connected")
    assert audit.actor == admin and audit.details == {"kind": "shared"}
    assert OAUTH_SESSION_KEY not in client.session
    assert queued_messages(celery_queue) == 1  # the first sync


def test_a_personal_mailbox_belongs_to_the_admin_who_connected_it(fake_google, admin, signed_in):
    client = signed_in(admin)
    _, back = _consent(fake_google, client, kind="personal")
    client.get(back)
    mailbox = GmailMailbox.objects.get()
    assert mailbox.kind == "personal" and mailbox.owner == admin


def test_a_callback_with_another_state_connects_nothing(fake_google, admin, signed_in):
    client = signed_in(admin)
    _, back = _consent(fake_google, client)
    forged = back.replace("state=", "state=forged")
    response = client.get(forged, follow=True)
    assert "not started here" in response.content.decode()
    assert not GmailMailbox.objects.exists()
    assert fake_google.calls("POST", "/token") == []


def test_a_callback_without_a_started_connection_connects_nothing(fake_google, admin, signed_in):
    response = signed_in(admin).get(
        reverse("comms:gmail_oauth_callback") + "?state=abc&code=def", follow=True
    )
    assert "not started here" in response.content.decode()
    assert not GmailMailbox.objects.exists()


def test_declining_on_googles_screen_connects_nothing(fake_google, admin, signed_in):
    client = signed_in(admin)
    _, back = _consent(fake_google, client)
    state = parse_qs(urlparse(back).query)["state"][0]
    response = client.get(
        reverse("comms:gmail_oauth_callback") + f"?state={state}&error=access_denied", follow=True
    )
    assert "did not grant access" in response.content.decode()
    assert not GmailMailbox.objects.exists()


def test_a_code_google_refuses_is_reported_and_connects_nothing(fake_google, admin, signed_in):
    client = signed_in(admin)
    _, back = _consent(fake_google, client)
    fake_google.codes.clear()  # expired at Google meanwhile
    response = client.get(back, follow=True)
    assert "did not accept this sign-in" in response.content.decode()
    assert not GmailMailbox.objects.exists()


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN])
def test_only_admins_reach_the_mailbox_pages(fake_google, location, signed_in, role):
    client = signed_in(staff_user(role=role, location=location))
    assert client.get(reverse("comms:gmail_settings")).status_code == 404
    assert client.post(reverse("comms:gmail_connect"), {"kind": "shared"}).status_code == 404
    assert client.get(reverse("comms:gmail_oauth_callback") + "?state=a&code=b").status_code == 404
    mailbox = connected_mailbox(fake_google, organization=location.organization)
    url = reverse("comms:gmail_disconnect", kwargs={"public_id": mailbox.public_id})
    assert client.post(url).status_code == 404
    mailbox.refresh_from_db()
    assert mailbox.is_connected and fake_google.revoked == []


def test_disconnect_revokes_at_google_and_deletes_the_tokens(fake_google, admin, signed_in):
    mailbox = connected_mailbox(fake_google, organization=admin.organization)
    refresh = mailbox.refresh_token
    response = signed_in(admin).post(
        reverse("comms:gmail_disconnect", kwargs={"public_id": mailbox.public_id}), follow=True
    )
    assert "Google revoked access" in response.content.decode()
    assert fake_google.revoked == [refresh]
    mailbox.refresh_from_db()
    assert mailbox.status == "disconnected"
    assert (mailbox.access_token, mailbox.refresh_token) == ("", "")
    audit = AuditEvent.objects.get(action="gmail_mailbox.disconnected")
    assert audit.details == {"revoked": True}


def test_disconnect_when_google_is_unreachable_still_deletes_the_tokens(
    fake_google, admin, signed_in, settings
):
    mailbox = connected_mailbox(fake_google, organization=admin.organization)
    settings.GOOGLE_OAUTH_REVOKE_URI = "http://127.0.0.1:9/revoke"  # nothing listens there
    response = signed_in(admin).post(
        reverse("comms:gmail_disconnect", kwargs={"public_id": mailbox.public_id}), follow=True
    )
    assert "could not be reached to revoke" in response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.status == "disconnected" and mailbox.refresh_token == ""
    assert AuditEvent.objects.get(action="gmail_mailbox.disconnected").details == {"revoked": False}


def test_another_organizations_mailbox_is_not_found(fake_google, admin, signed_in):
    other = connected_mailbox(fake_google, organization=LocationFactory().organization)
    client = signed_in(admin)
    for name in ("comms:gmail_disconnect", "comms:gmail_sync_now"):
        assert client.post(reverse(name, kwargs={"public_id": other.public_id})).status_code == 404
    other.refresh_from_db()
    assert other.is_connected


def test_the_settings_page_lists_mailboxes_in_constant_queries(
    fake_google, admin, signed_in, django_assert_max_num_queries
):
    from comms.tests.fake_gmail import FakeGmail

    client = signed_in(admin)
    connected_mailbox(fake_google, organization=admin.organization)
    client.get(reverse("comms:gmail_settings"))
    with django_assert_max_num_queries(12) as one:
        client.get(reverse("comms:gmail_settings"))
    for n in range(4):
        extra = FakeGmail(email_address=f"box{n}@example.test")
        connected_mailbox(extra, organization=admin.organization, kind="personal", owner=admin)
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("comms:gmail_settings"))
    assert response.content.decode().count("Sync now") == 5
