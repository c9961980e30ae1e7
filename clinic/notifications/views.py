"""The notification centre pages: the list, mark read, mark all read, the JSON snapshot."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.notifications.services import (
    notification_mark_read,
    notification_send,
    notifications_mark_all_read,
    notifications_of,
    notifications_page,
    notifications_snapshot,
    notifications_unread_count,
)
from clinic.web import actor

PAGE_SIZE = 25


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _uuid_or_none(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise Http404 from exc


@never_cache
@require_GET
@staff_required
def notification_list(request: HttpRequest) -> HttpResponse:
    before = _uuid_or_none(request.GET.get("before"))
    rows, has_more = notifications_page(actor(request), before=before, size=PAGE_SIZE)
    context = {
        "notifications": rows,
        "has_more": has_more,
        "next_before": rows[-1].public_id if rows and has_more else None,
    }
    if _is_htmx(request) and before:
        # "Show older" appends the next rows below the ones already on the page.
        return render(request, "clinic/notifications/_rows.html", context)
    context["unread"] = notifications_unread_count(actor(request))
    return render(request, "clinic/notifications/list.html", context)


@require_POST
@staff_required
def notification_read(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    notification = notifications_of(actor(request)).filter(public_id=public_id).first()
    if notification is None:
        raise Http404
    notification = notification_mark_read(actor=actor(request), notification=notification)
    if request.POST.get("open") and notification.url:
        return redirect(notification.url)
    if _is_htmx(request):
        return render(request, "clinic/notifications/_row.html", {"n": notification})
    return redirect("clinic:notifications")


@require_POST
@staff_required
def notification_read_all(request: HttpRequest) -> HttpResponse:
    changed = notifications_mark_all_read(actor=actor(request))
    if _is_htmx(request):
        # From the bell: the realtime message updates every open tab, this one included.
        return HttpResponse(status=204)
    if changed:
        messages.success(request, "All notifications are marked read.")
    return redirect("clinic:notifications")


@never_cache
@require_GET
@staff_required
def notification_snapshot(request: HttpRequest) -> JsonResponse:
    """The bell's starting state when the socket is not (yet) connected."""
    return JsonResponse({"stream": "notifications", **notifications_snapshot(actor(request))})


@require_POST
@staff_required
def notification_test(request: HttpRequest) -> HttpResponse:
    """Send yourself a test notification (demos, and to see desktop alerts work)."""
    try:
        notification_send(
            actor=actor(request),
            recipient=actor(request),
            kind="test",
            title="Test notification",
            body="This is how new notifications appear.",
            url=reverse("clinic:notifications"),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if _is_htmx(request):
            return HttpResponse(status=204)
        messages.success(request, "A test notification is on its way.")
    return redirect("clinic:notifications")
