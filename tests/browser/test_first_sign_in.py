"""A new staff member's first day, in a real browser: password, TOTP enrolment from the QR
page's secret, the dashboard, a live notification without reloading, and the idle sign-out
after the on-screen countdown (with a short timeout configured for the test)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django_otp.oath import totp

from clinic.models import AuditEvent, Role
from clinic.notifications.services import notification_send
from clinic.tests.factories import DEFAULT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 30000  # only keeps a broken test from hanging; nothing asserts a duration
IDLE_TIMEOUT = 20
IDLE_WARNING = 10


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API keeps an event loop in this thread; our ORM calls between browser
    # steps are still ordinary synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def server(settings: Any, request: pytest.FixtureRequest) -> str:
    # Set before the server process starts, so it inherits the short idle timeout.
    settings.IDLE_TIMEOUT_SECONDS = IDLE_TIMEOUT
    settings.IDLE_WARNING_SECONDS = IDLE_WARNING
    return str(request.getfixturevalue("live_asgi"))


def _current_code(secret: str) -> str:
    key = base64.b32decode(secret.strip().upper() + "=" * (-len(secret.strip()) % 8))
    return f"{totp(key):06d}"


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]
)
def test_new_user_signs_in_gets_a_live_notification_and_is_signed_out_when_idle(
    server, browser, celery_worker, make_staff, viewport
):
    user = make_staff(role=Role.EMPLOYEE, full_name="Morgan Reyes")
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Password first.
    page.goto(server + "/")
    page.wait_for_url(re.compile(r"/login"), timeout=WAIT_MS)
    page.fill("#id_email", user.email)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("#login-submit")

    # First sign-in: enrol TOTP from the page's secret (what an authenticator app would do).
    page.wait_for_selector("#totp-secret", timeout=WAIT_MS)
    assert page.locator("#totp-qr").is_visible()
    page.fill("#id_code", _current_code(page.inner_text("#totp-secret")))
    page.click("#enrol-submit")

    # Backup codes, shown once.
    page.wait_for_selector("#backup-codes", timeout=WAIT_MS)
    assert len(re.findall(r"\w{4,}", page.inner_text("#backup-codes"))) >= 10
    page.click("#backup-codes-continue")

    # The dashboard, greeting the user by name.
    page.wait_for_url(server + "/", timeout=WAIT_MS)
    assert "Morgan" in page.inner_text("main")
    page.wait_for_selector("html[data-realtime=connected]", timeout=WAIT_MS)
    page.evaluate("window.__sameDocument = true")  # disappears if the page reloads

    # A live notification arrives through the outbox, the worker and the socket.
    notification_send(actor=None, recipient=user, kind="test", title="Referral packet received")
    page.wait_for_selector("#bell-count:not([hidden])", timeout=WAIT_MS)
    assert page.inner_text("#bell-count") == "1"
    assert page.evaluate("window.__sameDocument") is True

    # Idle: the countdown dialog appears, then the session ends and the login page says why.
    page.wait_for_selector("#idle-dialog[open]", timeout=WAIT_MS)
    assert page.locator("#idle-countdown").is_visible()
    assert page.locator("#idle-stay").is_visible()
    page.wait_for_url(re.compile(r"/login\?expired=1"), timeout=WAIT_MS)
    assert page.locator("#session-expired-notice").is_visible()

    # The server agrees: the dashboard now asks for sign-in, and the expiry was audited.
    page.goto(server + "/")
    page.wait_for_url(re.compile(r"/login"), timeout=WAIT_MS)
    actions = set(AuditEvent.objects.filter(actor=user).values_list("action", flat=True))
    assert {"auth.totp_enrolled", "auth.login", "auth.session_expired"} <= actions
    assert errors == []
    context.close()


def test_stay_signed_in_keeps_the_session(server, browser, make_staff, signed_in):
    from django.conf import settings as dj_settings

    user = make_staff(role=Role.FIELD_TECHNICIAN)
    session_key = signed_in(user).session.session_key
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies(
        [{"name": dj_settings.SESSION_COOKIE_NAME, "value": session_key, "url": server}]
    )
    page = context.new_page()
    page.goto(server + "/")
    page.wait_for_selector("#idle-dialog[open]", timeout=WAIT_MS)
    page.click("#idle-stay")
    page.wait_for_selector("#idle-dialog", state="hidden", timeout=WAIT_MS)
    # Past the original deadline the page is still signed in.
    page.wait_for_timeout((IDLE_TIMEOUT - IDLE_WARNING + 2) * 1000)
    page.reload()
    assert "/login" not in page.url
    context.close()
