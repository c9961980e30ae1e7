"""A fake Twilio on 127.0.0.1: the Messages API's JSON, and signed webhooks back to us.

The real ``twilio`` client talks to it over HTTP (``TWILIO_API_BASE_URL`` points the client's
requests here instead of api.twilio.com). It checks the account's Basic auth, validates the
``To`` number, answers like Twilio (201 with the message resource; 400 with Twilio's error JSON
and code for a bad or unsubscribed number; 401 for bad credentials), and can be told to fail the
next requests with 429 or 5xx, or to stall past the client's timeout.

When a created message has a ``StatusCallback``, the fake later POSTs the following statuses to
it (``callbacks``, by default sent then delivered: Twilio sends no callback for the first status),
form-encoded and signed with the SDK's own ``RequestValidator`` and carrying an
``I-Twilio-Idempotency-Token``, exactly as Twilio's webhooks are. ``send_inbound`` posts an
incoming SMS webhook the same way. Used by comms tests, the browser test and the benchmark.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import phonenumbers
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
API_VERSION = "2010-04-01"
# Twilio's error codes for the cases the fake plays.
INVALID_TO = 21211
UNSUBSCRIBED = 21610


def signed_post(
    url: str,
    params: dict[str, str],
    *,
    auth_token: str = AUTH_TOKEN,
    idempotency_token: str | None = None,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """POST ``params`` form-encoded to ``url`` with an X-Twilio-Signature computed by the SDK's
    validator for ``url`` (or the given ``signature``, to forge one). Returns (status, body)."""
    sig = (
        signature
        if signature is not None
        else RequestValidator(auth_token).compute_signature(url, params)
    )
    data = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if sig:
        request.add_header("X-Twilio-Signature", sig)
    if idempotency_token:
        request.add_header("I-Twilio-Idempotency-Token", idempotency_token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class FakeMessage:
    sid: str
    to: str
    from_: str
    body: str
    messaging_service_sid: str
    status_callback: str
    status: str
    created: float = field(default_factory=time.time)

    def resource(self, account_sid: str) -> dict[str, Any]:
        return {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(self.created)),
            "date_sent": None,
            "date_updated": None,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_ or None,
            "messaging_service_sid": self.messaging_service_sid or None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {},
            "to": self.to,
            "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{self.sid}.json",
        }


class FakeTwilio:
    """The server and its state. Use ``fake_twilio_server()`` to run one."""

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        callbacks: tuple[str, ...] = ("sent", "delivered"),
        callback_delay: float = 0.2,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.callbacks = callbacks
        self.callback_delay = callback_delay
        self.messages: dict[str, FakeMessage] = {}
        self.requests: list[dict[str, Any]] = []
        self.unsubscribed: set[str] = set()
        self.invalid: set[str] = set()
        self.callback_results: list[tuple[str, str, int]] = []
        self._failures: list[int] = []  # statuses to answer with, in order
        self._stall_seconds = 0.0
        self._stalls = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------- control

    @property
    def base_url(self) -> str:
        assert self.server is not None
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def fail_next(self, *statuses: int) -> None:
        """Answer the next create requests with these HTTP statuses (429, 500, 503...)."""
        with self._lock:
            self._failures.extend(statuses)

    def stall_next(self, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` create requests ``seconds`` before answering (timeouts)."""
        with self._lock:
            self._stall_seconds, self._stalls = seconds, count

    def sent_to(self, number: str) -> list[FakeMessage]:
        with self._lock:
            return [m for m in self.messages.values() if m.to == number]

    def wait_for_callbacks(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def send_inbound(
        self,
        url: str,
        *,
        from_: str,
        to: str,
        body: str,
        sid: str | None = None,
        idempotency_token: str | None = None,
    ) -> tuple[int, str]:
        """POST an incoming-SMS webhook to ``url`` as Twilio would."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": sid or "SM" + uuid.uuid4().hex,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "To": to,
        }
        return signed_post(
            url,
            params,
            auth_token=self.auth_token,
            idempotency_token=idempotency_token or uuid.uuid4().hex,
        )

    def status_callback(
        self, message: FakeMessage, status: str, *, idempotency_token: str | None = None
    ) -> tuple[int, str]:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if status in ("undelivered", "failed"):
            params["ErrorCode"] = "30003"
        return signed_post(
            message.status_callback,
            params,
            auth_token=self.auth_token,
            idempotency_token=idempotency_token or uuid.uuid4().hex,
        )

    # ------------------------------------------------------------- the API

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    def handle_create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            stall = self._stall_seconds if self._stalls > 0 else 0.0
            if self._stalls > 0:
                self._stalls -= 1
        if stall:
            time.sleep(stall)
        if failure is not None:
            return failure, _error(failure, 20429 if failure == 429 else 20500, "Try again later")
        to = form.get("To", "")
        try:
            valid = phonenumbers.is_valid_number(phonenumbers.parse(to, None))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid or to in self.invalid:
            return 400, _error(
                400, INVALID_TO, f"The 'To' number {to} is not a valid phone number."
            )
        if to in self.unsubscribed:
            return 400, _error(400, UNSUBSCRIBED, "Attempt to send to unsubscribed recipient")
        if not form.get("Body"):
            return 400, _error(400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return 400, _error(400, 21603, "A 'From' phone number is required.")
        message = FakeMessage(
            sid="SM" + uuid.uuid4().hex,
            to=to,
            from_=form.get("From", "") or "+12015550100",
            body=form["Body"],
            messaging_service_sid=form.get("MessagingServiceSid", ""),
            status_callback=form.get("StatusCallback", ""),
            status="accepted" if form.get("MessagingServiceSid") else "queued",
        )
        with self._lock:
            self.messages[message.sid] = message
        if message.status_callback and self.callbacks:
            thread = threading.Thread(target=self._play_callbacks, args=(message,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return 201, message.resource(self.account_sid)

    def _play_callbacks(self, message: FakeMessage) -> None:
        for status in self.callbacks:
            time.sleep(self.callback_delay)
            message.status = status
            try:
                code, _ = self.status_callback(message, status)
            except OSError:
                code = 0
            self.callback_results.append((message.sid, status, code))


def _error(status: int, code: int, text: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": text,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self) -> tuple[str, str]:
        fake: FakeTwilio = self.server.fake
        prefix = f"/{API_VERSION}/Accounts/{fake.account_sid}/Messages"
        path = urllib.parse.urlsplit(self.path).path
        if path == prefix + ".json":
            return "list", ""
        if path.startswith(prefix + "/") and path.endswith(".json"):
            return "one", path[len(prefix) + 1 : -5]
        return "", ""

    def do_POST(self) -> None:
        fake: FakeTwilio = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
        fake.requests.append({"method": "POST", "path": self.path, "form": form})
        if not fake._authorized(self.headers.get("Authorization", "")):
            return self._reply(401, _error(401, 20003, "Authenticate"))
        kind, _ = self._route()
        if kind != "list":
            return self._reply(404, _error(404, 20404, "The requested resource was not found"))
        status, payload = fake.handle_create(form)
        self._reply(status, payload)

    def do_GET(self) -> None:
        fake: FakeTwilio = self.server.fake
        if not fake._authorized(self.headers.get("Authorization", "")):
            return self._reply(401, _error(401, 20003, "Authenticate"))
        kind, sid = self._route()
        message = fake.messages.get(sid) if kind == "one" else None
        if message is None:
            return self._reply(404, _error(404, 20404, "The requested resource was not found"))
        self._reply(200, message.resource(fake.account_sid))


@contextmanager
def fake_twilio_server(**options: Any) -> Iterator[FakeTwilio]:
    """Run a ``FakeTwilio`` on a free loopback port for the duration of the block."""
    fake = FakeTwilio(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.fake = fake
    fake.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
