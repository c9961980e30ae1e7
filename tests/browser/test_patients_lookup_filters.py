"""The list's location and technician filters in a real browser for an ADMIN of a large
organization: pickers instead of long selects (type, choose, the list narrows), on a desktop and
on a phone; and the note that a broad search was cut at its limit."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import LocationFactory, staff_user
from patients.record import services
from patients.record.forms import SELECT_MAX, location_label, technician_label
from patients.tests.factories import PatientFactory
from tests.browser.test_patients_done import _signed_in_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 20000  # only keeps a broken test from hanging
SHOTS = Path(tempfile.gettempdir())
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def big_org(location):
    org = location.organization
    sites = [LocationFactory(organization=org, name=f"Clinic {i:02d}") for i in range(SELECT_MAX)]
    lakeside = LocationFactory(organization=org, name="Lakeside Sleep Center")
    techs = [
        staff_user(role=Role.FIELD_TECHNICIAN, location=sites[i], full_name=f"Tech {i:02d}")
        for i in range(SELECT_MAX)
    ]
    rosa = staff_user(role=Role.FIELD_TECHNICIAN, location=location, full_name="Rosa Diaz")
    PatientFactory(home_location=lakeside, last_name="Lakesider")
    served = PatientFactory(home_location=location, last_name="Served")
    PatientFactory(home_location=location, last_name="Unserved")
    services.patient_assignment_add(actor=None, patient=served, technician=rosa)
    return {"lakeside": lakeside, "rosa": rosa, "techs": techs}


def test_admin_picks_a_location_and_a_technician_on_desktop_and_phone(
    browser,
    live_asgi,
    location,
    big_org,
):
    admin = staff_user(role=Role.ADMIN, location=location)
    page = _signed_in_page(browser, live_asgi, admin, viewport=DESKTOP)
    page.goto(live_asgi + reverse("patients:list"))
    assert page.locator("select[name=location], select[name=technician]").count() == 0
    page.screenshot(path=str(SHOTS / "patients-list-admin-desktop.png"))
    box = page.get_by_role("combobox", name="Location")
    box.fill("lake")
    option = page.get_by_role("option", name="Lakeside Sleep Center")
    option.wait_for(timeout=WAIT_MS)
    page.screenshot(path=str(SHOTS / "patients-location-picker-desktop.png"))
    box.press("ArrowDown")
    box.press("Enter")
    assert box.input_value() == location_label(big_org["lakeside"])
    page.wait_for_url("**location=*", timeout=WAIT_MS)
    page.get_by_text("Unserved").wait_for(state="detached", timeout=WAIT_MS)
    assert page.locator("#patient-results").get_by_text("Lakesider").count() == 1
    assert page.errors == []

    phone = _signed_in_page(
        browser, live_asgi, admin, viewport=PHONE, is_mobile=True, has_touch=True
    )
    phone.goto(live_asgi + reverse("patients:list"))
    phone.screenshot(path=str(SHOTS / "patients-list-admin-phone.png"), full_page=True)
    box = phone.get_by_role("combobox", name="Technician")
    box.fill("rosa")
    option = phone.get_by_role("option", name="Rosa Diaz")
    option.wait_for(timeout=WAIT_MS)
    phone.screenshot(path=str(SHOTS / "patients-technician-picker-phone.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    option.tap()
    assert box.input_value() == technician_label(big_org["rosa"])
    phone.get_by_text("Unserved").wait_for(state="detached", timeout=WAIT_MS)
    assert phone.locator("#patient-results").get_by_text("Served").count() == 1
    assert phone.errors == []


@pytest.fixture
def small_broad_limit(monkeypatch):
    """A broad match cut at 3 patients, set before the test server (a forked process) starts."""
    monkeypatch.setattr("patients.record.selectors.BROAD_MATCH_LIMIT", 3)


def test_a_broad_search_cut_at_its_limit_says_so_in_the_browser(
    small_broad_limit,
    browser,
    live_asgi,
    location,
):
    for i in range(5):
        PatientFactory(home_location=location, first_name="Quentin", last_name=f"Q{i}")
    admin = staff_user(role=Role.ADMIN, location=location)
    page = _signed_in_page(browser, live_asgi, admin, viewport=PHONE, is_mobile=True)
    page.goto(live_asgi + reverse("patients:list"))
    page.get_by_role("searchbox", name="Search").fill("quentin")
    note = page.get_by_role("status").filter(has_text="refine the search")
    note.wait_for(timeout=WAIT_MS)
    assert note.inner_text() == "Showing the first 3 matches; refine the search."
    page.screenshot(path=str(SHOTS / "patients-search-capped-phone.png"), full_page=True)
    assert page.errors == []


def test_admin_picks_the_home_location_on_the_create_form_on_a_phone(
    browser,
    live_asgi,
    location,
    big_org,
):
    admin = staff_user(role=Role.ADMIN, location=location)
    phone = _signed_in_page(
        browser, live_asgi, admin, viewport=PHONE, is_mobile=True, has_touch=True
    )
    phone.goto(live_asgi + reverse("patients:create"))
    box = phone.get_by_role("combobox", name="Home location")
    box.fill("lake")
    option = phone.get_by_role("option", name="Lakeside Sleep Center")
    option.wait_for(timeout=WAIT_MS)
    phone.screenshot(path=str(SHOTS / "patients-create-location-picker-phone.png"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    option.tap()
    assert box.input_value() == location_label(big_org["lakeside"])
    assert phone.errors == []
