"""The portal shell: navigation per role, the user menu, and the role dashboards.

Both the navigation and the dashboards are registries that other apps extend from their
``AppConfig.ready()``::

    from clinic.views.portal import DashboardPanel, NavItem, dashboard_panel_register, nav_register

    nav_register(NavItem("patients", "Patients", "patients:list",
                         roles={Role.EMPLOYEE, Role.CLINICIAN}, order=20))
    dashboard_panel_register(DashboardPanel("schedule", "scheduling/panels/today.html",
                             roles={Role.FIELD_TECHNICIAN}, context=today_panel, order=10))

A nav item whose URL name does not resolve (the app is not installed yet) falls back to
its ``path`` or is left out. A panel's ``context(request)`` must run a fixed number of
queries however many rows there are: the dashboard is every user's landing page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from clinic.decorators import staff_required
from clinic.models import AuditEvent, Location, Membership, Notification, OutboxEvent, Role, User
from clinic.permissions import can_manage_organization, can_view_activity_log, is_verified_staff
from clinic.tenancy import scope_queryset

ALL_ROLES: frozenset[str] = frozenset(Role.values)
STAFF_ROLES: frozenset[str] = ALL_ROLES - {Role.ADMIN}


def url_or_path(name: str, path: str = "") -> str:
    """Reverse ``name``; while the page's app is not built yet, use ``path`` ("" hides it)."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return path


# -- navigation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url_name: str
    path: str = ""  # fallback while url_name does not resolve
    roles: frozenset[str] = ALL_ROLES  # shown if the user holds any of these roles
    check: Callable[[Any], bool] | None = None  # and, if given, this passes
    order: int = 100
    exact: bool = False  # "current page" only on an exact match (the dashboard)
    # "main": the top bar; "account" / "admin": the account menu (the latter under
    # "Administration"), so the bar keeps room for the pages used all day. The phone menu
    # lists every section.
    section: str = "main"

    def visible_to(self, user: User) -> bool:
        if not user.has_role(*self.roles):
            return False
        return self.check is None or bool(self.check(user))


_NAV: dict[str, NavItem] = {}


def nav_register(item: NavItem) -> None:
    """Add or replace (by key) an item of the main navigation."""
    _NAV[item.key] = item


def nav_for(user: User, current_path: str) -> list[dict[str, Any]]:
    items = []
    for item in sorted(_NAV.values(), key=lambda i: (i.order, i.label)):
        if not item.visible_to(user):
            continue
        href = url_or_path(item.url_name, item.path)
        if not href:
            continue
        current = current_path == href if item.exact else current_path.startswith(href)
        items.append(
            {
                "key": item.key,
                "label": item.label,
                "href": href,
                "current": current,
                "section": item.section,
            }
        )
    return items


nav_register(NavItem("dashboard", "Dashboard", "clinic:dashboard", path="/", order=0, exact=True))
nav_register(
    NavItem(
        "notifications",
        "Notifications",
        "clinic:notifications",
        path="/notifications",
        roles=STAFF_ROLES,
        order=90,
        section="account",  # the bell is in the top bar; the list is in the account menu
    )
)
nav_register(
    NavItem(
        "organization",
        "Organization",
        "clinic:organization",
        roles=frozenset({Role.ADMIN}),
        check=can_manage_organization,
        order=200,
        section="admin",
    )
)
nav_register(
    NavItem(
        "activity",
        "Activity log",
        "clinic:activity",
        path="/activity",
        roles=frozenset({Role.ADMIN}),
        check=can_view_activity_log,
        order=210,
        section="admin",
    )
)
nav_register(
    NavItem(
        "admin",
        "Django admin",
        "admin:index",
        path="/admin/",
        roles=frozenset({Role.ADMIN}),
        check=lambda user: user.is_staff,
        order=220,
        section="admin",
    )
)


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


@dataclass(frozen=True)
class DashboardPanel:
    key: str
    template: str
    context: Callable[[HttpRequest], dict[str, Any]]
    roles: frozenset[str] = ALL_ROLES
    order: int = 100
    wide: bool = False


_PANELS: dict[str, DashboardPanel] = {}


def dashboard_panel_register(panel: DashboardPanel) -> None:
    """Add or replace (by key) a panel that later apps show on the dashboards of ``roles``."""
    _PANELS[panel.key] = panel


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
    for panel in sorted(_PANELS.values(), key=lambda p: (p.order, p.key)):
        if role in panel.roles:
            extra.append({"panel": panel, "context": panel.context(request)})
    context["extra_panels"] = extra
    template = DASHBOARD_TEMPLATES.get(role or "", "clinic/dashboard_no_role.html")
    return render(request, template, context)
