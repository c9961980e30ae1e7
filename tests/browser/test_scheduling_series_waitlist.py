"""Recurring series and the waitlist in a real browser.

A booker makes a visit repeat from the booking form: the per-date report comes first (one
date taken, nothing saved), a changed rule is all free, confirming books it; on an appointment
of the series, "this and the following" cancels the rest. On a phone, the waitlist page: find
a patient, add them; a cancelled visit offers its time; accept it from the page.

Screenshots (desktop 1280x800 and phone 390x844) go to /tmp/scheduling-ui-*.png.
"""

from __future__ import annotations

import datetime

import pytest

from patients.tests.factories import PatientFactory
from scheduling.booking.services import appointment_book, appointment_cancel
from scheduling.models import Appointment, AppointmentState, RecurringSeries, WaitlistEntry
from scheduling.tests.factories import AppointmentFactory
from scheduling.tests.outbox import events_dispatch_apart
from tests.browser.test_scheduling_calendar import (  # noqa: F401
    DESKTOP,
    PHONE,
    SHOTS,
    _orm_beside_playwright,
    console_errors,
    open_as,
    scene,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def _local(where, days, hour):
    day = where["monday"] + datetime.timedelta(days=days)
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=where["zone"])


def _no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_series_is_checked_date_by_date_then_booked_and_cut_short(
    browser,
    live_asgi,
    scene,  # noqa: F811
    viewport,
):
    base = live_asgi
    phone = viewport == "phone"
    page = open_as(browser, base, scene["booker"], PHONE if phone else DESKTOP, mobile=phone)
    # Terry is taken on the second Wednesday at 10:00.
    AppointmentFactory(
        location=scene["location"], technician=scene["terry"], starts_at=_local(scene, 9, 10)
    )
    page.goto(
        f"{base}/schedule/book?location={scene['location'].public_id}"
        f"&date={scene['monday'].isoformat()}&patient={scene['patient'].public_id}"
    )
    page.select_option("#id_type", str(scene["setup"].public_id))
    page.select_option("#id_technician", str(scene["terry"].public_id))
    page.get_by_role("button", name="Find free times").click()
    page.locator(".slot-grid label", has_text="10:00").first.click()
    page.locator(".repeat summary").click()
    page.select_option("#id_repeat", "WEEKLY")
    page.locator(".day-chips label", has_text="Mon").click()
    page.locator(".day-chips label", has_text="Wed").click()
    page.fill("#id_count", "4")
    page.get_by_role("button", name="Check the series dates").click()

    plan = page.locator("#series-plan")
    assert "1 of 4 dates cannot be booked" in plan.inner_text()
    assert plan.locator("li.bad").count() == 1 and "Terry Tech" in plan.inner_text()
    assert page.get_by_role("button", name="Book these").count() == 0
    assert not RecurringSeries.objects.exists()
    plan.scroll_into_view_if_needed()
    page.screenshot(path=f"{SHOTS}-series-conflict-{viewport}.png", full_page=True)

    # Tuesdays and Thursdays instead: every date is free; confirm.
    page.locator(".day-chips label", has_text="Mon").click()
    page.locator(".day-chips label", has_text="Wed").click()
    page.locator(".day-chips label", has_text="Tue").click()
    page.locator(".day-chips label", has_text="Thu").click()
    page.get_by_role("button", name="Check the series dates").click()
    assert "4 dates, all free" in page.locator("#series-plan").inner_text()
    page.screenshot(path=f"{SHOTS}-series-plan-{viewport}.png", full_page=True)
    if phone:
        _no_horizontal_scroll(page)
    page.get_by_role("button", name="Book these 4 visits").click()
    page.wait_for_selector(".message.success")
    visits = list(Appointment.objects.filter(series__isnull=False).order_by("starts_at"))
    assert [v.starts_at for v in visits] == [
        _local(scene, d, 10) for d in (1, 3, 8, 10)
    ]  # fmt: skip

    # The second visit: cancel it and the following ones.
    page.goto(f"{base}/schedule/appointments/{visits[1].public_id}/")
    assert "Every week on Tue, Thu, 4 visits" in page.inner_text("main")
    page.screenshot(path=f"{SHOTS}-series-appointment-{viewport}.png", full_page=True)
    if phone:
        _no_horizontal_scroll(page)
    page.fill("#id_reason", "Therapy plan changed")
    page.locator("#cancel-form label", has_text="This and the following visits").click()
    page.get_by_role("button", name="Cancel visits").click()
    page.wait_for_selector(".message.success")
    states = [Appointment.objects.get(pk=v.pk).state for v in visits]
    assert states == [AppointmentState.BOOKED] + [AppointmentState.CANCELLED] * 3
    assert console_errors(page) == []


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_waitlist_on_a_phone_add_then_accept_an_offer(
    browser,
    live_asgi,
    scene,  # noqa: F811
    viewport,
):
    base = live_asgi
    phone = viewport == "phone"
    page = open_as(browser, base, scene["booker"], PHONE if phone else DESKTOP, mobile=phone)
    page.goto(f"{base}/schedule/waitlist?location={scene['location'].public_id}")
    assert "Nobody is waiting" in page.inner_text("main")
    page.fill("#patient-q", "Quint")
    page.locator("#patient-choices input[name=patient]").first.check()
    page.select_option("#id_type", str(scene["setup"].public_id))
    page.fill("#id_earliest_date", scene["monday"].isoformat())
    page.fill("#id_latest_date", (scene["monday"] + datetime.timedelta(days=4)).isoformat())
    page.fill("#id_earliest_time", "09:00")
    page.fill("#id_latest_time", "12:00")
    page.get_by_role("button", name="Add to the waitlist").click()
    page.wait_for_selector(".message.success")
    assert WaitlistEntry.objects.filter(patient=scene["patient"]).exists()
    assert "Quintero, Penny" in page.inner_text(".waitlist")

    # A visit at 10:00 on the Monday is cancelled: its time is offered to Penny.
    other = appointment_book(
        actor=scene["booker"],
        patient=PatientFactory(home_location=scene["location"]),
        type=scene["setup"],
        location=scene["location"],
        starts_at=_local(scene, 0, 10),
        technician=scene["terry"],
    )
    appointment_cancel(actor=scene["booker"], appointment=other, reason="Patient ill")
    events_dispatch_apart()  # the cancelled event's handler makes the offer
    page.reload()
    offer = page.locator(".offer").first
    assert "min left" in offer.inner_text()
    page.screenshot(path=f"{SHOTS}-waitlist-{viewport}.png", full_page=True)
    if phone:
        _no_horizontal_scroll(page)
    offer.get_by_role("button", name="Accept").click()
    page.wait_for_selector(".message.success")
    booked = Appointment.objects.get(patient=scene["patient"], state=AppointmentState.BOOKED)
    assert booked.starts_at == _local(scene, 0, 10)
    assert "Nobody is waiting" in page.inner_text("main")
    assert console_errors(page) == []
