"""Domain errors of comms: refusals a person can read."""

from __future__ import annotations

from clinic.errors import ApplicationError


class MessageRefused(ApplicationError):
    """A message that must not be sent: opted out, no consent, no usable number or address."""

    code = "message_refused"


class TemplateInvalid(ApplicationError):
    """A template with unknown placeholders, or one that renders empty."""

    code = "template_invalid"


class WebhookRefused(ApplicationError):
    """A webhook whose signature does not verify (forged, unsigned or for another account)."""

    code = "webhook_refused"
    status = 403
