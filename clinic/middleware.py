"""Request context and session lifetime rules."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.cache import patch_cache_control

from clinic import context
from clinic.auth.services import session_expire_if_due
from clinic.client_ip import client_ip
from clinic.errors import ApplicationError
from clinic.portal.errors import application_error, bad_request

_REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"


class RequestIdMiddleware:
    """Gives each request an id (or keeps a sane one from the proxy) and exposes the context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get(_REQUEST_ID_HEADER, "")
        request_id = incoming if incoming.replace("-", "").isalnum() and len(incoming) <= 64 else ""
        request_id = request_id or uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = context.activate(
            context.RequestContext(
                request_id=request_id,
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:256],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class NoStoreMiddleware:
    """Every answer to a signed-in person, and every API answer, may hold patient data: no
    browser cache, back-forward cache or shared proxy may keep a copy. The one place this is
    set (views need not remember it); a view's own stricter header is kept."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if (signed_in or "/api/" in request.path) and not _says_no_store(response):
            patch_cache_control(response, no_store=True, private=True)
        return response


class SessionLifetimeMiddleware:
    """Ends a signed-in session after IDLE_TIMEOUT_SECONDS without activity, or
    SESSION_ABSOLUTE_SECONDS after sign-in, whichever comes first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        expired = session_expire_if_due(request)
        if expired is not None:
            return expired
        return self.get_response(request)


class RejectNullBytesMiddleware:
    """A NUL byte in a query string or form field is never meaningful input, and PostgreSQL
    refuses it in text; answer 400 with a plain message before any view can reach the database."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request.GET) or (
            request.method == "POST"
            and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
            and _has_nul(request.POST)
        ):
            return bad_request(request)
        return self.get_response(request)


def _says_no_store(response: HttpResponse) -> bool:
    return "no-store" in {d.strip().lower() for d in response.get("Cache-Control", "").split(",")}


def _has_nul(data: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in data.lists())


class ApplicationErrorMiddleware:
    """The last net under every view: a service's refusal (``ApplicationError``) that a view let
    through is answered with its own message and status (400/403/404/409), never a 500. Views
    still translate refusals themselves where a form can show the message in place."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ApplicationError):
            return application_error(request, exception)
        return None
