"""The referring-physician picker in a real browser, on a desktop and on a phone: typing part
of a name suggests physicians from the JSON endpoint, choosing one (by tap or by keyboard)
fills the box and filters the list; on the create form the chosen physician is saved."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from clinic.models import Role
from clinic.tests.factories import staff_user
from patients.models import Patient
from patients.record.forms import physician_label
from patients.tests.factories import PatientFactory, PhysicianFactory
from tests.browser.test_patients_done import _signed_in_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 20000  # only keeps a broken test from hanging
# Screenshots to look at after a run (desktop 1280x800, phone 390x844).
SHOTS = Path(tempfile.gettempdir())


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


DESKTOP = {"width": 1280, "height": 800}


def _page(browser: Any, base: str, user: Any, viewport: dict[str, int], **kw: Any) -> Any:
    return _signed_in_page(browser, base, user, viewport=viewport, **kw)


def test_pick_a_physician_to_filter_the_list_on_desktop_and_phone(browser, live_asgi, location):
    user = staff_user(role=Role.EMPLOYEE, location=location)
    org = location.organization
    ruiz = PhysicianFactory(organization=org, first_name="Ana", last_name="Ruiz", practice="ENT")
    PhysicianFactory(organization=org, first_name="Rupert", last_name="Hale", practice="Sleep")
    PatientFactory(home_location=location, last_name="Referred", referring_physician=ruiz)
    PatientFactory(home_location=location, last_name="Unreferred")

    page = _page(browser, live_asgi, user, DESKTOP)
    page.goto(live_asgi + reverse("patients:list"))
    box = page.get_by_role("combobox", name="Referred by")
    box.fill("ru")
    options = page.get_by_role("listbox").get_by_role("option")
    options.first.wait_for(timeout=WAIT_MS)
    assert options.count() == 2
    page.screenshot(path=str(SHOTS / "patients-physician-picker-desktop.png"))
    # Keyboard: down twice reaches the second suggestion (Ruiz), Enter chooses it. Wait for the
    # lookups to settle first: a late answer redraws the list and resets the active option.
    page.wait_for_load_state("networkidle")
    box.press("ArrowDown")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true", timeout=WAIT_MS)
    box.press("Enter")
    expect(box).to_have_value(physician_label(ruiz), timeout=WAIT_MS)
    page.wait_for_url("**physician=*", timeout=WAIT_MS)
    page.get_by_text("Unreferred").wait_for(state="detached", timeout=WAIT_MS)
    assert page.locator("#patient-results").get_by_text("Referred").count() == 1
    assert page.errors == []

    phone = _page(
        browser, live_asgi, user, {"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    phone.goto(live_asgi + reverse("patients:list"))
    box = phone.get_by_role("combobox", name="Referred by")
    box.fill("ana")
    option = phone.get_by_role("listbox").get_by_role("option", name="Dr Ana Ruiz (ENT)")
    option.wait_for(timeout=WAIT_MS)
    phone.screenshot(path=str(SHOTS / "patients-physician-picker-phone.png"), full_page=True)
    # No wider than the phone's screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    option.tap()
    assert box.input_value() == physician_label(ruiz)
    phone.get_by_text("Unreferred").wait_for(state="detached", timeout=WAIT_MS)
    assert phone.errors == []


def test_pick_a_physician_on_the_create_form(browser, live_asgi, location):
    user = staff_user(role=Role.EMPLOYEE, location=location)
    ruiz = PhysicianFactory(
        organization=location.organization, first_name="Ana", last_name="Ruiz", practice="ENT"
    )
    page = _page(browser, live_asgi, user, DESKTOP)
    page.goto(live_asgi + reverse("patients:create"))
    page.get_by_label("Home location").select_option(label=location.name)
    page.get_by_label("First name").fill("Nora")
    page.get_by_label("Last name").fill("Quinn")
    page.get_by_label("Date of birth").fill("1950-05-06")
    page.get_by_label("Mobile phone").fill("201 555 0123")
    box = page.get_by_role("combobox", name="Referring physician")
    box.fill("ruiz")
    page.get_by_role("option", name="Dr Ana Ruiz (ENT)").click()
    assert box.input_value() == physician_label(ruiz)
    page.screenshot(path=str(SHOTS / "patients-physician-picker-form.png"), full_page=True)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/patients/*/", timeout=WAIT_MS)
    assert Patient.objects.get().referring_physician == ruiz
    assert page.errors == []
