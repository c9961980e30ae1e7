"""The Pub/Sub push endpoint: a notification signed with a Google ID token (verified by
google-auth against certificates served by the fake Google) queues a sync of the named mailbox;
forged, unsigned, misaddressed or malformed pushes are refused with an audit row."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.test import Client
from django.urls import reverse
from google.auth import crypt, jwt

from clinic.models import AuditEvent
from clinic.tests.conftest import queued_messages
from clinic.tests.factories import LocationFactory
from comms.tests import gmail_support
from comms.tests.gmail_support import connected_mailbox

pytestmark = pytest.mark.django_db

fake_google = gmail_support.fake_google  # the fixture

AUDIENCE = "https://tandem.example/comms/gmail/push/"
ACCOUNT = "gmail-push@tandem-project.iam.gserviceaccount.com"


def _key_and_cert(name: str) -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem_key, cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def google_key(fake_google, settings):
    settings.GMAIL_PUSH_AUDIENCE = AUDIENCE
    settings.GMAIL_PUSH_SERVICE_ACCOUNT = ACCOUNT
    pem_key, cert = _key_and_cert("google")
    fake_google.certs["key-1"] = cert
    return pem_key


def _token(pem_key: bytes, **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": ACCOUNT,
        "email_verified": True,
        "iat": now,
        "exp": now + 600,
        "sub": "1234567890",
        **claims,
    }
    signer = crypt.RSASigner.from_string(pem_key, key_id="key-1")
    return jwt.encode(signer, payload).decode()


def _push(address: str, token: str | None, body: bytes | None = None):
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": 1234}).encode())
    envelope = (
        body
        or json.dumps(
            {"message": {"data": data.decode(), "messageId": "1"}, "subscription": "projects/p/s"}
        ).encode()
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().post(
        reverse("comms:gmail_push"), envelope, content_type="application/json", **headers
    )


def test_a_signed_push_queues_a_sync_of_the_mailbox(
    fake_google, google_key, celery_queue, django_capture_on_commit_callbacks
):
    connected_mailbox(fake_google, organization=LocationFactory().organization)
    with django_capture_on_commit_callbacks(execute=True):
        response = _push(fake_google.email_address.upper(), _token(google_key))
    assert response.status_code == 204
    assert queued_messages(celery_queue) == 1


def test_a_push_for_an_unknown_mailbox_is_acknowledged_and_does_nothing(
    fake_google, google_key, celery_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _push("nobody@example.test", _token(google_key))
    assert response.status_code == 204
    assert queued_messages(celery_queue) == 0


@pytest.mark.parametrize(
    "case",
    ["unsigned", "forged", "wrong_audience", "wrong_account", "expired", "malformed"],
)
def test_a_push_that_is_not_from_our_subscription_is_refused_and_audited(
    fake_google, google_key, celery_queue, case
):
    connected_mailbox(fake_google, organization=LocationFactory().organization)
    token: str | None = _token(google_key)
    body = None
    if case == "unsigned":
        token = None
    elif case == "forged":
        other_key, _ = _key_and_cert("attacker")
        token = _token(other_key)
    elif case == "wrong_audience":
        token = _token(google_key, aud="https://elsewhere.example/")
    elif case == "wrong_account":
        token = _token(google_key, email="someone@evil.example")
    elif case == "expired":
        token = _token(google_key, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    elif case == "malformed":
        body = b'{"message": {"data": "not base64 json!"}}'

    response = _push(fake_google.email_address, token, body)

    assert response.status_code == 403
    audit = AuditEvent.objects.get(action="webhook.refused")
    assert audit.details["source"] == "gmail"
    assert queued_messages(celery_queue) == 0


def test_push_is_off_until_configured(fake_google, settings):
    settings.GMAIL_PUSH_AUDIENCE = ""
    assert _push(fake_google.email_address, "anything").status_code == 404
