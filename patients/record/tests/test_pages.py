"""The patient pages: list, search, filters, keyset paging, dashboard, create/edit, actions."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.audit.history import history_context
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, MembershipFactory
from patients.models import Patient, PatientFlag, PatientNote, PatientStatus, PatientStatusChange
from patients.record.services import patient_update
from patients.tests.factories import PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db

LIST = reverse("patients:list")
CREATE = reverse("patients:create")


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def client(employee, signed_in):
    return signed_in(employee)


def detail(p, tab=""):
    url = reverse("patients:detail", kwargs={"public_id": p.public_id})
    return f"{url}?tab={tab}" if tab else url


def names(response) -> list[str]:
    return [p.last_name for p in response.context["rows"]]


# -- list, search, filters --------------------------------------------------------------------


def test_list_shows_patients_of_my_locations_only(client, location):
    PatientFactory(home_location=location, last_name="Mine")
    PatientFactory(
        home_location=LocationFactory(organization=location.organization), last_name="Elsewhere"
    )
    PatientFactory(last_name="Foreign")
    response = client.get(LIST)
    assert response.status_code == 200
    assert names(response) == ["Mine"]
    assert b"Elsewhere" not in response.content and b"Foreign" not in response.content


def test_search_by_name_tolerates_a_typo_and_a_prefix(client, location):
    PatientFactory(home_location=location, first_name="Margaret", last_name="Thompson")
    PatientFactory(home_location=location, first_name="Peter", last_name="Ng")
    assert names(client.get(LIST, {"q": "Thompsen"})) == ["Thompson"]
    assert names(client.get(LIST, {"q": "tho"})) == ["Thompson"]
    assert names(client.get(LIST, {"q": "margaret thompson"})) == ["Thompson"]


def test_search_by_mrn_phone_and_date_of_birth(client, location):
    a = PatientFactory(home_location=location, mrn="889900", phone_mobile="+12015550123")
    b = PatientFactory(home_location=location, date_of_birth=datetime.date(1944, 7, 9))
    assert names(client.get(LIST, {"q": "889900"})) == [a.last_name]
    assert names(client.get(LIST, {"q": "(201) 555-0123"})) == [a.last_name]
    assert names(client.get(LIST, {"q": "1944-07-09"})) == [b.last_name]
    assert names(client.get(LIST, {"q": "07/09/1944"})) == [b.last_name]


def test_filters_by_status_flag_location_and_physician(client, location, employee):
    second = LocationFactory(organization=location.organization)
    MembershipFactory(user=employee, location=second, role=Role.EMPLOYEE)
    doc = PhysicianFactory(organization=location.organization)
    PatientFactory(home_location=location, last_name="Plain")
    PatientFactory(home_location=location, last_name="Flagged", flags=[PatientFlag.FALL_RISK])
    PatientFactory(home_location=location, last_name="Active", status=PatientStatus.ACTIVE)
    PatientFactory(home_location=second, last_name="Annex")
    PatientFactory(home_location=location, last_name="Referred", referring_physician=doc)
    assert names(client.get(LIST, {"flag": "fall_risk"})) == ["Flagged"]
    assert names(client.get(LIST, {"status": "ACTIVE"})) == ["Active"]
    assert names(client.get(LIST, {"location": str(second.public_id)})) == ["Annex"]
    assert names(client.get(LIST, {"physician": str(doc.public_id)})) == ["Referred"]


def test_filter_by_another_organizations_location_is_refused_not_applied(client, location):
    PatientFactory(home_location=location, last_name="Mine")
    foreign = LocationFactory()
    response = client.get(LIST, {"location": str(foreign.public_id)})
    assert response.status_code == 200
    assert "location" in response.context["form"].errors


def test_keyset_paging_walks_every_patient_once_in_name_order(client, location):
    for i in range(30):
        PatientFactory(home_location=location, last_name=f"P{i:02d}", first_name="Same")
    seen: list[str] = []
    params: dict[str, str] = {}
    while True:
        response = client.get(LIST, params)
        seen += names(response)
        if not response.context["has_next"]:
            break
        params = {"after": str(response.context["next_after"])}
    assert seen == [f"P{i:02d}" for i in range(30)]


def test_keyset_paging_newest_first(client, location):
    made = [PatientFactory(home_location=location).last_name for _ in range(27)]
    first = client.get(LIST, {"sort": "created"})
    assert names(first) == made[::-1][:25]
    rest = client.get(LIST, {"sort": "created", "after": str(first.context["next_after"])})
    assert names(rest) == made[::-1][25:]


def test_list_has_no_names_in_its_paging_links(client, location):
    for i in range(26):
        PatientFactory(home_location=location, last_name=f"Secretname{i:02d}")
    body = client.get(LIST).content.decode()
    links = [part.split('"')[0] for part in body.split('href="?')[1:]]
    assert links and not any("Secretname" in link for link in links)


def test_list_runs_the_same_number_of_queries_for_3_or_30_patients(client, location):
    doc = PhysicianFactory(organization=location.organization)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIST, {"view": "grid"}).status_code == 200
            assert client.get(LIST).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(3):
        PatientFactory(home_location=location, referring_physician=doc, flags=["fall_risk"])
    few = count()
    for _ in range(27):
        PatientFactory(home_location=location, referring_physician=doc, flags=["fall_risk"])
    assert count() == few


def test_grid_view_and_htmx_partial(client, location):
    PatientFactory(home_location=location, last_name="Gridded")
    grid = client.get(LIST, {"view": "grid"})
    assert b"patient-grid" in grid.content
    partial = client.get(LIST, headers={"HX-Request": "true", "HX-Target": "patient-results"})
    assert b"<html" not in partial.content and b"Gridded" in partial.content


# -- dashboard --------------------------------------------------------------------------------


def test_viewing_a_patient_is_audited_without_phi(client, location, employee):
    p = PatientFactory(home_location=location, last_name="Viewed")
    response = client.get(detail(p))
    assert response.status_code == 200 and b"Viewed" in response.content
    row = AuditEvent.objects.get(action="patient.viewed")
    assert row.actor == employee and row.object_id == str(p.public_id)
    assert row.details == {"tab": "details"} and row.location == location


def test_history_tab_shows_changes(client, location, employee):
    from patients.record import services

    p = PatientFactory(home_location=location)
    services.patient_update(actor=employee, patient=p, city="Austin")
    response = client.get(detail(p, "history"))
    assert response.status_code == 200
    assert b"Austin" in response.content
    assert AuditEvent.objects.filter(action="patient.viewed", details__tab="history").exists()


def test_unknown_tab_is_404(client, location):
    p = PatientFactory(home_location=location)
    assert client.get(detail(p, "insurance")).status_code == 404


def test_other_organizations_patient_is_404_and_not_audited(client):
    p = PatientFactory()
    assert client.get(detail(p)).status_code == 404
    assert (
        client.get(reverse("patients:edit", kwargs={"public_id": p.public_id})).status_code == 404
    )
    assert not AuditEvent.objects.filter(action="patient.viewed").exists()


# -- create -----------------------------------------------------------------------------------


def form_data(location, **overrides):
    data = {
        "home_location": str(location.public_id),
        "first_name": "Nora",
        "last_name": "Quinn",
        "date_of_birth": "1950-05-06",
        "sex": "F",
        "preferred_contact": "SMS",
        "language": "English",
        "phone_mobile": "201 555 0123",
        "flags": ["hard_of_hearing"],
    }
    data.update(overrides)
    return data


def test_create_registers_and_redirects_to_the_dashboard(client, location):
    response = client.post(CREATE, form_data(location))
    p = Patient.objects.get()
    assert response.status_code == 302 and response.url == detail(p)
    assert p.phone_mobile == "+12015550123" and p.flags == ["hard_of_hearing"]
    assert AuditEvent.objects.filter(action="patient.registered").count() == 1


def test_create_with_errors_shows_summary_and_saves_nothing(client, location):
    response = client.post(
        CREATE, form_data(location, first_name="", date_of_birth="2999-01-01", phone_mobile="12")
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "There is a problem" in body
    assert "Enter the first name." in body
    assert "cannot be in the future" in body
    assert not Patient.objects.exists()


def test_create_refuses_a_bad_phone_with_a_message_on_the_field(client, location):
    response = client.post(CREATE, form_data(location, phone_mobile="555 0000"))
    assert response.status_code == 400
    assert "phone_mobile" in response.context["form"].errors
    assert not Patient.objects.exists()


def test_create_offers_the_existing_record_and_needs_confirmation(client, location):
    existing = PatientFactory(
        home_location=location,
        first_name="Nora",
        last_name="Quinn",
        date_of_birth=datetime.date(1950, 5, 6),
    )
    response = client.post(CREATE, form_data(location, phone_mobile=""))
    assert response.status_code == 400
    assert response.context["duplicates"] == [existing]
    assert detail(existing).encode() in response.content
    assert Patient.objects.count() == 1
    response = client.post(CREATE, form_data(location, phone_mobile="", confirm_duplicate="yes"))
    assert response.status_code == 302
    assert Patient.objects.count() == 2


def test_duplicate_by_phone_at_a_location_i_cannot_see_is_counted_not_shown(client, location):
    PatientFactory(
        home_location=LocationFactory(organization=location.organization),
        last_name="Hidden",
        phone_home="+12015550123",
    )
    response = client.post(CREATE, form_data(location))
    assert response.context["duplicates"] == []
    assert response.context["hidden_duplicates"] == 1
    assert b"Hidden" not in response.content


def test_create_at_another_organizations_location_is_refused(client, location):
    response = client.post(CREATE, form_data(LocationFactory()))
    assert response.status_code == 400
    assert not Patient.objects.exists()


# -- edit and actions -------------------------------------------------------------------------


def test_edit_saves_and_audits_field_names(client, location):
    p = PatientFactory(home_location=location, first_name="Nora", last_name="Quinn")
    url = reverse("patients:edit", kwargs={"public_id": p.public_id})
    assert client.get(url).status_code == 200
    data = form_data(location, mrn=p.mrn, date_of_birth=p.date_of_birth.isoformat(), city="Boise")
    response = client.post(url, data)
    assert response.status_code == 302
    p.refresh_from_db()
    assert p.city == "Boise"
    row = AuditEvent.objects.get(action="patient.updated")
    assert "city" in row.details["fields"] and "Boise" not in repr(row.details)


def test_edit_with_taken_mrn_shows_error_and_changes_nothing(client, location):
    PatientFactory(home_location=location, mrn="TAKEN1")
    p = PatientFactory(home_location=location)
    url = reverse("patients:edit", kwargs={"public_id": p.public_id})
    response = client.post(url, form_data(location, mrn="TAKEN1"))
    assert response.status_code == 400
    assert "mrn" in response.context["form"].errors
    p.refresh_from_db()
    assert p.mrn != "TAKEN1"


def test_status_change_action(client, location):
    p = PatientFactory(home_location=location)
    url = reverse("patients:status", kwargs={"public_id": p.public_id})
    response = client.post(url, {"to": "SCHEDULED", "reason": "Booked"})
    assert response.status_code == 302
    p.refresh_from_db()
    assert p.status == PatientStatus.SCHEDULED


def test_disallowed_status_change_is_refused_with_the_allowed_ones(client, location):
    p = PatientFactory(home_location=location)
    url = reverse("patients:status", kwargs={"public_id": p.public_id})
    response = client.post(url, {"to": "COMPLETED", "reason": "Done"})
    assert response.status_code == 400
    assert b"Scheduled" in response.content
    p.refresh_from_db()
    assert p.status == PatientStatus.PENDING_SCHEDULE
    assert not PatientStatusChange.objects.exists()


def test_status_change_is_post_only(client, location):
    p = PatientFactory(home_location=location)
    assert (
        client.get(reverse("patients:status", kwargs={"public_id": p.public_id})).status_code == 405
    )


def test_add_note(client, location):
    p = PatientFactory(home_location=location)
    url = reverse("patients:note", kwargs={"public_id": p.public_id})
    assert client.post(url, {"text": "Call after 5pm"}).status_code == 302
    assert client.post(url, {"text": ""}).status_code == 400
    assert list(PatientNote.objects.values_list("text", flat=True)) == ["Call after 5pm"]
    assert b"Call after 5pm" in client.get(detail(p)).content


def test_nav_shows_patients(client):
    assert reverse("patients:list").encode() in client.get(reverse("clinic:dashboard")).content


def test_dashboard_runs_the_same_number_of_queries_however_long_the_record(
    client, location, employee
):
    from patients.record import services

    p = PatientFactory(
        home_location=location,
        referring_physician=PhysicianFactory(organization=location.organization),
    )

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(detail(p)).status_code == 200
            assert client.get(detail(p, "history")).status_code == 200
        return len(ctx.captured_queries)

    def grow(n: int) -> None:
        # Attributed changes, as in a request: the history then names its actors.
        with history_context(actor=employee, origin="test"):
            for i in range(n):
                services.patient_note_add(actor=employee, patient=p, text=f"Note {i}")
                services.patient_update(actor=employee, patient=p, city=f"City {i}")

    grow(3)
    few = count()
    grow(27)
    assert count() == few


def test_refused_action_re_renders_the_dashboard_and_is_audited_as_a_view(client, location):
    p = PatientFactory(home_location=location)
    response = client.post(
        reverse("patients:note", kwargs={"public_id": p.public_id}), {"text": ""}
    )
    assert response.status_code == 400
    assert b"Write the note first." in response.content
    assert AuditEvent.objects.filter(action="patient.viewed", object_id=str(p.public_id)).exists()


def test_record_tabs_registered_by_other_apps_appear_in_order(client, location, monkeypatch):
    from patients.record import tabs

    monkeypatch.setattr(tabs, "_TABS", dict(tabs._TABS))
    tabs.record_tab_register(tabs.RecordTab("extra", "Extra tab", "patients:documents", 15))
    p = PatientFactory(home_location=location)
    html = client.get(detail(p)).content.decode()
    assert html.index(">Details<") < html.index(">Extra tab<") < html.index(">Insurance<")
    documents_url = reverse("patients:documents", kwargs={"public_id": p.public_id})
    assert f'href="{documents_url}"' in html


def test_history_tab_shows_dates_in_the_one_format(client, location, employee):
    p = PatientFactory(home_location=location)
    patient_update(actor=employee, patient=p, date_of_birth=datetime.date(1983, 8, 13))
    body = client.get(detail(p, "history")).content.decode()
    assert "13 Aug 1983" in body
    assert "Aug. 13, 1983" not in body


def test_the_record_shows_the_date_of_birth_in_the_one_format(client, location):
    p = PatientFactory(home_location=location, date_of_birth=datetime.date(1983, 8, 13))
    body = client.get(detail(p, "details")).content.decode()
    assert "Born 13 Aug 1983" in body
    assert "1983-08-13" not in body.replace('value="1983-08-13"', "")
