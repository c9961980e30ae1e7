"""Stock in a real browser, as an office ADMIN would use it on a desktop and a technician's
phone: receive a box of masks, see it on the stock page and in the ledger, receive a serialized
device and open its serial's history. Screenshots go to /tmp/equipment-*.png."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from clinic.models import Role
from equipment.stock.models import StockBalance
from equipment.tests.factories import DeviceFactory, ItemFactory
from tests.browser.fixtures import signed_in_context

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 20000  # only keeps a broken test from hanging
SHOTS = str(Path(tempfile.gettempdir()) / "equipment")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_receive_stock_see_it_in_the_ledger_and_a_serials_history(
    browser, live_asgi, make_staff, location, viewport
):
    admin = make_staff(role=Role.ADMIN, location=location)
    mask = ItemFactory(organization=location.organization, name="AirFit F20 mask")
    device = DeviceFactory(organization=location.organization, name="AirSense 11 AutoSet")
    context = signed_in_context(browser, live_asgi, admin, viewport=VIEWPORTS[viewport])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(live_asgi + "/equipment/stock/receive")
    page.select_option("#id_location", str(location.public_id))
    page.select_option("#id_item", str(mask.public_id))
    page.fill("#id_quantity", "12")
    page.fill("#id_lot", "LOT-77")
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/receive" not in url, timeout=WAIT_MS)
    assert StockBalance.objects.get(location=location, item=mask).on_hand == 12

    page.goto(live_asgi + "/equipment/stock/")
    assert "AirFit F20 mask" in page.inner_text("main")
    _fits(page)
    page.screenshot(path=f"{SHOTS}-stock-{viewport}.png", full_page=True)

    page.goto(live_asgi + "/equipment/stock/receive")
    page.select_option("#id_location", str(location.public_id))
    page.select_option("#id_item", str(device.public_id))
    page.fill("#id_quantity", "1")
    page.fill("#id_serial_numbers", "SN-24-000981")
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/receive" not in url, timeout=WAIT_MS)

    page.goto(live_asgi + "/equipment/stock/ledger")
    ledger = page.inner_text("main")
    assert "AirFit F20 mask" in ledger and "AirSense 11 AutoSet" in ledger
    _fits(page)
    page.screenshot(path=f"{SHOTS}-ledger-{viewport}.png", full_page=True)

    page.goto(live_asgi + "/equipment/serials/")
    page.click("text=SN-24-000981")
    page.wait_for_selector("text=SN-24-000981", timeout=WAIT_MS)
    assert "eceived" in page.inner_text("main")  # the history's first line
    _fits(page)
    page.screenshot(path=f"{SHOTS}-serial-{viewport}.png", full_page=True)
    context.close()
    assert errors == []
