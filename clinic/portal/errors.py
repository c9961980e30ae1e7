"""Error pages: plain words, no tracebacks, and an audit row where the refusal matters."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _error(request: HttpRequest, status: int, title: str, message: str, code: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        400,
        "Something was wrong with that request",
        "Please go back and try again.",
        "bad_request",
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request, 403, "Not available", "You do not have access to this page.", "permission_denied"
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        404,
        "Not found",
        "That page or record does not exist or is not available to you.",
        "not_found",
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(
        request,
        500,
        "Something went wrong on our side",
        "The team has been told. Please try again in a minute.",
        "server_error",
    )


_REFUSED_TITLES = {
    400: "That could not be done",
    403: "Not available",
    404: "Not found",
    409: "That changed in the meantime",
}


def application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    """A service's refusal that its view did not translate: its own message, its own status."""
    status = exc.status if exc.status in _REFUSED_TITLES else 400
    return _error(request, status, _REFUSED_TITLES[status], exc.message, exc.code)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    user = (
        request.user if getattr(request, "user", None) and request.user.is_authenticated else None
    )
    audit_record(
        actor=user, action="security.csrf_refused", details={"path_kind": request.method or ""}
    )
    return _error(
        request,
        403,
        "This form has expired",
        "For your security the form could not be sent. Reload the page and try again.",
        "csrf_failed",
    )
