"""Navigation per role, the user menu, and the nav registry other apps extend."""

from __future__ import annotations

import re

import pytest

from clinic.models import Role
from clinic.portal.registry import _NAV, NavItem, nav_for, nav_register
from clinic.tests.factories import LocationFactory, MembershipFactory, staff_user


def _nav_labels(body: str) -> list[str]:
    bar = re.search(r'<nav class="nav-bar"[^>]*>(.*?)</nav>', body, re.S)
    assert bar, "the page has no main navigation"
    return re.findall(r"<a [^>]*>([^<]+)</a>", bar.group(1))


def _menu_labels(body: str, css_class: str) -> list[str]:
    menu = re.search(rf'<details class="{css_class}".*?</details>', body, re.S)
    assert menu, f"the page has no {css_class}"
    return re.findall(r"<a [^>]*>([^<]+)</a>", menu.group(0))


@pytest.fixture
def restore_nav():
    saved = dict(_NAV)
    yield
    _NAV.clear()
    _NAV.update(saved)


def test_admin_nav(location, signed_in):
    admin = staff_user(role=Role.ADMIN, location=location)
    body = signed_in(admin).get("/").content.decode()
    labels = _nav_labels(body)
    assert labels[0] == "Dashboard"
    # administration lives in the account menu, so the top bar keeps room for daily pages
    assert not {"Organization", "Activity log", "Django admin"} & set(labels)
    account = _menu_labels(body, "user-menu")
    assert account[-3:] == ["Organization", "Activity log", "Django admin"]
    assert "Administration" in body
    # the phone menu lists every section
    assert {"Organization", "Activity log", "Django admin"} <= set(_menu_labels(body, "nav-menu"))


@pytest.mark.parametrize(
    "role", [Role.EMPLOYEE, Role.CLINICIAN, Role.SUPPORT, Role.FIELD_TECHNICIAN]
)
def test_staff_nav_has_no_administration(role, location, signed_in):
    user = staff_user(role=role, location=location)
    body = signed_in(user).get("/").content.decode()
    assert _nav_labels(body)[0] == "Dashboard"
    assert "Notifications" in _menu_labels(body, "user-menu")
    everything = _menu_labels(body, "nav-menu") + _menu_labels(body, "user-menu")
    assert not {"Organization", "Activity log", "Django admin"} & set(everything)
    assert "Administration" not in body


def test_current_page_is_marked(location, signed_in):
    admin = staff_user(role=Role.ADMIN, location=location)
    body = signed_in(admin).get("/organization/users/").content.decode()
    account = re.search(r'<details class="user-menu".*?</details>', body, re.S).group(0)
    assert re.search(r'href="/organization/"[^>]*aria-current="page"[^>]*>Organization<', account)
    assert not re.search(r'href="/"[^>]*aria-current="page"', body)


def test_user_menu_shows_who_where_and_a_sign_out_form(location, signed_in):
    user = staff_user(role=Role.CLINICIAN, location=location, full_name="Robin Okafor")
    body = signed_in(user).get("/").content.decode()
    menu = re.search(r'<details class="user-menu".*?</details>', body, re.S).group(0)
    assert "Robin Okafor" in menu
    assert "RO" in menu
    assert "Clinician" in menu
    assert location.name in menu
    assert re.search(r'<form method="post" action="/logout/?"', menu)
    assert "csrfmiddlewaretoken" in menu


def test_a_phone_gets_the_same_items_in_the_menu_disclosure(location, signed_in):
    user = staff_user(role=Role.FIELD_TECHNICIAN, location=location)
    body = signed_in(user).get("/").content.decode()
    phone_menu = _menu_labels(body, "nav-menu")
    assert phone_menu[: len(_nav_labels(body))] == _nav_labels(body)
    assert set(phone_menu) == set(_nav_labels(body)) | {"Notifications"}


def test_signed_out_pages_have_no_nav(client, db):
    body = client.get("/healthz").content.decode()  # JSON, no shell
    assert "nav-bar" not in body


def test_registered_items_show_for_their_roles_in_order(location, restore_nav):
    for key in [k for k, item in _NAV.items() if not item.url_name.startswith("clinic:")]:
        del _NAV[key]  # only the core's items and this test's own (apps register more)
    nav_register(
        NavItem(
            "patients",
            "Patients",
            "nowhere:patients",
            path="/patients/",
            roles=frozenset({Role.EMPLOYEE}),
            order=20,
        )
    )
    nav_register(NavItem("ghost", "Ghost", "nowhere:ghost"))  # no URL yet, no fallback: hidden
    employee = staff_user(role=Role.EMPLOYEE, location=location)
    tech = staff_user(role=Role.FIELD_TECHNICIAN, location=location)
    assert [i["label"] for i in nav_for(employee, "/patients/")] == [
        "Dashboard",
        "Patients",
        "Notifications",
    ]
    assert [i["current"] for i in nav_for(employee, "/patients/7")] == [False, True, False]
    assert "Patients" not in [i["label"] for i in nav_for(tech, "/")]


def test_user_with_two_roles_sees_the_items_of_both(location, signed_in):
    user = staff_user(role=Role.EMPLOYEE, location=location)
    annex = LocationFactory(organization=location.organization)
    MembershipFactory(user=user, location=annex, role=Role.ADMIN)
    body = signed_in(user).get("/").content.decode()
    assert {"Organization", "Notifications", "Activity log"} <= set(_menu_labels(body, "user-menu"))
