"""Sign-in (password, then TOTP or a backup code), enrolment, sign-out, session status."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> HttpResponse:
    return render(request, "clinic/auth/locked.html", status=429)
