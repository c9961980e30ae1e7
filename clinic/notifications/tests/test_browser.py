"""The bell in a real browser: live count over the socket, the panel, mark all read, the
reconnect banner. A real ASGI server (daphne) on the test database, a real Celery worker,
the system Chromium."""

from __future__ import annotations

import re

import pytest

from clinic.models import Role
from clinic.notifications.services import notification_send
from tests.browser.fixtures import signed_in_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 20000  # only keeps a broken test from hanging


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls here are still
    # plain synchronous calls between browser steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(browser, live_asgi, make_staff):
    user = make_staff(role=Role.FIELD_TECHNICIAN)
    context = signed_in_context(browser, live_asgi, user, viewport={"width": 390, "height": 844})
    context.grant_permissions(["notifications"], origin=live_asgi)
    # Count desktop alerts as they are made (the real constructor still runs).
    context.add_init_script(
        """
        window.__alerts = [];
        const Real = window.Notification;
        if (Real) {
          window.Notification = class extends Real {
            constructor(title, options) { super(title, options); window.__alerts.push(title); }
          };
        }
        """
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.user = user
    page.base = live_asgi
    yield page
    context.close()
    assert errors == []


def test_the_bell_counts_a_new_notification_live_without_reloading(page, celery_worker):
    page.goto(page.base + "/")
    page.wait_for_selector("html[data-realtime=connected] #bell[data-ready=true]", timeout=WAIT_MS)
    assert page.locator("#bell-count").is_hidden()
    page.evaluate("window.__loaded = true")  # gone if the page reloads

    notification_send(actor=None, recipient=page.user, kind="test", title="Van 3 is loaded")

    page.wait_for_selector("#bell-count:not([hidden])", timeout=WAIT_MS)
    assert page.inner_text("#bell-count") == "1"
    assert page.evaluate("window.__loaded") is True
    assert page.evaluate("window.__alerts") == ["Van 3 is loaded"]

    page.click("#bell-button")
    assert page.locator("#bell-panel").is_visible()
    assert page.inner_text("#bell-list").startswith("Van 3 is loaded")

    page.click("#bell-panel >> text=Mark all read")
    page.wait_for_selector("#bell-count", state="hidden", timeout=WAIT_MS)
    assert page.evaluate("window.__loaded") is True


def test_a_lost_connection_shows_the_banner_and_the_bell_catches_up_after_reconnect(page):
    # The page's socket goes through Playwright's WebSocket route: forwarded to the server
    # while "up", refused while "down", exactly as a dropped network looks to the page.
    state: dict = {"down": False, "open": []}

    def route(ws):
        if state["down"]:
            ws.close(code=1011)
            return
        ws.connect_to_server()
        state["open"].append(ws)

    page.route_web_socket(re.compile(r".*/ws/portal/$"), route)
    page.goto(page.base + "/")
    page.wait_for_selector("html[data-realtime=connected] #bell[data-ready=true]", timeout=WAIT_MS)
    assert page.locator("#realtime-status").is_hidden()

    state["down"] = True
    for ws in state["open"]:
        ws.close(code=1006)
    page.wait_for_selector("#realtime-status:has-text('Reconnecting')", timeout=WAIT_MS)
    assert page.get_attribute("#realtime-status", "role") == "status"

    # Missed while down (no worker is even running): only the snapshot can bring it.
    notification_send(actor=None, recipient=page.user, kind="test", title="Sent while offline")
    state["down"] = False

    page.wait_for_selector("#realtime-status", state="hidden", timeout=WAIT_MS)
    page.wait_for_selector("#bell-count:not([hidden])", timeout=WAIT_MS)
    assert page.inner_text("#bell-count") == "1"


def test_the_notifications_page_offers_new_arrivals_and_desktop_alerts_need_a_click(
    page, celery_worker
):
    page.context.clear_permissions()
    page.goto(page.base + "/notifications")
    page.wait_for_selector("html[data-realtime=connected] #bell[data-ready=true]", timeout=WAIT_MS)
    assert page.inner_text("#notifications-summary") == "All caught up"
    assert page.locator("#notifications-fresh").is_hidden()
    # Without permission the page offers the switch and shows no system notification.
    assert page.locator("main [data-desktop-alerts]").is_visible()

    notification_send(actor=None, recipient=page.user, kind="test", title="Mask refit booked")

    page.wait_for_selector("#notifications-fresh:not([hidden])", timeout=WAIT_MS)
    assert page.inner_text("#notifications-summary") == "1 unread"
    assert page.evaluate("window.__alerts") == []
    page.click("#notifications-fresh a")
    page.wait_for_selector("#notification-list >> text=Mask refit booked", timeout=WAIT_MS)
