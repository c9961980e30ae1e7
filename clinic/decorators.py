"""View guards. Every portal view of patient or organization data starts with one of these."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from clinic.errors import NotFound
from clinic.errors import PermissionDenied as DomainPermissionDenied
from clinic.permissions import is_verified_staff

View = Callable[..., HttpResponseBase]


def staff_required(view: View | None = None, *, check: Callable[[Any], bool] | None = None) -> Any:
    """Signed in with password + OTP and a member of an organization; optionally ``check(user)``.

    Anonymous or not-yet-verified users go to sign-in. A signed-in user who fails ``check``
    gets 404, so pages that are not theirs look the same as pages that do not exist.
    Domain ``NotFound`` raised by the view becomes 404 too.
    """

    def decorate(fn: View) -> View:
        @wraps(fn)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not is_verified_staff(request.user):
                return redirect_to_login(request.get_full_path())
            if check is not None and not check(request.user):
                raise Http404
            try:
                return fn(request, *args, **kwargs)
            except (NotFound, DomainPermissionDenied) as exc:
                raise Http404 from exc

        return wrapper

    return decorate(view) if view is not None else decorate
