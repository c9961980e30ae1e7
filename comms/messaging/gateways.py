"""Gateways: what really delivers a message. Chosen per organization and channel by the
factories registered with ``gateway_register`` (``comms.sms.gateway`` for text messages,
``comms.gmail.services`` for email).

- ``DevelopmentGateway`` (the default, and whenever no gateway is set up) records the message
  as sent without sending it; the portal labels such messages "not really sent".

A gateway raises ``GatewayError`` with ``transient`` telling the task whether to retry:
429, 5xx, timeouts and dropped connections are transient; everything else (invalid number,
unsubscribed recipient, bad credentials) is permanent and never retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from comms.models import Gateway

if TYPE_CHECKING:
    from clinic.models import Organization
    from comms.models import Message

# Gateway error codes that mean the recipient has opted out at the carrier (Twilio's 21610).
UNSUBSCRIBED_CODES = frozenset({"21610"})


class GatewayError(Exception):
    def __init__(self, code: str, message: str, *, transient: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.transient = transient


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str
    from_address: str = ""


class MessageGateway(Protocol):
    name: str
    # Whether ``send`` may run in several threads at once: only gateways whose ``send`` does
    # network I/O and nothing with the database (each thread would open its own connection,
    # outside the delivery transaction). ``prepare`` then loads what ``send`` reads, beforehand.
    concurrent: bool

    def prepare(self, messages: list[Message]) -> None: ...

    def send(self, message: Message) -> SendResult: ...


class DevelopmentGateway:
    """Records only. Nothing leaves the machine."""

    name: str = Gateway.DEVELOPMENT.value
    concurrent: bool = True  # send() touches nothing

    def prepare(self, messages: list[Message]) -> None:
        return

    def send(self, message: Message) -> SendResult:
        return SendResult(sid=f"DEV{uuid.uuid4().hex}", status="sent")


def public_url(path: str) -> str:
    """An absolute URL Twilio can call back, or "" when no public base URL is configured."""
    base = getattr(settings, "COMMS_PUBLIC_BASE_URL", "") or ""
    return base.rstrip("/") + path if base else ""


# The gateway factories by channel, registered in ``CommsConfig.ready`` (Twilio for text
# messages, Gmail for email): fn(organization) -> a gateway, or None when it is not set up.
_FACTORIES: dict[str, Callable[[Organization], MessageGateway | None]] = {}


def gateway_register(
    channel: str, factory: Callable[[Organization], MessageGateway | None]
) -> None:
    _FACTORIES[channel] = factory


def gateway_for(organization: Organization, channel: str) -> MessageGateway:
    """The organization's gateway for ``channel``; the development gateway when none is set up."""
    factory = _FACTORIES.get(channel)
    gateway = factory(organization) if factory is not None else None
    return gateway if gateway is not None else DevelopmentGateway()
