"""Insurance and medical history in a real browser: from the dashboard tab, add a payer and a
policy, see only the last four of the member id, record a verification; then add a diagnosis
and see a malformed code refused. A real ASGI server and Chromium."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from patients.models import Diagnosis, InsurancePolicy
from patients.tests.factories import PatientFactory
from tests.browser.fixtures import signed_in_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 20000  # only keeps a broken test from hanging
# Set to a directory to keep screenshots of each page (for a look at the layout).
SHOTS = os.environ.get("TANDEM_SCREENSHOTS", "")


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(browser, live_asgi, make_staff, location):
    user = make_staff(role=Role.EMPLOYEE, location=location)
    context = signed_in_context(browser, live_asgi, user, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.user = user
    page.base = live_asgi
    yield page
    context.close()
    assert errors == []


def _shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_add_a_policy_verify_it_and_add_a_diagnosis(page, location):
    patient = PatientFactory(home_location=location, first_name="Iris", last_name="Coverwell")
    page.goto(page.base + reverse("patients:detail", kwargs={"public_id": patient.public_id}))
    page.click("nav.tabs >> text=Insurance")
    page.wait_for_selector("text=No insurance on file.", timeout=WAIT_MS)

    page.fill("#id_payer-name", "Acme Health")
    page.select_option("#id_payer-kind", "commercial")
    page.click("text=Add payer")
    page.wait_for_selector("text=Acme Health can now be chosen as a payer.", timeout=WAIT_MS)

    page.select_option("#id_rank", "PRIMARY")
    page.select_option("#id_payer", label="Acme Health")
    page.fill("#id_member_id", "ZKW 4410 7788")
    page.fill("#id_effective_from", "2026-01-01")
    page.fill("#id_effective_to", "2025-01-01")
    page.click("text=Add policy")
    page.wait_for_selector("text=There is a problem", timeout=WAIT_MS)
    assert "cannot end before it starts" in page.inner_text(".error-summary")
    page.fill("#id_effective_to", "2026-12-31")
    page.click("text=Add policy")
    page.wait_for_selector("text=Policy added.", timeout=WAIT_MS)
    table = page.inner_text("table")
    assert "7788" in table and "4410" not in table

    page.click("text=Record check")
    page.wait_for_selector("text=Verification recorded.", timeout=WAIT_MS)
    assert "Verified" in page.inner_text("table")
    _shot(page, "insurance")
    policy = InsurancePolicy.objects.get(patient=patient)
    assert policy.member_id == "ZKW 4410 7788" and policy.verified_by == page.user

    page.click("nav.tabs >> text=Medical history")
    page.fill("#id_dx-code", "U07.1")
    page.fill("#id_dx-description", "Wrong code")
    page.click("text=Add diagnosis")
    page.wait_for_selector("text=There is a problem", timeout=WAIT_MS)
    page.fill("#id_dx-code", "g47.33")
    page.fill("#id_dx-description", "Obstructive sleep apnea")
    page.click("text=Add diagnosis")
    page.wait_for_selector("text=Diagnosis added.", timeout=WAIT_MS)
    _shot(page, "medical_history")
    assert Diagnosis.objects.get(patient=patient).code == "G47.33"

    actions = set(AuditEvent.objects.filter(actor=page.user).values_list("action", flat=True))
    assert {"patient.insurance_viewed", "patient.medical_history_viewed"} <= actions
    assert not AuditEvent.objects.filter(details__icontains="4410").exists()
