"""The booking form: patient search (POST, nothing typed in a URL), the slot finder with the
best-technician suggestion and its reason, booking through the service, refusals explained."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import LocationFactory
from patients.tests.factories import PatientFactory
from scheduling.models import Appointment, AppointmentKind
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory, technician

pytestmark = pytest.mark.django_db


@pytest.fixture
def location():
    return LocationFactory(timezone="America/Chicago")


@pytest.fixture
def clerk(make_staff, location):
    return make_staff(role=Role.EMPLOYEE, location=location)


BOOK = reverse("scheduling:book")
SEARCH = reverse("scheduling:book_patients")


@pytest.fixture
def scene(location):
    zone = ZoneInfo(location.timezone)
    today = datetime.datetime.now(zone).date()
    monday = today + datetime.timedelta(days=7 - today.weekday())
    return {
        "zone": zone,
        "monday": monday,
        "terry": technician(location, full_name="Terry Tech"),
        "type": AppointmentTypeFactory(
            organization=location.organization, code=AppointmentKind.EQUIPMENT_SETUP
        ),
        "patient": PatientFactory(home_location=location, first_name="Penny", last_name="Quinn"),
    }


def form(location, scene, **extra):
    return {
        "location": str(location.public_id),
        "type": str(scene["type"].public_id),
        "date": scene["monday"].isoformat(),
        "patient": str(scene["patient"].public_id),
        **extra,
    }


def test_patient_search_finds_visible_patients_only(signed_in, clerk, location, make_staff):
    PatientFactory(home_location=location, first_name="Quentin", last_name="Quill")
    PatientFactory(home_location=LocationFactory(), first_name="Quincy", last_name="Quillfeather")
    page = signed_in(clerk).post(SEARCH, {"q": "Quil"}).content.decode()
    assert "Quill, Quentin" in page
    assert "Quillfeather" not in page
    assert signed_in(clerk).get(SEARCH, {"q": "Quil"}).status_code == 405


def test_slots_and_the_suggested_technician_with_its_reason(signed_in, clerk, location, scene):
    page = signed_in(clerk).post(BOOK, form(location, scene, find="1")).content.decode()
    assert "Suggested for" in page and "Terry Tech" in page
    assert "the only technician available then" in page
    monday = scene["monday"].isoformat()
    assert f'value="{monday}T08:00|{scene["terry"].public_id}"' in page
    assert not Appointment.objects.exists()  # finding is not booking


def test_booking_a_slot_books_through_the_service(signed_in, clerk, location, scene):
    slot = f"{scene['monday'].isoformat()}T10:00|{scene['terry'].public_id}"
    response = signed_in(clerk).post(BOOK, form(location, scene, slot=slot, notes="Bring mask"))
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.starts_at == datetime.datetime.combine(
        scene["monday"], datetime.time(10), tzinfo=scene["zone"]
    )
    assert (appointment.technician, appointment.patient, appointment.notes) == (
        scene["terry"],
        scene["patient"],
        "Bring mask",
    )
    assert f"date={scene['monday'].isoformat()}" in response["Location"]


def test_a_taken_slot_is_refused_with_the_reason_and_nearest_times(
    signed_in, clerk, location, scene
):
    start = datetime.datetime.combine(scene["monday"], datetime.time(10), tzinfo=scene["zone"])
    AppointmentFactory(location=location, technician=scene["terry"], starts_at=start)
    slot = f"{scene['monday'].isoformat()}T10:00|{scene['terry'].public_id}"
    response = signed_in(clerk).post(BOOK, form(location, scene, slot=slot))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Not booked" in page and "Terry Tech" in page
    assert "Pick one of the nearest free times instead" in page
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"patient": ""}, "Find and pick the patient first."),
        ({"slot": ""}, "Pick one of the free times."),
        ({"slot": "tomorrow|nobody"}, "Pick one of the free times."),
        ({"patient": "not-a-uuid"}, "Pick a patient from the list."),
        ({"type": "x"}, "Select a valid choice"),
    ],
)
def test_bad_booking_input_is_explained_and_nothing_is_booked(
    signed_in, clerk, location, scene, extra, message
):
    slot = f"{scene['monday'].isoformat()}T10:00|{scene['terry'].public_id}"
    response = signed_in(clerk).post(BOOK, {**form(location, scene, slot=slot), **extra})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Appointment.objects.exists()


def test_another_organizations_patient_cannot_be_booked(signed_in, clerk, location, scene):
    stranger = PatientFactory()
    slot = f"{scene['monday'].isoformat()}T10:00|{scene['terry'].public_id}"
    response = signed_in(clerk).post(
        BOOK, form(location, scene, slot=slot, patient=str(stranger.public_id))
    )
    assert response.status_code == 400
    assert "Pick a patient from the list." in response.content.decode()
    assert not Appointment.objects.exists()
    # The positive control: the same form with the organization's own patient books.
    assert signed_in(clerk).post(BOOK, form(location, scene, slot=slot)).status_code == 302
    assert Appointment.objects.get().patient == scene["patient"]


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_roles_that_do_not_book_get_404(signed_in, make_staff, location, scene, role):
    user = make_staff(role=role, location=location)
    slot = f"{scene['monday'].isoformat()}T10:00|{scene['terry'].public_id}"
    assert signed_in(user).post(BOOK, form(location, scene, slot=slot)).status_code == 404
    assert not Appointment.objects.exists()
    # The positive control: an employee there books with the same form.
    clerk = make_staff(role=Role.EMPLOYEE, location=location)
    assert signed_in(clerk).post(BOOK, form(location, scene, slot=slot)).status_code == 302
    assert Appointment.objects.count() == 1
