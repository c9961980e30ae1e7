"""The live calendar in real browsers: two windows on one location's calendar; one books (the
booking form with patient search and the slot finder), moves (a drag) and cancels; the other
sees each change without reloading; a drag into a conflict is refused with the explanation.
Then a technician's day on a phone: check in, complete. A real ASGI server (daphne), the real
Celery worker (the outbox handlers bump the stream), Redis channel layer and Chromium.

Screenshots (desktop 1280x800 and phone 390x844) go to /tmp/scheduling-ui-*.png.
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clinic.models import Role
from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401
from clinic.tests.factories import LocationFactory, staff_user
from patients.tests.factories import PatientFactory
from scheduling.models import Appointment, AppointmentKind, AppointmentState
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory, technician
from tests.browser.fixtures import signed_in_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 15000  # only keeps a broken test from hanging
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOTS = str(Path(tempfile.gettempdir()) / "scheduling-ui")
TALL = {"width": 1280, "height": 1400}  # source and target of a drag both on screen


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def open_as(browser, base, user, viewport=DESKTOP, *, mobile=False):
    context = signed_in_context(
        browser, base, user, viewport=viewport, is_mobile=mobile, has_touch=mobile
    )
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.set_default_timeout(WAIT_MS)
    return page


def console_errors(page, *, refused_moves=0):
    """The page's errors, less the network log line of each move the server refused (409)."""
    errors = [e for e in page.errors if "status of 409" not in e]
    assert len(page.errors) - len(errors) == refused_moves
    return errors


def next_monday(zone):
    today = datetime.datetime.now(zone).date()
    return today + datetime.timedelta(days=7 - today.weekday())


@pytest.fixture
def scene():
    location = LocationFactory(name="Riverside Clinic", timezone="America/Chicago")
    zone = ZoneInfo(location.timezone)
    booker = staff_user(role=Role.EMPLOYEE, location=location, full_name="Becky Booker")
    watcher = staff_user(role=Role.EMPLOYEE, location=location, full_name="Walt Watcher")
    terry = technician(location, full_name="Terry Tech")
    technician(location, full_name="Olive Other")
    setup = AppointmentTypeFactory(
        organization=location.organization, code=AppointmentKind.EQUIPMENT_SETUP
    )
    AppointmentTypeFactory(organization=location.organization, code=AppointmentKind.FOLLOW_UP)
    patient = PatientFactory(home_location=location, first_name="Penny", last_name="Quintero")
    return {
        "location": location,
        "zone": zone,
        "monday": next_monday(zone),
        "booker": booker,
        "watcher": watcher,
        "terry": terry,
        "setup": setup,
        "patient": patient,
    }


def calendar_url(base, scene, view="week"):
    return (
        f"{base}/schedule/?location={scene['location'].public_id}"
        f"&view={view}&date={scene['monday'].isoformat()}"
    )


def wait_live(page):
    page.wait_for_selector('#calendar-live[data-state="connected"]')
    # The location's stream answered its first snapshot: changes now arrive.
    page.wait_for_selector("[data-calendar][data-live-version]", state="attached")


def event_box(page, public_id):
    return page.locator(f'[data-appointment="{public_id}"]').first


def slot_y(page, time_text):
    box = page.locator(f'td.fc-timegrid-slot-lane[data-time="{time_text}"]').first.bounding_box()
    return box["y"] + 4


def drag(page, public_id, to_time):
    """Drag an event by its top edge to the slot starting at ``to_time``, as a mouse would."""
    box = event_box(page, public_id).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + 6
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 12, steps=4)
    page.mouse.move(x, slot_y(page, to_time), steps=12)
    page.mouse.up()


def test_two_windows_one_books_moves_and_cancels_the_other_sees_it_live(
    browser,
    live_asgi,
    celery_worker,  # noqa: F811
    scene,
):
    base = live_asgi
    watcher = open_as(browser, base, scene["watcher"])
    watcher.goto(calendar_url(base, scene))
    wait_live(watcher)
    booker = open_as(browser, base, scene["booker"], TALL)

    # -- book: patient search, type, technician, the slot finder, the suggestion
    booker.goto(
        f"{base}/schedule/book?location={scene['location'].public_id}"
        f"&date={scene['monday'].isoformat()}"
    )
    booker.fill("#patient-q", "Quint")
    booker.locator("#patient-choices input[name=patient]").first.check()
    booker.select_option("#id_type", str(scene["setup"].public_id))
    booker.get_by_role("button", name="Find free times").click()
    suggestion = booker.locator("[data-suggestion]").inner_text()
    assert "lightest load of 2 available technicians" in suggestion
    booker.screenshot(path=f"{SHOTS}-booking-slots-desktop.png", full_page=True)
    # Pick Terry instead of the suggestion: the slots become Terry's.
    booker.select_option("#id_technician", str(scene["terry"].public_id))
    booker.get_by_role("button", name="Find free times").click()
    assert booker.locator("[data-suggestion]").count() == 0
    assert "Penny" in booker.locator("#patient-choices").inner_text()
    booker.locator(".slot-grid label", has_text="10:00").first.click()
    booker.get_by_role("button", name="Book", exact=True).click()
    booker.wait_for_selector(".message.success")

    appointment = Appointment.objects.get(patient=scene["patient"])
    local = appointment.starts_at.astimezone(scene["zone"])
    assert (local.date(), local.hour, appointment.technician) == (
        scene["monday"],
        10,
        scene["terry"],
    )
    # The other window shows it without reloading.
    seen = event_box(watcher, appointment.public_id)
    seen.wait_for()
    assert "Quintero" in seen.inner_text()

    # -- move: a drag on the booker's calendar (week view of that Monday)
    booker.goto(calendar_url(base, scene))
    wait_live(booker)
    drag(booker, appointment.public_id, "13:00:00")
    booker.wait_for_selector("#calendar-message:not([hidden])")
    assert booker.locator("#calendar-message").get_attribute("data-kind") == "ok", booker.locator(
        "#calendar-message"
    ).inner_text()
    appointment.refresh_from_db()
    assert appointment.starts_at.astimezone(scene["zone"]).hour == 13
    watcher.wait_for_function(
        "id => document.querySelector(`[data-appointment='${id}']`)?.innerText.includes('13:00')",
        arg=str(appointment.public_id),
    )

    # -- a drag into a conflict: Terry is busy at 15:00 (booked elsewhere meanwhile)
    busy = AppointmentFactory(
        location=scene["location"],
        type=scene["setup"],
        technician=scene["terry"],
        starts_at=datetime.datetime.combine(
            scene["monday"], datetime.time(15), tzinfo=scene["zone"]
        ),
    )
    booker.reload()
    wait_live(booker)
    event_box(booker, busy.public_id).wait_for()
    drag(booker, appointment.public_id, "15:00:00")
    refusal = booker.locator('#calendar-message[data-kind="error"]')
    refusal.wait_for()
    assert "Terry Tech" in refusal.inner_text()
    booker.screenshot(path=f"{SHOTS}-conflict-desktop.png")
    appointment.refresh_from_db()
    assert appointment.starts_at.astimezone(scene["zone"]).hour == 13  # unchanged
    assert "13:00" in event_box(booker, appointment.public_id).inner_text()  # put back

    # -- cancel from the appointment page; the other window drops it
    event_box(booker, appointment.public_id).click()
    booker.fill("#id_reason", "Patient is travelling")
    booker.get_by_role("button", name="Cancel appointment").click()
    booker.wait_for_selector(".message.success")
    event_box(watcher, appointment.public_id).wait_for(state="detached")
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.CANCELLED
    assert event_box(watcher, busy.public_id).is_visible()

    assert console_errors(watcher) == []
    assert console_errors(booker, refused_moves=1) == []


def test_screens_of_the_calendar_views_desktop_and_phone(
    browser,
    live_asgi,
    scene,
):
    base = live_asgi
    zone = scene["zone"]
    for hour, tech in ((9, scene["terry"]), (11, None), (14, scene["terry"])):
        AppointmentFactory(
            location=scene["location"],
            type=scene["setup"],
            technician=tech,
            starts_at=datetime.datetime.combine(scene["monday"], datetime.time(hour), tzinfo=zone),
        )
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = open_as(browser, base, scene["watcher"], viewport, mobile=name == "phone")
        for view in ("month", "week", "day"):
            page.goto(calendar_url(base, scene, view))
            wait_live(page)
            page.wait_for_selector("[data-appointment]")
            page.screenshot(path=f"{SHOTS}-calendar-{view}-{name}.png", full_page=True)
        page.goto(
            f"{base}/schedule/dispatch?location={scene['location'].public_id}"
            f"&date={scene['monday'].isoformat()}"
        )
        page.wait_for_selector("[data-dispatch-column] [data-appointment]")
        assert page.locator("[data-dispatch-column]").count() == 3
        page.screenshot(path=f"{SHOTS}-dispatch-{name}.png", full_page=True)
        page.goto(f"{base}/schedule/book?location={scene['location'].public_id}")
        page.screenshot(path=f"{SHOTS}-booking-{name}.png", full_page=True)
        assert page.errors == []


def test_a_technicians_day_on_a_phone_check_in_then_complete(
    browser,
    live_asgi,
    scene,
):
    base = live_asgi
    zone = scene["zone"]
    today = datetime.datetime.now(zone).date()
    terry = scene["terry"]
    patient = scene["patient"]
    patient.address_line1, patient.city, patient.phone_mobile = (
        "12 Elm St",
        "Springfield",
        "+15555550123",
    )
    patient.save()
    first = AppointmentFactory(
        location=scene["location"],
        type=scene["setup"],
        technician=terry,
        patient=patient,
        starts_at=datetime.datetime.combine(today, datetime.time(9), tzinfo=zone),
    )
    AppointmentFactory(
        location=scene["location"],
        type=scene["setup"],
        technician=terry,
        starts_at=datetime.datetime.combine(today, datetime.time(13), tzinfo=zone),
    )
    phone = open_as(browser, base, terry, PHONE, mobile=True)
    phone.goto(f"{base}/schedule/my-day")
    visits = phone.locator("[data-visit]")
    assert visits.count() == 2
    card = phone.locator(f'[data-visit="{first.public_id}"]')
    assert "12 Elm St" in card.inner_text()
    assert (
        card.get_by_role("link", name="Open map")
        .get_attribute("href")
        .startswith("https://www.google.com/maps/search/")
    )
    assert card.locator('a[href="tel:+15555550123"]').count() == 1
    phone.screenshot(path=f"{SHOTS}-my-day-phone.png", full_page=True)

    card.get_by_role("button", name="Check in").click()
    card = phone.locator(f'[data-visit="{first.public_id}"]')
    assert card.locator("[data-state]").inner_text() == "Checked in"
    card.get_by_role("button", name="Complete visit").click()
    card = phone.locator(f'[data-visit="{first.public_id}"]')
    assert card.locator("[data-state]").inner_text() == "Completed"
    first.refresh_from_db()
    assert first.state == AppointmentState.FULFILLED

    phone.goto(f"{base}/schedule/my-availability")
    phone.fill("#id_d5-starts", "09:00")
    phone.fill("#id_d5-ends", "12:00")
    phone.get_by_role("button", name="Save weekly hours").click()
    phone.wait_for_selector(".message.success")
    assert terry.technician_profile.working_hours.filter(weekday=5).exists()
    phone.screenshot(path=f"{SHOTS}-my-availability-phone.png", full_page=True)
    desktop = open_as(browser, base, terry)
    desktop.goto(f"{base}/schedule/my-day")
    desktop.screenshot(path=f"{SHOTS}-my-day-desktop.png", full_page=True)
    desktop.goto(f"{base}/schedule/my-availability")
    desktop.screenshot(path=f"{SHOTS}-my-availability-desktop.png", full_page=True)
    assert phone.errors == [] and desktop.errors == []
