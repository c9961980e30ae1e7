"""A fake Google (Gmail API v1 + OAuth 2.0 endpoints) on 127.0.0.1 for the Gmail tests.

It speaks the parts of the real wire protocol our code uses, so the tests drive the real
``google-api-python-client``, ``google-auth`` and ``google-auth-oauthlib`` against it:

- ``GET  /o/oauth2/auth``: the consent screen; answers at once with a redirect carrying
  ``code`` and ``state`` (the PKCE challenge is remembered with the code);
- ``POST /token``: authorization_code (checks client, redirect URI and the PKCE verifier) and
  refresh_token grants;
- ``POST /revoke``: revokes an access or refresh token;
- ``GET  /oauth2/v1/certs``: the certificates Google signs its ID tokens with (tests put theirs);
- ``/gmail/v1/users/me/...``: profile, labels, messages (list, get full/minimal/metadata,
  modify, send, attachments), history (with an expiry floor that answers 404 like Gmail does
  for a historyId too old), watch.

Every request needs a live bearer token (401 otherwise, which makes the client refresh).
State lives in ``FakeGmail``; tests add messages, change labels, expire history or tokens, and
read ``requests`` to see what the client asked for.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlparse

SYSTEM_LABELS = [
    "INBOX",
    "SENT",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "TRASH",
    "SPAM",
    "DRAFT",
    "CATEGORY_PERSONAL",
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class FakeMessage:
    id: str
    thread_id: str
    label_ids: set[str]
    raw: bytes
    internal_date: int  # milliseconds since the epoch
    history_id: int
    attachments: dict[str, bytes] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class FakeGmail:
    """The mailbox and the authorization server's state, shared with the handler threads."""

    def __init__(self, email_address: str = "clinic@example.test") -> None:
        self.email_address = email_address
        self.lock = threading.RLock()
        self.messages: dict[str, FakeMessage] = {}
        self.labels: dict[str, dict[str, str]] = {
            name: {"id": name, "name": name, "type": "system"} for name in SYSTEM_LABELS
        }
        self.history: list[dict[str, Any]] = []
        self.history_id = 1000
        self.history_floor = 0  # history.list with a start below this answers 404
        self._ids = itertools.count(1)
        self.requests: list[Recorded] = []
        # OAuth
        self.client_id = "fake-client-id.apps.example.test"
        self.client_secret = "fake-client-secret"
        self.codes: dict[str, dict[str, str]] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.revoked: list[str] = []
        self.certs: dict[str, str] = {}  # key id -> PEM certificate (push token tests)
        self.fail_next: list[tuple[str, int]] = []  # (path substring, status) answered once
        self.base_url = ""

    # -- helpers for tests ------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08x}"

    def _bump(self, record: dict[str, Any]) -> int:
        self.history_id += 1
        record["id"] = str(self.history_id)
        self.history.append(record)
        return self.history_id

    def grant_tokens(self) -> tuple[str, str]:
        """An access token and a refresh token the fake accepts (as after a consent)."""
        with self.lock:
            access, refresh = self._next_id("ya29."), self._next_id("1//refresh-")
            self.access_tokens.add(access)
            self.refresh_tokens.add(refresh)
            return access, refresh

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def add_message(
        self,
        *,
        sender: str,
        to: str | None = None,
        subject: str = "Hello",
        body: str = "Hello from a patient.",
        labels: tuple[str, ...] = ("INBOX", "UNREAD"),
        thread_id: str | None = None,
        attachments: tuple[tuple[str, str, bytes], ...] = (),
        message_id_header: str | None = None,
        in_reply_to: str | None = None,
        internal_date: int | None = None,
    ) -> FakeMessage:
        """A message arriving in the mailbox (recorded in history as messagesAdded)."""
        mime = EmailMessage()
        mime["From"] = sender
        mime["To"] = to or self.email_address
        mime["Subject"] = subject
        mime["Date"] = "Sat, 21 Nov 2026 09:30:00 +0000"
        mime["Message-ID"] = message_id_header or f"<{self._next_id('m')}@mail.example.test>"
        if in_reply_to:
            mime["In-Reply-To"] = in_reply_to
            mime["References"] = in_reply_to
        mime.set_content(body)
        for filename, content_type, data in attachments:
            maintype, subtype = content_type.split("/", 1)
            mime.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        return self._store(
            mime.as_bytes(), set(labels), thread_id=thread_id, internal_date=internal_date
        )

    def _store(
        self, raw: bytes, labels: set[str], *, thread_id: str | None, internal_date: int | None
    ) -> FakeMessage:
        with self.lock:
            message_id = self._next_id("18c")
            message = FakeMessage(
                id=message_id,
                thread_id=thread_id or message_id,
                label_ids=labels,
                raw=raw,
                internal_date=internal_date or 1_795_000_000_000 + len(self.messages) * 60_000,
                history_id=0,
            )
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            for part in parsed.walk():
                if part.get_content_disposition() == "attachment":
                    data = part.get_payload(decode=True)
                    assert isinstance(data, bytes)
                    message.attachments[self._next_id("ANGjdJ")] = data
            self.messages[message_id] = message
            message.history_id = self._bump(
                {
                    "messages": [{"id": message_id, "threadId": message.thread_id}],
                    "messagesAdded": [{"message": self._minimal(message)}],
                }
            )
            return message

    def change_labels(
        self, message_id: str, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
    ) -> None:
        """A label change made in Gmail itself (another client, a filter)."""
        with self.lock:
            self._modify(self.messages[message_id], list(add), list(remove))

    def delete_message(self, message_id: str) -> None:
        with self.lock:
            message = self.messages[message_id]
            message.deleted = True
            self._bump(
                {
                    "messages": [{"id": message_id, "threadId": message.thread_id}],
                    "messagesDeleted": [{"message": self._minimal(message)}],
                }
            )

    def expire_history(self) -> None:
        """Every historyId handed out so far becomes too old for history.list (404)."""
        with self.lock:
            self.history_floor = self.history_id

    def create_label(self, name: str) -> str:
        with self.lock:
            label_id = self._next_id("Label_")
            self.labels[label_id] = {"id": label_id, "name": name, "type": "user"}
            return label_id

    def calls(self, method: str, path_part: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # -- resources ----------------------------------------------------------------------------

    def _minimal(self, message: FakeMessage) -> dict[str, Any]:
        return {
            "id": message.id,
            "threadId": message.thread_id,
            "labelIds": sorted(message.label_ids),
        }

    def _modify(self, message: FakeMessage, add: list[str], remove: list[str]) -> None:
        added = [label for label in add if label not in message.label_ids]
        removed = [label for label in remove if label in message.label_ids]
        message.label_ids |= set(added)
        message.label_ids -= set(removed)
        ref = {"messages": [{"id": message.id, "threadId": message.thread_id}]}
        if added:
            message.history_id = self._bump(
                {**ref, "labelsAdded": [{"message": self._minimal(message), "labelIds": added}]}
            )
        if removed:
            message.history_id = self._bump(
                {
                    **ref,
                    "labelsRemoved": [{"message": self._minimal(message), "labelIds": removed}],
                }
            )

    def _part(self, part: Any, part_id: str, message: FakeMessage, attachment_ids: Iterator[str]):
        headers = [{"name": k, "value": str(v)} for k, v in part.items()]
        resource: dict[str, Any] = {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": part.get_filename() or "",
            "headers": headers,
        }
        if part.is_multipart():
            resource["body"] = {"size": 0}
            resource["parts"] = [
                self._part(
                    child, str(i) if part_id == "" else f"{part_id}.{i}", message, attachment_ids
                )
                for i, child in enumerate(part.iter_parts())
            ]
        elif part.get_content_disposition() == "attachment":
            data = part.get_payload(decode=True) or b""
            resource["body"] = {"size": len(data), "attachmentId": next(attachment_ids)}
        else:
            data = part.get_payload(decode=True) or b""
            resource["body"] = {"size": len(data), "data": b64url(data)}
        return resource

    def _full(self, message: FakeMessage, fmt: str) -> dict[str, Any]:
        parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
        plain = parsed.get_body(("plain",))
        resource = {
            **self._minimal(message),
            "snippet": plain.get_content()[:100] if plain is not None else "",
            "historyId": str(message.history_id),
            "internalDate": str(message.internal_date),
            "sizeEstimate": len(message.raw),
        }
        if fmt == "minimal":
            return {k: resource[k] for k in ("id", "threadId", "labelIds", "historyId")}
        if fmt == "raw":
            return {**resource, "raw": b64url(message.raw)}
        payload = self._part(parsed, "", message, iter(list(message.attachments)))
        if fmt == "metadata":
            payload.pop("parts", None)
            payload.pop("body", None)
        resource["payload"] = payload
        return resource

    # -- request handling ---------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append(Recorded(method, path, query, body))
            for i, (part, status) in enumerate(self.fail_next):
                if part in path:
                    del self.fail_next[i]
                    return _error(status, "Injected failure")
            if path == "/o/oauth2/auth":
                return self._authorize(query)
            if path == "/token":
                return self._token(body, headers.get("Authorization", ""))
            if path == "/revoke":
                return self._revoke(query, body)
            if path == "/oauth2/v1/certs":  # Google's signing certificates (x509, by key id)
                return _json(200, self.certs)
            if not path.startswith("/gmail/v1/users/me/"):
                return _error(404, "Not Found")
            auth = headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.access_tokens:
                return _error(401, "Request had invalid authentication credentials.")
            return self._gmail(method, path.removeprefix("/gmail/v1/users/me/"), query, body)

    def _authorize(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        q = {k: v[0] for k, v in query.items()}
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return _error(400, "invalid_request")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return _error(400, "PKCE required")
        code = self._next_id("4/0A-code-")
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "redirect_uri": q.get("redirect_uri", ""),
            "scope": q.get("scope", ""),
        }
        target = q["redirect_uri"] + "?" + urlencode({"state": q.get("state", ""), "code": code})
        return 302, {"Location": target}, b""

    def _token(self, body: Any, authorization: str) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in body.items()} if isinstance(body, dict) else {}
        if authorization.startswith("Basic "):  # client authentication, RFC 6749 2.3.1
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            form.setdefault("client_id", unquote_plus(user))
            form.setdefault("client_secret", unquote_plus(password))
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _json(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.codes.pop(form.get("code", ""), None)
            if issued is None:
                return _json(400, {"error": "invalid_grant", "error_description": "Bad code"})
            verifier = form.get("code_verifier", "")
            challenge = b64url(hashlib.sha256(verifier.encode()).digest())
            if challenge != issued["challenge"]:
                return _json(400, {"error": "invalid_grant", "error_description": "PKCE"})
            if form.get("redirect_uri") != issued["redirect_uri"]:
                return _json(400, {"error": "redirect_uri_mismatch"})
            access, refresh = self.grant_tokens()
            return _json(
                200,
                {
                    "access_token": access,
                    "refresh_token": refresh,
                    "expires_in": 3599,
                    "scope": issued["scope"],
                    "token_type": "Bearer",
                },
            )
        if grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return _json(400, {"error": "invalid_grant", "error_description": "Revoked"})
            access = self._next_id("ya29.")
            self.access_tokens.add(access)
            return _json(200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"})
        return _json(400, {"error": "unsupported_grant_type"})

    def _revoke(self, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in (body if isinstance(body, dict) else query).items()}
        token = form.get("token", "") or (query.get("token") or [""])[0]
        if token in self.refresh_tokens:
            self.refresh_tokens.discard(token)
            self.access_tokens.clear()  # revoking the grant ends its access tokens too
        elif token in self.access_tokens:
            self.access_tokens.discard(token)
        else:
            return _json(400, {"error": "invalid_token"})
        self.revoked.append(token)
        return _json(200, {})

    def _gmail(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, str], bytes]:
        q = {k: v[0] for k, v in query.items()}
        parts = path.split("/")
        if method == "GET" and path == "profile":
            live = [m for m in self.messages.values() if not m.deleted]
            return _json(
                200,
                {
                    "emailAddress": self.email_address,
                    "messagesTotal": len(live),
                    "threadsTotal": len({m.thread_id for m in live}),
                    "historyId": str(self.history_id),
                },
            )
        if method == "GET" and path == "labels":
            return _json(200, {"labels": list(self.labels.values())})
        if method == "POST" and path == "watch":
            return _json(200, {"historyId": str(self.history_id), "expiration": "1795600000000"})
        if method == "GET" and path == "history":
            return self._history(q)
        if method == "GET" and path == "messages":
            return self._list(q, query.get("labelIds", []))
        if method == "POST" and path == "messages/send":
            return self._send(body)
        if parts[0] == "messages" and len(parts) >= 2:
            message = self.messages.get(parts[1])
            if message is None or message.deleted:
                return _error(404, "Requested entity was not found.")
            if method == "GET" and len(parts) == 2:
                return _json(200, self._full(message, q.get("format", "full")))
            if method == "POST" and len(parts) == 3 and parts[2] == "modify":
                self._modify(message, body.get("addLabelIds", []), body.get("removeLabelIds", []))
                return _json(200, self._minimal(message))
            if method == "GET" and len(parts) == 4 and parts[2] == "attachments":
                data = message.attachments.get(parts[3])
                if data is None:
                    return _error(404, "Requested entity was not found.")
                return _json(
                    200, {"attachmentId": parts[3], "size": len(data), "data": b64url(data)}
                )
        return _error(404, "Not Found")

    def _history(self, q: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        try:
            start = int(q["startHistoryId"])
        except (KeyError, ValueError):
            return _error(400, "Invalid startHistoryId")
        if start < self.history_floor:
            return _error(404, "Requested entity was not found.")
        records = [r for r in self.history if int(r["id"]) > start]
        offset = int(q.get("pageToken") or 0)
        size = int(q.get("maxResults") or 100)
        page = records[offset : offset + size]
        response: dict[str, Any] = {"historyId": str(self.history_id)}
        if page:
            response["history"] = page
        if offset + size < len(records):
            response["nextPageToken"] = str(offset + size)
        return _json(200, response)

    def _list(self, q: dict[str, str], label_ids: list[str]) -> tuple[int, dict[str, str], bytes]:
        live = [m for m in self.messages.values() if not m.deleted]
        if q.get("includeSpamTrash") != "true":
            live = [m for m in live if not m.label_ids & {"SPAM", "TRASH"}]
        for label in label_ids:
            live = [m for m in live if label in m.label_ids]
        query = q.get("q", "")
        if query.startswith("rfc822msgid:"):
            wanted = query.removeprefix("rfc822msgid:").strip().strip("<>")
            live = [m for m in live if self._header(m, "Message-ID").strip("<>") == wanted]
        live.sort(key=lambda m: m.internal_date, reverse=True)
        offset = int(q.get("pageToken") or 0)
        size = int(q.get("maxResults") or 100)
        page = live[offset : offset + size]
        response: dict[str, Any] = {"resultSizeEstimate": len(live)}
        if page:
            response["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if offset + size < len(live):
            response["nextPageToken"] = str(offset + size)
        return _json(200, response)

    def _send(self, body: Any) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(body, dict) or not body.get("raw"):
            return _error(
                400,
                "'raw' RFC822 payload message string or uploading message via /upload/* URL "
                "required",
            )
        raw = b64url_decode(body["raw"])
        thread_id = body.get("threadId")
        if thread_id and not any(m.thread_id == thread_id for m in self.messages.values()):
            return _error(404, "Requested entity was not found.")
        message = self._store(raw, {"SENT"}, thread_id=thread_id, internal_date=None)
        return _json(200, self._minimal(message))

    def _header(self, message: FakeMessage, name: str) -> str:
        parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
        return str(parsed.get(name, "")).strip()

    def sent_mime(self, message_id: str) -> email.message.EmailMessage:
        parsed = email.message_from_bytes(
            self.messages[message_id].raw, policy=email.policy.default
        )
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(payload).encode()


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
}


def _error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": "failed"}],
                "status": _STATUS.get(status, "INTERNAL"),
            }
        },
    )


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGmail

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _serve(self, method: str) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        body: Any
        if "json" in content_type:
            body = json.loads(raw or b"{}")
        elif "x-www-form-urlencoded" in content_type:
            body = parse_qs(raw.decode())
        else:
            body = raw
        status, headers, payload = self.fake.handle(
            method, url.path, parse_qs(url.query), body, self.headers
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


class FakeGmailServer:
    """``with FakeGmailServer() as fake: ...`` serves ``fake`` (a FakeGmail) on 127.0.0.1."""

    def __init__(self, fake: FakeGmail | None = None) -> None:
        self.fake = fake or FakeGmail()
        handler = type("Handler", (_Handler,), {"fake": self.fake})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}/"

    def __enter__(self) -> FakeGmail:
        self.thread.start()
        self.fake.base_url = self.url
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
