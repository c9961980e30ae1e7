"""Gmail push notifications (users.watch -> Cloud Pub/Sub -> an HTTPS push to us).

Pub/Sub signs each push with a Google OIDC token (``Authorization: Bearer <JWT>``) for the
audience and service account configured on the subscription. ``push_verify`` checks that token
with google-auth against Google's certificates, then reads the notification, which only names
the mailbox and a historyId: the sync itself always asks Gmail what changed.

Settings: ``GMAIL_PUSH_AUDIENCE`` (the subscription's audience; empty turns push off),
``GMAIL_PUSH_SERVICE_ACCOUNT`` (the email in the token), ``GMAIL_PUBSUB_TOPIC`` (for
users.watch), ``GOOGLE_OAUTH_CERTS_URL`` (tests point it at the fake Google).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging

from clinic.errors import ApplicationError
from comms.gmail.client import gmail_setting

logger = logging.getLogger(__name__)

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})


class PushRefused(ApplicationError):
    code = "push_refused"
    status = 403


def _certs_url() -> str:
    return str(
        gmail_setting("GOOGLE_OAUTH_CERTS_URL", "https://www.googleapis.com/oauth2/v1/certs")
    )


def push_verify(*, authorization: str, body: bytes) -> str:
    """The mailbox address a genuine push names, or ``PushRefused``."""
    import google.auth.transport.requests
    from google.oauth2 import id_token

    audience = str(gmail_setting("GMAIL_PUSH_AUDIENCE"))
    account = str(gmail_setting("GMAIL_PUSH_SERVICE_ACCOUNT"))
    if not audience or not account:
        raise PushRefused("Push notifications are not configured.", code="push_not_configured")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise PushRefused("No token.", code="push_unsigned")
    try:
        claims = id_token.verify_token(
            token.strip(),
            google.auth.transport.requests.Request(),
            audience=audience,
            certs_url=_certs_url(),
        )
    except Exception as exc:  # any failure to verify is a refusal; never a 500
        logger.warning("gmail: push token refused (%s)", type(exc).__name__)
        raise PushRefused("Bad token.", code="push_bad_token") from exc
    if (
        claims.get("iss") not in GOOGLE_ISSUERS
        or claims.get("email") != account
        or claims.get("email_verified") is not True
    ):
        raise PushRefused("Token from someone else.", code="push_wrong_sender")
    try:
        envelope = json.loads(body or b"{}")
        data = base64.b64decode(str(envelope["message"]["data"]), validate=False)
        notification = json.loads(data)
        address = str(notification["emailAddress"]).strip().lower()
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise PushRefused("Not a Gmail notification.", code="push_malformed") from exc
    if "@" not in address or len(address) > 254:
        raise PushRefused("Not a Gmail notification.", code="push_malformed")
    return address
