"""The patient tablet's device token on HTTP: ``device_required`` lets a request through only
with the ``guided_device`` cookie of a live device of an active session."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse

from .services import device_from_token
from .socket_auth import DEVICE_COOKIE, DEVICE_COOKIE_PATH

__all__ = ["DEVICE_COOKIE", "DEVICE_COOKIE_PATH", "device_neutral", "device_required"]


def device_neutral(request: HttpRequest) -> HttpResponse:
    """Back to the pairing screen, with the device cookie and the browser's storage cleared."""
    response = redirect(reverse("guided:pair") + "?ended=1")
    response.delete_cookie(DEVICE_COOKIE, path=DEVICE_COOKIE_PATH)
    response["Clear-Site-Data"] = '"cache", "storage"'
    return response


def device_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """No live token: the page shell goes back to the neutral pairing screen (cookie deleted,
    browser storage cleared); uploads and previews answer 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        device = device_from_token(request.COOKIES.get(DEVICE_COOKIE))
        if device is None:
            if request.method == "GET" and not kwargs:
                return device_neutral(request)
            return JsonResponse(
                {"error": "This tablet is not paired with an active session."}, status=403
            )
        request.guided_device = device  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper
