"""Talking to Google for Gmail: configuration, the OAuth 2.0 web-server flow (state + PKCE),
token revocation, the Gmail API client for a mailbox, and reading Gmail's message resources.

Configuration is read from Django settings or, failing that, the environment variables of the
same names: ``GMAIL_OAUTH_CLIENT_ID`` and ``GMAIL_OAUTH_CLIENT_SECRET`` (a Google Cloud OAuth
client of type "Web application" whose redirect URI is ``<site>/comms/mailboxes/oauth/callback/``),
and, for tests only, ``GMAIL_API_ENDPOINT`` and ``GOOGLE_OAUTH_AUTH_URI`` / ``_TOKEN_URI`` /
``_REVOKE_URI``, which point the real client libraries at a fake Google on 127.0.0.1
(``comms/tests/fake_gmail.py``). Production uses Google's addresses.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import google_auth_httplib2
import httplib2
import requests
from django.conf import settings
from django.utils import timezone
from django.utils.html import strip_tags
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from clinic.errors import ApplicationError
from comms.gmail.models import GmailMailbox

if TYPE_CHECKING:
    from comms.gmail.models import GmailMailbox

logger = logging.getLogger(__name__)

# Read, label and send; never permanent deletion.
SCOPES = ["https://www.googleapis.com/auth/gmail.modify"]
HTTP_TIMEOUT = 30
BODY_MAX_CHARS = 100_000


class GmailUnavailable(ApplicationError):
    """Google could not be reached or answered with a transient error (retry later)."""

    code = "gmail_unavailable"
    status = 503


class GmailRefused(ApplicationError):
    """Google refused the request for good (bad request, not found, no permission)."""

    code = "gmail_refused"


class GmailNotAuthorized(ApplicationError):
    """The mailbox's grant is gone (revoked, expired): an ADMIN must connect it again."""

    code = "gmail_not_authorized"


# -------------------------------------------------------------------------- configuration


def gmail_setting(name: str, default: Any = "") -> Any:
    """A Django setting, else the environment variable of the same name, else ``default``."""
    return getattr(settings, name, None) or os.environ.get(name) or default


def client_id() -> str:
    return str(gmail_setting("GMAIL_OAUTH_CLIENT_ID"))


def client_secret() -> str:
    return str(gmail_setting("GMAIL_OAUTH_CLIENT_SECRET"))


def auth_uri() -> str:
    return str(gmail_setting("GOOGLE_OAUTH_AUTH_URI", "https://accounts.google.com/o/oauth2/auth"))


def token_uri() -> str:
    return str(gmail_setting("GOOGLE_OAUTH_TOKEN_URI", "https://oauth2.googleapis.com/token"))


def revoke_uri() -> str:
    return str(gmail_setting("GOOGLE_OAUTH_REVOKE_URI", "https://oauth2.googleapis.com/revoke"))


def api_endpoint() -> str:
    return str(gmail_setting("GMAIL_API_ENDPOINT"))


def oauth_configured() -> bool:
    return bool(client_id() and client_secret())


# -------------------------------------------------------------------------- OAuth 2.0


def oauth_flow(*, redirect_uri: str, state: str | None = None, code_verifier: str | None = None):
    """The web-server flow with PKCE (S256). ``code_verifier`` None makes a fresh one."""
    if not oauth_configured():
        raise ApplicationError(
            "Gmail is not set up on this server: GMAIL_OAUTH_CLIENT_ID and "
            "GMAIL_OAUTH_CLIENT_SECRET are missing.",
            code="gmail_not_configured",
        )
    config = {
        "web": {
            "client_id": client_id(),
            "client_secret": client_secret(),
            "auth_uri": auth_uri(),
            "token_uri": token_uri(),
            "redirect_uris": [redirect_uri],
        }
    }
    return Flow.from_client_config(
        config,
        scopes=SCOPES,
        redirect_uri=redirect_uri,
        state=state,
        code_verifier=code_verifier,
        autogenerate_code_verifier=code_verifier is None,
    )


@dataclass(frozen=True)
class Authorization:
    url: str
    state: str
    code_verifier: str


def oauth_authorization_start(*, redirect_uri: str) -> Authorization:
    flow = oauth_flow(redirect_uri=redirect_uri)
    # offline + consent: Google hands out a refresh token every time, so a reconnect works.
    url, state = flow.authorization_url(
        access_type="offline", prompt="consent", include_granted_scopes="true"
    )
    return Authorization(url=url, state=state, code_verifier=str(flow.code_verifier))


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime | None
    scopes: list[str] = field(default_factory=list)


def oauth_code_exchange(*, redirect_uri: str, state: str, code_verifier: str, code: str) -> Tokens:
    flow = oauth_flow(redirect_uri=redirect_uri, state=state, code_verifier=code_verifier)
    try:
        flow.fetch_token(code=code)
    except requests.RequestException as exc:
        raise GmailUnavailable(
            "Google could not be reached to finish connecting. Try again.", code="oauth_network"
        ) from exc
    except Exception as exc:  # oauthlib's errors: invalid_grant, mismatching state...
        logger.warning("gmail: code exchange refused (%s)", type(exc).__name__)
        raise GmailRefused(
            "Google did not accept this sign-in (it may have expired). Start connecting again.",
            code="oauth_refused",
        ) from exc
    credentials = flow.credentials
    if not credentials.refresh_token:
        raise GmailRefused(
            "Google gave no offline access. Remove Tandem from the account's third-party "
            "access at myaccount.google.com/permissions, then connect again.",
            code="oauth_no_refresh_token",
        )
    granted = list(credentials.granted_scopes or credentials.scopes or SCOPES)
    missing = sorted(set(SCOPES) - set(granted))
    if missing:
        raise GmailRefused(
            "Tandem needs permission to read, label and send mail; tick every box on "
            "Google's consent screen and connect again.",
            code="oauth_scope_missing",
        )
    expiry = credentials.expiry.replace(tzinfo=UTC) if credentials.expiry else None
    return Tokens(
        access_token=credentials.token,
        refresh_token=credentials.refresh_token,
        expires_at=expiry,
        scopes=granted,
    )


def oauth_token_revoke(token: str) -> bool:
    """Revoke a grant at Google. True when revoked (or already unknown to Google); False when
    Google could not be reached."""
    if not token:
        return True
    try:
        response = requests.post(
            revoke_uri(),
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
    except requests.RequestException as exc:
        logger.warning("gmail: revoke failed (%s)", type(exc).__name__)
        return False
    # 400 invalid_token: already revoked or expired, which is what we wanted.
    return response.status_code in (200, 400)


# -------------------------------------------------------------------------- the API client


def _credentials(mailbox: GmailMailbox) -> Credentials:
    expiry = mailbox.token_expires_at
    return Credentials(
        token=mailbox.access_token or None,
        refresh_token=mailbox.refresh_token or None,
        token_uri=token_uri(),
        client_id=client_id(),
        client_secret=client_secret(),
        scopes=SCOPES,
        # google-auth compares naive UTC datetimes
        expiry=expiry.astimezone(UTC).replace(tzinfo=None) if expiry else None,
    )


def gmail_build(credentials: Credentials) -> Any:
    http = google_auth_httplib2.AuthorizedHttp(
        credentials, http=httplib2.Http(timeout=HTTP_TIMEOUT)
    )
    options = {"api_endpoint": api_endpoint()} if api_endpoint() else None
    return build(
        "gmail",
        "v1",
        http=http,
        client_options=options,
        static_discovery=True,
        cache_discovery=False,
    )


TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def http_status(exc: HttpError) -> int:
    return int(getattr(exc.resp, "status", 0) or 0)


@contextmanager
def gmail_session(mailbox: GmailMailbox) -> Iterator[Any]:
    """The Gmail API for ``mailbox``. A refreshed access token is saved afterwards (encrypted);
    a revoked grant marks the mailbox as needing a reconnect and raises ``GmailNotAuthorized``;
    network trouble raises ``GmailUnavailable``."""

    if not mailbox.refresh_token:
        raise GmailNotAuthorized(
            "This mailbox is not connected. An administrator can connect it again.",
            code="gmail_not_connected",
        )
    credentials = _credentials(mailbox)
    try:
        yield gmail_build(credentials)
    except RefreshError as exc:
        GmailMailbox.objects.filter(pk=mailbox.pk).update(
            status=GmailMailbox.Status.NEEDS_RECONNECT, sync_error="grant_revoked"
        )
        raise GmailNotAuthorized(
            "Google no longer accepts this mailbox's access. An administrator must connect "
            "it again.",
        ) from exc
    except (TransportError, httplib2.HttpLib2Error, OSError) as exc:
        raise GmailUnavailable("Gmail could not be reached. Try again in a moment.") from exc
    finally:
        if credentials.token and credentials.token != mailbox.access_token:
            expiry = credentials.expiry.replace(tzinfo=UTC) if credentials.expiry else None
            mailbox.access_token = credentials.token
            mailbox.token_expires_at = expiry
            # Not onto a mailbox disconnected meanwhile: its tokens stay deleted.
            GmailMailbox.objects.filter(pk=mailbox.pk, status=GmailMailbox.Status.CONNECTED).update(
                access_token=credentials.token, token_expires_at=expiry
            )


def gmail_call(request: Any) -> Any:
    """Execute one API request; transient answers become ``GmailUnavailable``, other refusals
    ``GmailRefused`` (with ``extra['status']``)."""
    try:
        return request.execute(num_retries=0)
    except HttpError as exc:
        status = http_status(exc)
        if status in TRANSIENT_STATUSES:
            raise GmailUnavailable(
                "Gmail is busy or unavailable. Try again in a moment.",
                extra={"status": status},
            ) from exc
        raise GmailRefused(
            "Gmail refused the request.", code=f"gmail_http_{status}", extra={"status": status}
        ) from exc


# -------------------------------------------------------------------------- message resources


@dataclass
class AttachmentPart:
    part_id: str
    filename: str
    mime_type: str
    size: int
    attachment_id: str
    inline_data: bytes | None = None


@dataclass
class ParsedMessage:
    gmail_id: str
    thread_id: str
    label_ids: list[str]
    history_id: int | None
    internal_at: datetime
    subject: str
    from_address: str
    to_addresses: list[str]
    cc_addresses: list[str]
    rfc_message_id: str
    in_reply_to: str
    references: str
    body: str
    attachments: list[AttachmentPart]


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _addresses(value: str) -> list[str]:
    return [
        addr.strip().lower()
        for _name, addr in email.utils.getaddresses([value or ""])
        if addr and "@" in addr
    ]


def _text(part: dict[str, Any]) -> str:
    data = (part.get("body") or {}).get("data")
    if not data:
        return ""
    charset = "utf-8"
    for header in part.get("headers") or []:
        if header.get("name", "").lower() == "content-type":
            match = re.search(r'charset="?([\w.-]+)"?', header.get("value", ""), re.I)
            if match:
                charset = match.group(1)
    try:
        return _b64(data).decode(charset, errors="replace")
    except LookupError:
        return _b64(data).decode("utf-8", errors="replace")


def _walk(part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield part
    for child in part.get("parts") or []:
        yield from _walk(child)


def message_parse(resource: dict[str, Any]) -> ParsedMessage:
    """Gmail's ``format=full`` message resource as the fields we keep."""
    payload = resource.get("payload") or {}
    headers = {h.get("name", "").lower(): h.get("value", "") for h in payload.get("headers") or []}
    plain, html = "", ""
    attachments: list[AttachmentPart] = []
    for part in _walk(payload):
        body = part.get("body") or {}
        mime = (part.get("mimeType") or "").lower()
        if part.get("filename"):
            attachments.append(
                AttachmentPart(
                    part_id=str(part.get("partId") or ""),
                    filename=str(part["filename"])[:255],
                    mime_type=mime[:120],
                    size=int(body.get("size") or 0),
                    attachment_id=str(body.get("attachmentId") or ""),
                    inline_data=_b64(body["data"]) if body.get("data") else None,
                )
            )
        elif mime == "text/plain" and not plain:
            plain = _text(part)
        elif mime == "text/html" and not html:
            html = _text(part)
    text = plain or strip_tags(html)
    text = text.replace("\x00", " ").strip()[:BODY_MAX_CHARS]
    internal_ms = int(resource.get("internalDate") or 0)
    internal_at = (
        datetime.fromtimestamp(internal_ms / 1000, tz=UTC) if internal_ms else timezone.now()
    )
    from_list = _addresses(headers.get("from", ""))
    history = resource.get("historyId")
    return ParsedMessage(
        gmail_id=str(resource["id"]),
        thread_id=str(resource.get("threadId") or resource["id"]),
        label_ids=list(resource.get("labelIds") or []),
        history_id=int(history) if history else None,
        internal_at=internal_at,
        subject=headers.get("subject", "")[:200],
        from_address=from_list[0] if from_list else "",
        to_addresses=_addresses(headers.get("to", "")),
        cc_addresses=_addresses(headers.get("cc", "")),
        rfc_message_id=headers.get("message-id", "").strip()[:500],
        in_reply_to=headers.get("in-reply-to", "").strip()[:500],
        references=headers.get("references", "").strip()[:5000],
        body=text,
        attachments=attachments,
    )
