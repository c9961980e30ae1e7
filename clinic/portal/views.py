"""The portal shell: the navigation context, the user menu, and the role dashboards.

What the navigation and the dashboards show comes from ``clinic.portal.registry``, which every
app extends from its ``AppConfig.ready()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from clinic.decorators import staff_required
from clinic.models import AuditEvent, Location, Membership, Notification, OutboxEvent, Role, User
from clinic.permissions import can_manage_organization, is_verified_staff
from clinic.portal.registry import dashboard_panels, nav_for, url_or_path
from clinic.tenancy import scope_queryset


def _initials(name: str) -> str:
    parts = [p for p in name.split() if p[:1].isalpha()]
    if not parts:
        return "?"
    return (parts[0][0] + (parts[-1][0] if len(parts) > 1 else "")).upper()


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the nav, the user menu and the shell's links, for signed-in staff."""
    user = getattr(request, "user", None)
    if user is None or not is_verified_staff(user):
        return {}
    memberships = user._memberships  # loaded once per request, shared with the role checks
    primary = user.primary_role
    items = nav_for(user, request.path)
    return {
        "nav_items": items,
        "nav_sections": {
            section: [i for i in items if i["section"] == section]
            for section in ("main", "account", "admin")
        },
        "portal_user": {
            "name": user.full_name or user.email,
            "initials": _initials(user.full_name or user.email),
            "role_label": Role(primary).label if primary else "No role yet",
            "memberships": [
                {"location": m.location.name, "role": m.get_role_display()} for m in memberships
            ],
        },
        "portal_links": {
            "account": url_or_path("clinic:account", "/account"),
            "logout": url_or_path("clinic:logout", "/logout"),
            "notifications": url_or_path("clinic:notifications", "/notifications"),
            "activity": url_or_path("clinic:activity", "/activity"),
        },
    }


# -- dashboards --------------------------------------------------------------------------------


DASHBOARD_TEMPLATES: dict[str, str] = {
    Role.ADMIN: "clinic/dashboard_admin.html",
    Role.EMPLOYEE: "clinic/dashboard_employee.html",
    Role.FIELD_TECHNICIAN: "clinic/dashboard_field_technician.html",
    Role.CLINICIAN: "clinic/dashboard_clinician.html",
    Role.SUPPORT: "clinic/dashboard_support.html",
}

# Audit actions of the sign-in work, in the words an administrator uses.
SIGN_IN_LABELS = {
    "auth.login": "Signed in",
    "auth.login_failed": "Failed sign-in",
    "auth.otp_failed": "Wrong authenticator code",
    "auth.lockout": "Sign-in paused (lockout)",
    "auth.locked_out": "Sign-in paused (lockout)",
    "auth.logout": "Signed out",
    "auth.session_expired": "Session ended (timeout)",
    "auth.totp_enrolled": "Authenticator set up",
    "auth.password_changed": "Password changed",
    "auth.password_change_failed": "Password change refused",
    "auth.backup_code_used": "Signed in with a backup code",
    "auth.backup_codes_generated": "New backup codes",
}
SIGN_IN_PROBLEMS = {"auth.login_failed", "auth.otp_failed", "auth.lockout", "auth.locked_out"}


def sign_in_label(action: str) -> str:
    return SIGN_IN_LABELS.get(action) or action.removeprefix("auth.").replace("_", " ").capitalize()


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _home_zone(user: User) -> ZoneInfo:
    """The time zone of the user's first location, else their organization's."""
    memberships = user._memberships
    if memberships:
        return _zone(memberships[0].location.timezone)
    return _zone(user.organization.timezone if user.organization is not None else None)


def _greeting(hour: int) -> str:
    if hour < 12:
        return "Good morning"
    if hour < 18:
        return "Good afternoon"
    return "Good evening"


def _my_locations(user: User) -> list[Location]:
    """The user's own locations, each with ``my_role`` and its ``local_now``."""
    now = timezone.now()
    seen: dict[int, Location] = {}
    for m in user._memberships:
        location = m.location
        location.my_role = m.get_role_display()  # type: ignore[attr-defined]
        location.local_now = now.astimezone(_zone(location.timezone))  # type: ignore[attr-defined]
        seen.setdefault(location.pk, location)
    return list(seen.values())


def _team_counts(locations: Iterable[Location]) -> None:
    """Attach ``team``: [(role label, count)] of active colleagues, in one query."""
    by_location: dict[int, list[tuple[str, int]]] = {}
    locations = list(locations)
    rows = (
        Membership.objects.filter(location__in=locations, user__is_active=True)
        .values("location_id", "role")
        .annotate(n=Count("id"))
        .order_by("location_id", "role")
    )
    for row in rows:
        by_location.setdefault(row["location_id"], []).append((Role(row["role"]).label, row["n"]))
    for location in locations:
        location.team = by_location.get(location.pk, [])  # type: ignore[attr-defined]
        location.team_total = sum(n for _, n in location.team)  # type: ignore[attr-defined]


def _notifications(user: User, limit: int = 5) -> dict[str, Any]:
    inbox = scope_queryset(Notification.objects.filter(recipient=user), user)
    return {
        "unread_count": inbox.filter(read_at__isnull=True).count(),
        "latest": list(inbox.order_by("-id")[:limit]),
    }


def _admin_panels(request: HttpRequest) -> dict[str, Any]:
    user: User = request.user  # type: ignore[assignment]
    locations = (
        scope_queryset(Location.objects.all(), user, all_locations=True)
        .annotate(
            member_count=Count(
                "memberships__user", filter=Q(memberships__user__is_active=True), distinct=True
            )
        )
        .order_by("-is_active", "name")
    )
    org_users = scope_queryset(User.objects.all(), user, all_locations=True)
    user_totals = org_users.aggregate(
        active=Count("id", filter=Q(is_active=True)),
        inactive=Count("id", filter=Q(is_active=False)),
    )
    role_rows = (
        scope_queryset(Membership.objects.all(), user, all_locations=True)
        .filter(location__is_active=True, user__is_active=True)
        .values("role")
        .annotate(n=Count("user", distinct=True))
        .order_by()
    )
    by_role = {row["role"]: row["n"] for row in role_rows}
    since = timezone.now() - timedelta(days=7)
    auth_events = scope_queryset(AuditEvent.objects.all(), user, all_locations=True).filter(
        action__startswith="auth.", occurred_at__gte=since
    )
    counts = {
        row["action"]: row["n"]
        for row in auth_events.values("action").annotate(n=Count("id")).order_by()
    }
    recent = list(auth_events.select_related("actor").order_by("-id")[:6])
    for event in recent:
        event.label = sign_in_label(event.action)  # type: ignore[attr-defined]
        event.is_problem = event.action in SIGN_IN_PROBLEMS  # type: ignore[attr-defined]
    location_totals = scope_queryset(Location.objects.all(), user, all_locations=True).aggregate(
        active=Count("id", filter=Q(is_active=True)), all=Count("id")
    )
    return {
        "org_locations": list(locations[:8]),
        "location_totals": location_totals,
        "more_locations": location_totals["all"] > 8,
        "user_totals": user_totals,
        "users_by_role": [(value, label, by_role.get(value, 0)) for value, label in Role.choices],
        "sign_ins": {
            "succeeded": counts.get("auth.login", 0),
            "failed": sum(n for action, n in counts.items() if action in SIGN_IN_PROBLEMS),
            "other": sum(
                n
                for action, n in counts.items()
                if action != "auth.login" and action not in SIGN_IN_PROBLEMS
            ),
            "recent": recent,
        },
    }


def _support_panels(request: HttpRequest) -> dict[str, Any]:
    user: User = request.user  # type: ignore[assignment]
    # Live updates waiting longer than the sweep interval point at a stuck worker or Redis.
    stale = timezone.now() - timedelta(minutes=2)
    pending = scope_queryset(OutboxEvent.objects.filter(dispatched_at__isnull=True), user)
    return {
        "delivery": pending.aggregate(
            waiting=Count("id"), stale=Count("id", filter=Q(created_at__lt=stale))
        )
    }


ROLE_PANELS: dict[str, Callable[[HttpRequest], dict[str, Any]]] = {
    Role.ADMIN: _admin_panels,
    Role.SUPPORT: _support_panels,
}


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    role = user.primary_role
    zone = _home_zone(user)
    now = timezone.now().astimezone(zone)
    my_locations = _my_locations(user)
    if role != Role.ADMIN:
        _team_counts(my_locations)
    context: dict[str, Any] = {
        "role": role,
        "greeting": _greeting(now.hour),
        "first_name": (user.full_name or "").split(" ")[0] or user.email,
        "today": now,
        "tz_name": str(zone),
        "my_locations": my_locations,
        "notifications": _notifications(user),
        "can_manage": can_manage_organization(user),
    }
    if role in ROLE_PANELS:
        context.update(ROLE_PANELS[role](request))
    extra = []
    for panel in dashboard_panels():
        if role in panel.roles:
            extra.append({"panel": panel, "context": panel.context(request)})
    context["extra_panels"] = extra
    template = DASHBOARD_TEMPLATES.get(role or "", "clinic/dashboard_no_role.html")
    return render(request, template, context)
