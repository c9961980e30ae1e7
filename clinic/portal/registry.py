"""The portal's registries: navigation entries and dashboard panels.

Other apps extend them from their ``AppConfig.ready()``::

    from clinic.portal.registry import (
        DashboardPanel, NavItem, dashboard_panel_register, nav_register)

    nav_register(NavItem("patients", "Patients", "patients:list",
                         roles={Role.EMPLOYEE, Role.CLINICIAN}, order=20))
    dashboard_panel_register(DashboardPanel("schedule", "scheduling/panels/today.html",
                             roles={Role.FIELD_TECHNICIAN}, context=today_panel, order=10))

A nav item whose URL name does not resolve (the app is not installed yet) falls back to
its ``path`` or is left out. A panel's ``context(request)`` must run a fixed number of
queries however many rows there are: the dashboard is every user's landing page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from clinic.models import Role, User

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


def dashboard_panels() -> list[DashboardPanel]:
    """The registered panels, in display order."""
    return sorted(_PANELS.values(), key=lambda p: (p.order, p.key))
