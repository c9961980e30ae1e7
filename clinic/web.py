"""What every portal view does the same way: who is acting, and running a form through a service.

A view parses input, calls one service and redirects after a POST; a service's refusal
(``ApplicationError``) is shown beside the field it names, or above the form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from clinic.errors import ApplicationError
from clinic.models import User

T = TypeVar("T")


def actor(request: HttpRequest) -> User:
    """The signed-in staff user behind ``request`` (views run behind ``staff_required``)."""
    return cast(User, request.user)


def form_apply_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service's refusal next to the field it is about, or at the top of the form."""
    field = exc.extra.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


def form_submit(
    request: HttpRequest,
    form: forms.Form,
    call: Callable[[dict[str, Any]], T],
    *,
    success: str | Callable[[T], str],
    redirect_to: str | Callable[[T], str],
) -> HttpResponse | None:
    """Validate ``form``, run ``call(form.cleaned_data)`` and redirect with a success message.

    Returns None when the form is invalid or the service refused (its message is then on the
    form): the caller renders the page again with the form, usually with status 400.
    ``success`` and ``redirect_to`` may be functions of what ``call`` returned.
    """
    if not form.is_valid():
        return None
    try:
        result = call(form.cleaned_data)
    except ApplicationError as exc:
        form_apply_error(form, exc)
        return None
    message = success(result) if callable(success) else success
    if message:
        messages.success(request, message)
    target = redirect_to(result) if callable(redirect_to) else redirect_to
    return redirect(target)
