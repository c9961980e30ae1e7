from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import LocationFactory, staff_user
from equipment.stock.models import Reservation, ReservationStatus, SerialUnit, StockMovement
from equipment.stock.services import (
    reorder_point_set,
    stock_dispense,
    stock_receive,
    stock_reserve,
)
from equipment.tests.factories import ItemFactory, balance_of
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_employee_receives_serialized_units_through_the_form(signed_in, employee, location, device):
    client = signed_in(employee)
    page = client.get(reverse("equipment:receive"))
    assert page.status_code == 200
    response = client.post(
        reverse("equipment:receive"),
        {
            "location": location.public_id,
            "item": device.public_id,
            "quantity": "2",
            "serial_numbers": "SN-100\nSN-101",
        },
    )
    assert response.status_code == 302
    assert set(SerialUnit.objects.values_list("serial_number", flat=True)) == {"SN-100", "SN-101"}
    assert balance_of(location, device).on_hand == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quantity": "abc"}, b"Enter a whole number"),
        ({"quantity": "0"}, b"at least 1"),
        ({"item": "not-a-uuid"}, b"Choose one from the list"),
        ({"expires_on": "31/31/2027"}, b"Enter a date like"),
        ({"serial_numbers": "X1"}, b"not serialized"),
    ],
)
def test_bad_receive_input_gets_a_message_and_writes_nothing(
    signed_in, employee, location, item, data, message
):
    client = signed_in(employee)
    form = {"location": location.public_id, "item": item.public_id, "quantity": "1", **data}
    response = client.post(reverse("equipment:receive"), form)
    assert response.status_code == 400
    assert message in response.content
    assert not StockMovement.objects.exists()


def test_dispensing_more_than_available_is_shown_on_the_form(signed_in, technician, location, item):
    stock_receive(actor=_admin(location), location=location, item=item, quantity=2)
    client = signed_in(technician)
    response = client.post(
        reverse("equipment:dispense"),
        {"location": location.public_id, "item": item.public_id, "quantity": "3"},
    )
    assert response.status_code == 400
    assert b"Only 2" in response.content
    ok = client.post(
        reverse("equipment:dispense"),
        {"location": location.public_id, "item": item.public_id, "quantity": "2"},
    )
    assert ok.status_code == 302
    assert balance_of(location, item).on_hand == 0


def _admin(location):
    return staff_user(role=Role.ADMIN, location=location)


def test_unknown_patient_mrn_is_a_field_message(signed_in, employee, location, device):
    stock_receive(
        actor=employee, location=location, item=device, quantity=1, serial_numbers=["SN1"]
    )
    client = signed_in(employee)
    response = client.post(
        reverse("equipment:dispense"),
        {
            "location": location.public_id,
            "item": device.public_id,
            "quantity": "1",
            "serial_numbers": "SN1",
            "patient": "NOPE",
        },
    )
    assert response.status_code == 400
    assert b"No patient with that MRN" in response.content
    patient = PatientFactory(home_location=location)
    response = client.post(
        reverse("equipment:dispense"),
        {
            "location": location.public_id,
            "item": device.public_id,
            "quantity": "1",
            "serial_numbers": "SN1",
            "patient": patient.mrn,
        },
    )
    assert response.status_code == 302
    assert SerialUnit.objects.get().patient == patient


@pytest.mark.parametrize("name", ["receive", "transfer", "adjust", "reserve", "reorder_point"])
def test_technician_has_no_office_forms(signed_in, technician, name):
    assert signed_in(technician).get(reverse(f"equipment:{name}")).status_code == 404


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.SUPPORT])
def test_roles_without_stock_get_404(signed_in, make_staff, location, role):
    client = signed_in(make_staff(role=role, location=location))
    for name in ("stock", "low_stock", "movements", "serials", "dispense"):
        assert client.get(reverse(f"equipment:{name}")).status_code == 404


def test_low_stock_page_lists_what_is_below_its_reorder_point(signed_in, employee, location):
    low = ItemFactory(organization=location.organization, name="Low filter")
    fine = ItemFactory(organization=location.organization, name="Plenty tubing")
    for item, n in ((low, 1), (fine, 9)):
        stock_receive(actor=employee, location=location, item=item, quantity=n)
        reorder_point_set(actor=employee, location=location, item=item, reorder_point=3)
    page = signed_in(employee).get(reverse("equipment:low_stock")).content
    assert b"Low filter" in page and b"Plenty tubing" not in page


def test_reservation_release_and_dispense_through_the_pages(signed_in, employee, location, item):
    stock_receive(actor=employee, location=location, item=item, quantity=4)
    first = stock_reserve(actor=employee, location=location, item=item, quantity=1)
    second = stock_reserve(actor=employee, location=location, item=item, quantity=2)
    client = signed_in(employee)
    overview = client.get(reverse("equipment:stock")).content
    assert str(first.public_id).encode() in overview
    client.post(reverse("equipment:reservation_release", kwargs={"public_id": first.public_id}))
    url = reverse("equipment:reservation_dispense", kwargs={"public_id": second.public_id})
    assert client.get(url).status_code == 200
    assert client.post(url, {}).status_code == 302
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: ReservationStatus.RELEASED,
        second.pk: ReservationStatus.DISPENSED,
    }
    balance = balance_of(location, item)
    assert (balance.on_hand, balance.reserved) == (2, 0)
    again = client.post(
        reverse("equipment:reservation_release", kwargs={"public_id": first.public_id})
    )
    assert again.status_code == 404


def test_serial_page_shows_its_history_and_runs_its_actions(signed_in, employee, location, device):
    stock_receive(
        actor=employee, location=location, item=device, quantity=1, serial_numbers=["SN9"]
    )
    patient = PatientFactory(home_location=location, last_name="Serialpatient")
    client = signed_in(employee)
    client.post(
        reverse("equipment:dispense"),
        {
            "location": location.public_id,
            "item": device.public_id,
            "quantity": "1",
            "serial_numbers": "SN9",
            "patient": patient.mrn,
        },
    )
    unit = SerialUnit.objects.get()
    url = reverse("equipment:serial_detail", kwargs={"public_id": unit.public_id})
    page = client.get(url).content.decode()
    assert "Assigned to a patient" in page and "Serialpatient" in page

    def act(action: str, **data):
        target = reverse(
            "equipment:serial_action", kwargs={"public_id": unit.public_id, "action": action}
        )
        return client.post(target, data)

    assert act("return", location=str(location.public_id)).status_code == 302
    assert act("repair", note="Noisy").status_code == 302
    assert act("repaired").status_code == 302
    assert act("retire").status_code == 302
    refused = act("retire")  # a refusal comes back as a message on the page, never a 500
    assert refused.status_code == 302
    page = client.get(url).content.decode()
    assert "This unit is retired" in page
    for label in ("Received", "Returned", "Sent for repair", "Repaired", "Retired"):
        assert label in page
    assert act("explode").status_code == 404


def test_serial_page_hides_a_patient_the_user_may_not_see(signed_in, location, device):
    admin = _admin(location)
    other = LocationFactory(organization=location.organization)
    stock_receive(actor=admin, location=location, item=device, quantity=1, serial_numbers=["S1"])
    patient = PatientFactory(home_location=other, last_name="Hiddenpatient")
    stock_dispense(
        actor=admin,
        location=location,
        item=device,
        quantity=1,
        serial_numbers=["S1"],
        patient=patient,
    )
    tech = _staff(Role.FIELD_TECHNICIAN, location)
    unit = SerialUnit.objects.get()
    page = signed_in(tech).get(
        reverse("equipment:serial_detail", kwargs={"public_id": unit.public_id})
    )
    assert page.status_code == 200
    assert b"Hiddenpatient" not in page.content and b"a patient" in page.content


def _staff(role, location):
    return staff_user(role=role, location=location)


def test_stock_page_queries_do_not_grow_with_rows(signed_in, employee, location):
    client = signed_in(employee)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("equipment:stock")).status_code == 200
        return len(ctx.captured_queries)

    item = ItemFactory(organization=location.organization)
    stock_receive(actor=employee, location=location, item=item, quantity=1)
    one = count()
    for _ in range(5):
        more = ItemFactory(organization=location.organization)
        stock_receive(actor=employee, location=location, item=more, quantity=3)
        stock_reserve(actor=employee, location=location, item=more, quantity=1)
    assert count() == one


def test_ledger_page_lists_movements(signed_in, employee, location, item):
    stock_receive(actor=employee, location=location, item=item, quantity=3, lot="LOT77")
    page = signed_in(employee).get(reverse("equipment:movements")).content
    assert b"LOT77" in page and b"Received" in page


@pytest.mark.parametrize(("role", "shown"), [(Role.EMPLOYEE, True), (Role.CLINICIAN, False)])
def test_nav_has_an_equipment_entry_for_stock_roles(signed_in, make_staff, location, role, shown):
    page = signed_in(make_staff(role=role, location=location)).get("/").content
    assert (reverse("equipment:stock").encode() in page) is shown


def test_office_forms_transfer_adjust_reserve_and_set_reorder_points(
    signed_in, admin, location, item
):
    other = LocationFactory(organization=location.organization)
    stock_receive(actor=admin, location=location, item=item, quantity=10)
    client = signed_in(admin)
    base = {"location": location.public_id, "item": item.public_id}
    posts = [
        ("transfer", {"to_location": other.public_id, "quantity": "3"}),
        ("adjust", {"delta": "-1", "reason": "damaged"}),
        ("reserve", {"quantity": "2", "reference": "T-9", "needed_on": "2027-01-05"}),
        ("reorder_point", {"reorder_point": "4"}),
    ]
    for name, data in posts:
        response = client.post(reverse(f"equipment:{name}"), {**base, **data})
        assert response.status_code == 302, (name, response.content[:300])
    balance = balance_of(location, item)
    assert (balance.on_hand, balance.reserved, balance.reorder_point) == (6, 2, 4)
    assert balance_of(other, item).on_hand == 3
    same = client.post(
        reverse("equipment:transfer"), {**base, "to_location": location.public_id, "quantity": "1"}
    )
    assert same.status_code == 400
    assert b"different location" in same.content


def test_prefilled_links_choose_location_and_item(signed_in, admin, location, item):
    url = reverse("equipment:receive") + f"?location={location.public_id}&item={item.public_id}"
    page = signed_in(admin).get(url).content.decode()
    assert f'value="{item.public_id}" selected' in page
