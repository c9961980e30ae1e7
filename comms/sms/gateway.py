"""The Twilio gateway: sends text messages through the real twilio client, from the
location's own number, the organization's messaging service or its number.
``TWILIO_API_BASE_URL`` (tests and benchmarks only) points that client at a local server
speaking Twilio's API. Registered for text messages in ``CommsConfig.ready``.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse

from comms.messaging.gateways import GatewayError, SendResult, public_url
from comms.models import CommsSettings, Gateway, LocationSender

if TYPE_CHECKING:
    from clinic.models import Organization
    from comms.models import Message

TWILIO_API = "https://api.twilio.com"
TWILIO_TIMEOUT_SECONDS = 10.0


def _rebased_http_client(base: str, timeout: float) -> Any:
    """The SDK's own HTTP client, sent to ``TWILIO_API_BASE_URL`` instead of api.twilio.com
    when that is set (the documented way to change requests: subclass TwilioHttpClient)."""
    from twilio.http.http_client import TwilioHttpClient

    class RebasedHttpClient(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if base and url.startswith(TWILIO_API):
                url = base.rstrip("/") + url[len(TWILIO_API) :]
            return super().request(method, url, *args, **kwargs)

    return RebasedHttpClient(timeout=timeout)


def twilio_credentials(row: CommsSettings) -> tuple[str, str]:
    if row.twilio_credentials_from_environment:
        return os.environ.get("TWILIO_ACCOUNT_SID", ""), os.environ.get("TWILIO_AUTH_TOKEN", "")
    return row.twilio_account_sid, row.twilio_auth_token or ""


def twilio_client(row: CommsSettings) -> Any:
    sid, token = twilio_credentials(row)
    base = getattr(settings, "TWILIO_API_BASE_URL", "") or ""
    return _cached_client(sid, token, base, TWILIO_TIMEOUT_SECONDS)


@functools.lru_cache(maxsize=64)
def _cached_client(sid: str, token: str, base: str, timeout: float) -> Any:
    """One client per account and process: its session keeps connections to Twilio open
    (a new TLS handshake per message would dominate a burst of reminders)."""
    from twilio.rest import Client

    return Client(sid, token, http_client=_rebased_http_client(base, timeout))


class TwilioGateway:
    name: str = Gateway.TWILIO.value
    concurrent: bool = True  # send() is one HTTPS call once prepare() has read the senders

    def __init__(self, row: CommsSettings) -> None:
        self.row = row
        self._senders: dict[int, str] = {}

    def prepare(self, messages: list[Message]) -> None:
        """Read the per-location senders of ``messages`` in one query."""
        wanted = {m.location_id for m in messages if m.location_id} - set(self._senders)
        if wanted:
            self._senders.update(dict.fromkeys(wanted, ""))
            self._senders.update(
                LocationSender.objects.filter(location_id__in=wanted).values_list(
                    "location_id", "from_number"
                )
            )

    def sender_for(self, message: Message) -> dict[str, str]:
        if message.location_id:
            self.prepare([message])
            number = self._senders.get(message.location_id, "")
            if number:
                return {"from_": number}
        if self.row.twilio_messaging_service_sid:
            return {"messaging_service_sid": self.row.twilio_messaging_service_sid}
        return {"from_": self.row.twilio_from_number}

    def send(self, message: Message) -> SendResult:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        org = self.row.organization
        callback = public_url(
            reverse("comms:twilio_status", kwargs={"org_public_id": org.public_id})
        )
        params: dict[str, Any] = {"to": message.to_address, "body": message.body}
        params.update(self.sender_for(message))
        if callback:
            params["status_callback"] = callback
        try:
            created = twilio_client(self.row).messages.create(**params)
        except TwilioRestException as exc:
            status = int(exc.status or 0)
            transient = status == 429 or status >= 500
            raise GatewayError(
                str(exc.code or status), str(exc.msg or "Twilio refused")[:300], transient=transient
            ) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise GatewayError("timeout", type(exc).__name__, transient=True) from exc
        except TwilioException as exc:
            raise GatewayError("twilio", type(exc).__name__, transient=False) from exc
        return SendResult(
            sid=str(created.sid),
            status=str(created.status or "queued"),
            from_address=str(created.from_ or ""),
        )


def twilio_gateway_for(organization: Organization) -> TwilioGateway | None:
    """The organization's Twilio gateway, or None (development gateway) when Twilio is not
    chosen or has no credentials."""
    row = CommsSettings.objects.filter(organization=organization).first()
    if row is not None and row.sms_gateway == Gateway.TWILIO:
        sid, token = twilio_credentials(row)
        if sid and token:
            row.organization = organization
            return TwilioGateway(row)
    return None
