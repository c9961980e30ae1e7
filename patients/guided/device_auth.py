"""The patient tablet's device token on HTTP: ``device_required`` lets a request through only
with the ``guided_device`` cookie of a live device of an active session."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from .socket_auth import DEVICE_COOKIE, DEVICE_COOKIE_PATH

__all__ = ["DEVICE_COOKIE", "DEVICE_COOKIE_PATH", "device_required"]


def device_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """No live token: the page shell goes back to the neutral pairing screen (cookie deleted,
    browser storage cleared); uploads and previews answer 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        from .services import device_from_token
        from .views import device_neutral

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
