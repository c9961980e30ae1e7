"""API plumbing shared by every app: domain errors become JSON a person can read."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.errors import ApplicationError


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
