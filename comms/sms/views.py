"""Twilio's webhooks: delivery status callbacks and incoming messages, one URL pair per
organization (``/comms/twilio/<organization public id>/...``).

Every request is verified with the SDK's ``RequestValidator`` against the organization's auth
token and the public URL Twilio called, rebuilt from the forwarded headers when the app runs
behind ``PROXY_COUNT`` trusted proxies. Anything that does not verify (forged, unsigned, for
another account, an organization without Twilio) gets 403 and an audit row; the response never
says which check failed.
"""

from __future__ import annotations

import uuid
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError
from clinic.models import Organization
from comms.models import CommsSettings, Gateway
from comms.sms.gateway import twilio_credentials
from comms.sms.inbound import sms_receive, sms_status_update

IDEMPOTENCY_HEADER = "HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"


def _nearest(value: str | None, proxies: int) -> str:
    """The value our nearest trusted proxy saw (each proxy appends to the list)."""
    parts = [p.strip() for p in (value or "").split(",") if p.strip()]
    if not parts:
        return ""
    return parts[-proxies] if len(parts) >= proxies else parts[0]


def webhook_public_url(request: HttpRequest) -> str:
    """The URL Twilio requested: behind PROXY_COUNT proxies, from X-Forwarded-Proto/Host/Port."""
    proxies = int(getattr(settings, "PROXY_COUNT", 0) or 0)
    meta = request.META
    scheme = request.scheme or "http"
    host = meta.get("HTTP_HOST") or meta.get("SERVER_NAME", "")
    if proxies > 0:
        scheme = _nearest(meta.get("HTTP_X_FORWARDED_PROTO"), proxies) or scheme
        forwarded_host = _nearest(meta.get("HTTP_X_FORWARDED_HOST"), proxies)
        if forwarded_host:
            host = forwarded_host
            port = _nearest(meta.get("HTTP_X_FORWARDED_PORT"), proxies)
            default = {"http": "80", "https": "443"}.get(scheme)
            if port and ":" not in host and port != default:
                host = f"{host}:{port}"
    return f"{scheme}://{host}{request.get_full_path()}"


def _twiml(reply: str = "") -> HttpResponse:
    inner = f"<Message>{escape(reply)}</Message>" if reply else ""
    return HttpResponse(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>',
        content_type="text/xml",
    )


def _refuse(organization: Organization | None, reason: str) -> HttpResponse:
    # A platform-level security row naming the organization's public id: an anonymous caller
    # must not be able to write into an organization's own records, its log included.
    audit_record(
        actor=None,
        action="webhook.refused",
        organization=None,
        object_type="comms.twilio",
        object_id=str(organization.public_id) if organization is not None else "",
        details={"reason": reason},
    )
    return HttpResponse("Forbidden", status=403, content_type="text/plain")


def _verified(request: HttpRequest, org_public_id: Any) -> tuple[Organization | None, str]:
    """(organization, "") when the request is Twilio's for the organization, else a reason."""
    if request.method != "POST":
        return None, "method"
    try:
        organization = Organization.objects.filter(public_id=uuid.UUID(str(org_public_id))).first()
    except ValueError:
        organization = None
    if organization is None:
        return None, "organization"
    row = CommsSettings.objects.filter(organization=organization).first()
    if row is None or row.sms_gateway != Gateway.TWILIO:
        return organization, "not_configured"
    account_sid, token = twilio_credentials(row)
    signature = request.META.get("HTTP_X_TWILIO_SIGNATURE", "")
    if not token or not signature:
        return organization, "unsigned"
    if not RequestValidator(token).validate(webhook_public_url(request), request.POST, signature):
        return organization, "signature"
    if request.POST.get("AccountSid") != account_sid:
        return organization, "account"
    return organization, ""


@csrf_exempt
def twilio_status(request: HttpRequest, org_public_id: Any) -> HttpResponse:
    organization, reason = _verified(request, org_public_id)
    if reason or organization is None:
        return _refuse(organization, reason or "organization")
    data = request.POST
    try:
        sms_status_update(
            organization=organization,
            sid=(data.get("MessageSid") or data.get("SmsSid") or "")[:64],
            status=(data.get("MessageStatus") or data.get("SmsStatus") or "")[:20],
            error_code=(data.get("ErrorCode") or "")[:20],
            token=request.META.get(IDEMPOTENCY_HEADER, "")[:120],
        )
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    return _twiml()


@csrf_exempt
def twilio_inbound(request: HttpRequest, org_public_id: Any) -> HttpResponse:
    organization, reason = _verified(request, org_public_id)
    if reason or organization is None:
        return _refuse(organization, reason or "organization")
    data = request.POST
    sid = (data.get("MessageSid") or data.get("SmsSid") or "")[:64]
    if not sid or not data.get("From"):
        return HttpResponse("MessageSid and From are required.", status=400)
    _, reply = sms_receive(
        organization=organization,
        from_number=data.get("From", "")[:40],
        to_number=data.get("To", "")[:40],
        body=data.get("Body", ""),
        sid=sid,
        token=request.META.get(IDEMPOTENCY_HEADER, "")[:120],
    )
    return _twiml(reply)
