"""The plumbing every app's API shares: domain errors become JSON a person can read, and the
acting staff user. The clinic core's own endpoints are in clinic.organization.api and
clinic.notifications.api."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.errors import ApplicationError

if TYPE_CHECKING:
    from clinic.models import User


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.extra:
            body["details"] = exc.extra
        return Response({"error": body}, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("That record does not exist or is not available to you.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data
        if isinstance(detail, dict) and "detail" in detail:
            message = str(detail["detail"])
            response.data = {
                "error": {"code": getattr(detail["detail"], "code", "error"), "message": message}
            }
        else:
            response.data = {
                "error": {
                    "code": "invalid",
                    "message": "Some fields need attention.",
                    "fields": detail,
                }
            }
    return response


def staff(request: Request) -> User:
    """The request's user; IsVerifiedStaff (the default permission) has already vouched for it."""
    return cast("User", request.user)
