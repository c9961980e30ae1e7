"""The activity log: an organization's audit trail, for its ADMINs."""

from __future__ import annotations

from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clinic.audit.forms import ActivityFilterForm, known_object_types
from clinic.audit.selectors import ActivityPage, activity_page
from clinic.decorators import staff_required
from clinic.models import Organization
from clinic.permissions import can_view_activity_log
from clinic.web import actor


def _org_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@staff_required(check=can_view_activity_log)
def activity(request: HttpRequest) -> HttpResponse:
    # staff_required let only verified members of an organization through.
    user = actor(request)
    organization = cast(Organization, user.organization)
    tz = _org_timezone(organization.timezone)
    form = ActivityFilterForm(request.GET, user=user)
    page: ActivityPage | None = None
    older_url = newer_url = ""
    if form.is_valid():
        page = activity_page(
            user=user,
            filters=form.filters(tz),
            before=form.cleaned_data.get("before"),
            after=form.cleaned_data.get("after"),
        )
        # Paging links keep the filters and swap the cursor.
        params = request.GET.copy()
        params.pop("before", None)
        params.pop("after", None)
        if page.older is not None:
            params["before"] = str(page.older)
            older_url = "?" + params.urlencode()
            params.pop("before")
        if page.newer is not None:
            params["after"] = str(page.newer)
            newer_url = "?" + params.urlencode()
    return render(
        request,
        "clinic/audit/activity.html",
        {
            "form": form,
            "page": page,
            "older_url": older_url,
            "newer_url": newer_url,
            "org_timezone": tz.key,
            "object_types": known_object_types(),
            "filtered": any(
                form.data.get(k)
                for k in ("actor", "action", "object_type", "object_id", "date_from", "date_to")
            ),
        },
    )
