"""A guided session in two real browsers: staff on a desktop, the patient on a tablet.

A real ASGI server (daphne on the test database, Channels over the real Redis layer) and
Chromium. The staff console pairs the tablet, walks it through every step (typing mirrored
live, a field pointed at, photos from the tablet's camera input, consents read to the end, a
signature drawn with the mouse), the tablet loses its connection in the middle of typing and
gets it back without losing a keystroke, the staff page is reloaded mid-session, and completion
puts the new data and the signed consent into the patient record.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.conftest import celery_queue, celery_worker, wait_until  # noqa: F401
from patients.clinical.tests.factories import PayerFactory
from patients.guided.models import GuidedSession, SessionStatus
from patients.models import Document, DocumentCategory, InsurancePolicy
from tests.browser.fixtures import signed_in_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 20000  # only keeps a broken test from hanging
SHOTS = os.path.join(tempfile.gettempdir(), "guided-client")  # screenshots to look at
TABLET = {"width": 820, "height": 1180}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _photo(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 400), colour).save(out, format="JPEG")
    return out.getvalue()


def _staff_page(browser, base: str, user):
    context = signed_in_context(browser, base, user, viewport=DESKTOP)
    return context, context.new_page()


def _mirror_value(staff, field: str) -> str:
    return staff.inner_text(f'#guided-mirror [data-field="{field}"] .guided-mirror-value')


def _wait_mirror(staff, field: str, text: str) -> None:
    staff.wait_for_function(
        """([field, text]) => {
          const row = `#guided-mirror [data-field="${field}"] .guided-mirror-value`;
          const n = document.querySelector(row);
          return n && n.textContent.trim() === text;
        }""",
        arg=[field, text],
        timeout=WAIT_MS,
    )


def _navigate(staff, tablet, step: str) -> None:
    staff.click(f'#guided-steps button[data-step="{step}"]')
    tablet.wait_for_selector(f'#guided-step[data-step="{step}"]', timeout=WAIT_MS)
    staff.wait_for_selector(f'#guided-mirror[data-step="{step}"]', timeout=WAIT_MS)


def _type(tablet, field: str, text: str) -> None:
    tablet.click(f'[name="{field}"]')
    tablet.keyboard.type(text, delay=15)


def _draw_signature(tablet) -> None:
    box = tablet.locator(".guided-signature-canvas").bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    tablet.mouse.move(x + w * 0.1, y + h * 0.6)
    tablet.mouse.down()
    for i in range(1, 21):
        tablet.mouse.move(x + w * (0.1 + 0.04 * i), y + h * (0.6 - 0.3 * ((i % 4) / 3)), steps=3)
    tablet.mouse.up()


def test_two_devices_walk_the_whole_flow_survive_drops_and_file_a_signed_consent(
    browser,
    live_asgi,
    make_staff,
    location,
):
    staff_user = make_staff(role=Role.EMPLOYEE, location=location)
    payer = PayerFactory(organization_id=location.organization_id, name="Blue Shield Test")
    errors: list[str] = []

    staff_ctx, staff = _staff_page(browser, live_asgi, staff_user)
    staff.on("pageerror", lambda exc: errors.append(f"staff: {exc}"))
    tablet_ctx = browser.new_context(viewport=TABLET, has_touch=True)
    tablet = tablet_ctx.new_page()
    tablet.on("pageerror", lambda exc: errors.append(f"tablet: {exc}"))
    try:
        # ---------------------------------------- start and pair
        staff.goto(live_asgi + reverse("guided:list"))
        staff.select_option("#guided-start-location", str(location.public_id))
        staff.click("#guided-start-form button[type=submit]")
        staff.wait_for_selector("#guided-code", timeout=WAIT_MS)
        code = re.sub(r"\D", "", staff.inner_text("#guided-code"))
        assert len(code) == 6
        staff.wait_for_selector("#guided-steps button[data-step='identity']", timeout=WAIT_MS)
        assert staff.get_attribute("#guided-presence", "data-patient") == "none"
        staff.screenshot(path=f"{SHOTS}-staff-pairing.png")

        tablet.goto(live_asgi + reverse("guided:pair"))
        tablet.screenshot(path=f"{SHOTS}-tablet-pair.png")
        tablet.fill("#guided-code-input", "000000" if code != "000000" else "111111")
        tablet.click("#guided-pair-form button[type=submit]")
        assert "not right" in tablet.inner_text("#guided-pair-error")
        tablet.fill("#guided-code-input", code)
        tablet.click("#guided-pair-form button[type=submit]")
        tablet.wait_for_selector('#guided-step[data-step="identity"]', timeout=WAIT_MS)
        staff.wait_for_selector("#guided-presence[data-patient='connected']", timeout=WAIT_MS)
        session = GuidedSession.objects.get(started_by=staff_user)

        # ---------------------------------------- identity, mirrored live
        # The patient cannot move ahead: there is no way to choose a step on the tablet.
        assert tablet.locator("#guided-step button[data-step]").count() == 0
        _type(tablet, "first_name", "Ana")
        _wait_mirror(staff, "first_name", "Ana")
        staff.wait_for_selector(
            '#guided-mirror [data-field="first_name"].is-focused', timeout=WAIT_MS
        )
        staff.click('#guided-mirror [data-field="last_name"] .guided-point')
        tablet.wait_for_selector(
            '.guided-field.is-highlighted[data-field="last_name"]', timeout=WAIT_MS
        )
        _type(tablet, "last_name", "Guidedsson")
        tablet.fill('[name="date_of_birth"]', "1958-03-14")
        tablet.select_option('[name="sex"]', "F")
        _wait_mirror(staff, "last_name", "Guidedsson")
        staff.click("#guided-clear-highlight")
        tablet.wait_for_selector(".guided-field.is-highlighted", state="detached", timeout=WAIT_MS)
        tablet.screenshot(path=f"{SHOTS}-tablet-identity.png")
        tablet.set_viewport_size(PHONE)  # the same page on a phone, to look at
        tablet.screenshot(path=f"{SHOTS}-phone-identity.png", full_page=True)
        tablet.set_viewport_size(TABLET)
        staff.screenshot(path=f"{SHOTS}-staff-identity.png")

        # ---------------------------------------- demographics; a drop mid-typing
        _navigate(staff, tablet, "demographics")
        _type(tablet, "city", "Spring")
        tablet_ctx.set_offline(True)
        tablet.evaluate("window.TandemGuided.drop()")
        tablet.wait_for_selector("#guided-device[data-connection='reconnecting']", timeout=WAIT_MS)
        assert "Reconnecting" in tablet.inner_text("#guided-status")
        tablet.keyboard.type("field Lakes", delay=15)
        _type(tablet, "postal_code", "55501")
        staff.wait_for_selector("#guided-presence[data-patient='reconnecting']", timeout=WAIT_MS)
        tablet.screenshot(path=f"{SHOTS}-tablet-reconnecting.png")
        staff.screenshot(path=f"{SHOTS}-staff-reconnecting.png")
        tablet_ctx.set_offline(False)
        tablet.wait_for_selector("#guided-device[data-connection='connected']", timeout=WAIT_MS)
        _wait_mirror(staff, "city", "Springfield Lakes")
        _wait_mirror(staff, "postal_code", "55501")
        staff.wait_for_selector("#guided-presence[data-patient='connected']", timeout=WAIT_MS)
        wait_until(lambda: not tablet.evaluate("window.TandemGuided.pending"))
        session.refresh_from_db()
        assert session.values["city"] == "Springfield Lakes"
        assert session.values["postal_code"] == "55501"
        _type(tablet, "address_line1", "12 Lake Road")
        # A number the server cannot accept is flagged on both screens as it is typed.
        _type(tablet, "phone_mobile", "+1 555 201 0101")
        tablet.wait_for_selector(
            '.guided-field[data-field="phone_mobile"] .field-error:not([hidden])', timeout=WAIT_MS
        )
        staff.wait_for_selector(
            '#guided-mirror [data-field="phone_mobile"].has-error', timeout=WAIT_MS
        )
        tablet.fill('[name="phone_mobile"]', "")
        _type(tablet, "phone_mobile", "+1 612 555 0199")
        staff.wait_for_selector(
            '#guided-mirror [data-field="phone_mobile"]:not(.has-error)', timeout=WAIT_MS
        )

        # A staff reload mid-session finds everything where it was.
        staff.reload()
        staff.wait_for_selector('#guided-mirror[data-step="demographics"]', timeout=WAIT_MS)
        _wait_mirror(staff, "city", "Springfield Lakes")
        _wait_mirror(staff, "phone_mobile", "+1 612 555 0199")
        assert tablet.input_value('[name="city"]') == "Springfield Lakes"

        # ---------------------------------------- identity document photos
        _navigate(staff, tablet, "id_document")
        tablet.set_input_files(
            'input[data-slot="id_front"]',
            files=[
                {"name": "front.jpg", "mimeType": "image/jpeg", "buffer": _photo((200, 30, 30))}
            ],
        )
        tablet.wait_for_selector(
            '.guided-upload.is-done[data-slot="id_front"] img', timeout=WAIT_MS
        )
        tablet.set_input_files(
            'input[data-slot="id_back"]',
            files=[{"name": "back.jpg", "mimeType": "image/jpeg", "buffer": _photo((30, 30, 200))}],
        )
        tablet.wait_for_selector('.guided-upload.is-done[data-slot="id_back"] img', timeout=WAIT_MS)
        staff.wait_for_selector(
            '.guided-mirror-upload.is-done[data-slot="id_front"] img', timeout=WAIT_MS
        )
        staff.wait_for_selector(
            '.guided-mirror-upload.is-done[data-slot="id_back"] img', timeout=WAIT_MS
        )
        tablet.screenshot(path=f"{SHOTS}-tablet-id-document.png")

        # ---------------------------------------- insurance + card photos
        _navigate(staff, tablet, "insurance")
        tablet.select_option('[name="has_insurance"]', "yes")
        tablet.wait_for_selector(
            '.guided-field[data-field="member_id"]:not([hidden])', timeout=WAIT_MS
        )
        tablet.select_option('[name="payer"]', str(payer.public_id))
        _type(tablet, "member_id", "XQ9904821")
        # Sensitive: the staff mirror gets it masked, the tablet keeps it as typed.
        _wait_mirror(staff, "member_id", "•••••4821")
        assert tablet.input_value('[name="member_id"]') == "XQ9904821"
        tablet.select_option('[name="subscriber_relationship"]', "self")
        tablet.set_input_files(
            'input[data-slot="card_front"]',
            files=[{"name": "card.jpg", "mimeType": "image/jpeg", "buffer": _photo((30, 160, 60))}],
        )
        tablet.wait_for_selector('.guided-upload.is-done[data-slot="card_front"]', timeout=WAIT_MS)
        staff.wait_for_selector(
            '.guided-mirror-upload.is-done[data-slot="card_front"]', timeout=WAIT_MS
        )
        tablet.screenshot(path=f"{SHOTS}-tablet-insurance.png", full_page=True)
        staff.screenshot(path=f"{SHOTS}-staff-insurance.png", full_page=True)

        # ---------------------------------------- consents, read to the end
        _navigate(staff, tablet, "consents")
        consents = tablet.locator(".guided-consent").count()
        assert consents >= 1
        for _ in range(consents):
            current = tablet.locator(".guided-consent.is-next")
            agree = current.locator(".guided-consent-agree")
            text = current.locator(".guided-consent-text")
            if text.evaluate("el => el.scrollHeight > el.clientHeight + 4"):
                assert agree.is_disabled()
                text.evaluate("el => { el.scrollTop = el.scrollHeight; }")
            key = current.get_attribute("data-consent")
            agree.click()
            tablet.wait_for_selector(
                f'.guided-consent.is-done[data-consent="{key}"]', timeout=WAIT_MS
            )
        staff.wait_for_function(
            "n => document.querySelectorAll('.guided-mirror-consents .badge-ok').length >= n",
            arg=consents,
            timeout=WAIT_MS,
        )

        # ---------------------------------------- signatures, drawn with the mouse
        _navigate(staff, tablet, "signatures")
        to_sign = staff.locator("#guided-mirror button[data-request]").count()
        assert to_sign >= 1
        for _ in range(to_sign):
            button = staff.locator("#guided-mirror button[data-request]:not([disabled])").first
            key = button.get_attribute("data-request")
            button.click()
            tablet.wait_for_selector("#guided-signing:not([hidden]) canvas", timeout=WAIT_MS)
            # Signing mode locks the tablet and the staff cannot move steps meanwhile.
            assert tablet.evaluate("document.getElementById('guided-step').inert")
            staff.wait_for_selector(
                f'#guided-mirror button[data-withdraw="{key}"]', timeout=WAIT_MS
            )
            assert staff.locator('#guided-steps button[data-step="review"]').is_disabled()
            tablet.click("#guided-sign")
            assert "sign in the box" in tablet.inner_text(".guided-signing-note")
            _draw_signature(tablet)
            tablet.screenshot(path=f"{SHOTS}-tablet-signing.png")
            tablet.click("#guided-sign")
            tablet.wait_for_selector("#guided-signing", state="hidden", timeout=WAIT_MS)
            staff.wait_for_selector(
                f'.guided-mirror-consents li[data-consent="{key}"] .badge-ok >> text=signed',
                timeout=WAIT_MS,
            )

        # ---------------------------------------- review, then complete
        _navigate(staff, tablet, "review")
        assert "Springfield Lakes" in tablet.inner_text(".guided-review")
        tablet.screenshot(path=f"{SHOTS}-tablet-review.png", full_page=True)
        tablet.click("#guided-ready")
        staff.wait_for_selector(
            "#guided-steps button[data-step='review'] >> text=Confirmed", timeout=WAIT_MS
        )
        staff.screenshot(path=f"{SHOTS}-staff-review.png", full_page=True)
        staff.click("#guided-complete")

        # The tablet leaves for a neutral screen and keeps nothing of the patient.
        tablet.wait_for_selector("#guided-ended", timeout=WAIT_MS)
        assert urlsplit(tablet.url).path == reverse("guided:pair")
        html = tablet.content()
        assert "Guidedsson" not in html and "Springfield" not in html and "4821" not in html
        assert tablet.evaluate("localStorage.length + sessionStorage.length") == 0
        tablet.goto(live_asgi + reverse("guided:device"))
        assert urlsplit(tablet.url).path == reverse("guided:pair")

        staff.wait_for_selector("#guided-patient-link", timeout=WAIT_MS)
        session.refresh_from_db()
        assert session.status == SessionStatus.COMPLETED
        patient = session.completed_patient
        assert (patient.first_name, patient.last_name) == ("Ana", "Guidedsson")

        # ---------------------------------------- the record shows it
        staff.click("#guided-patient-link")
        staff.wait_for_selector("text=Guidedsson", timeout=WAIT_MS)
        record = staff.inner_text("main")
        assert "12 Lake Road" in record and "Springfield Lakes" in record
        assert "(612) 555-0199" in record
        staff.goto(
            live_asgi + reverse("patients:documents", kwargs={"public_id": patient.public_id})
        )
        documents = Document.objects.filter(patient=patient)
        categories = set(documents.values_list("category", flat=True))
        assert DocumentCategory.CONSENT_FORM in categories
        assert DocumentCategory.INSURANCE_CARD_FRONT in categories
        assert documents.filter(category=DocumentCategory.CONSENT_FORM).count() == to_sign
        assert staff.locator("li.document").count() == documents.count()
        assert "Consent form" in staff.inner_text("main")
        staff.screenshot(path=f"{SHOTS}-staff-record-documents.png", full_page=True)
        policy = InsurancePolicy.objects.get(patient=patient)
        assert policy.payer_id == payer.pk
        assert AuditEvent.objects.filter(action="guided_session.completed").count() == 1
    except Exception:
        staff.screenshot(path=f"{SHOTS}-failed-staff.png", full_page=True)
        tablet.screenshot(path=f"{SHOTS}-failed-tablet.png", full_page=True)
        raise
    finally:
        staff_ctx.close()
        tablet_ctx.close()
    assert errors == []
