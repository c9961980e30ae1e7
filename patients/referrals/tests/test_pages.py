"""Referral and authorization pages: the work queue (filters, oldest first, keyset paging,
constant queries), a referral's status actions, receiving a referral, a patient's
authorizations (add, use units), the expiring list; who may see and change them."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic import times
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory
from patients.clinical.tests.factories import PayerFactory
from patients.models import Authorization, PatientAssignment, Referral, ReferralStatus
from patients.referrals import views as referrals_views
from patients.referrals.tests.factories import AuthorizationFactory, ReferralFactory
from patients.tests.factories import PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def client(employee, signed_in):
    return signed_in(employee)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location, last_name="Queuewright")


@pytest.fixture
def referral(patient):
    return ReferralFactory(patient=patient)


def _today():
    return timezone.localdate()


def test_queue_lists_open_referrals_oldest_first(client, location):
    old = ReferralFactory(
        patient=PatientFactory(home_location=location), received_on=datetime.date(2026, 1, 2)
    )
    new = ReferralFactory(
        patient=PatientFactory(home_location=location), received_on=datetime.date(2026, 3, 2)
    )
    closed = ReferralFactory(
        patient=PatientFactory(home_location=location), status=ReferralStatus.CLOSED
    )
    other_location = ReferralFactory(
        patient=PatientFactory(home_location=LocationFactory(organization=location.organization))
    )
    response = client.get(reverse("patients:referral_queue"))
    assert response.status_code == 200
    assert [r.pk for r in response.context["rows"]] == [old.pk, new.pk]
    assert closed.patient.last_name not in response.content.decode()
    assert other_location.patient.last_name not in response.content.decode()


def test_queue_filters_by_status_assignee_and_physician(client, employee, location):
    mine = ReferralFactory(patient=PatientFactory(home_location=location), assigned_to=employee)
    contacted = ReferralFactory(
        patient=PatientFactory(home_location=location), status=ReferralStatus.CONTACTED
    )
    url = reverse("patients:referral_queue")
    assert [r.pk for r in client.get(url, {"mine": "1"}).context["rows"]] == [mine.pk]
    assert [r.pk for r in client.get(url, {"status": "CONTACTED"}).context["rows"]] == [
        contacted.pk
    ]
    rows = client.get(url, {"physician": str(contacted.physician.public_id)}).context["rows"]
    assert [r.pk for r in rows] == [contacted.pk]
    assert client.get(url, {"physician": "not-a-uuid", "after": "junk"}).status_code == 200


def test_queue_pages_by_keyset(client, location, monkeypatch):
    monkeypatch.setattr(referrals_views, "QUEUE_PAGE_SIZE", 2)
    day = datetime.date(2026, 1, 1)
    made = [
        ReferralFactory(patient=PatientFactory(home_location=location), received_on=day)
        for _ in range(3)
    ]
    first = client.get(reverse("patients:referral_queue"))
    assert [r.pk for r in first.context["rows"]] == [made[0].pk, made[1].pk]
    second = client.get(reverse("patients:referral_queue") + "?" + first.context["next_query"])
    assert [r.pk for r in second.context["rows"]] == [made[2].pk]
    assert not second.context["more"]


def test_queue_runs_a_constant_number_of_queries(client, location, employee):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("patients:referral_queue")).status_code == 200
        return len(ctx.captured_queries)

    ReferralFactory(patient=PatientFactory(home_location=location), assigned_to=employee)
    few = count()
    for _ in range(8):
        ReferralFactory(patient=PatientFactory(home_location=location), assigned_to=employee)
    assert count() == few


def test_status_action_moves_the_referral_and_shows_history(client, referral):
    response = client.post(
        reverse("patients:referral_status", kwargs={"public_id": referral.public_id}),
        {"to": "CONTACTED", "note": "Left a voicemail"},
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.CONTACTED
    page = client.get(reverse("patients:referral_detail", kwargs={"public_id": referral.public_id}))
    assert "Left a voicemail" in page.content.decode()
    assert "Mark scheduled" in page.content.decode()
    assert AuditEvent.objects.filter(action="patient.viewed", details__tab="referral").exists()


def test_a_refused_status_move_shows_the_message_and_changes_nothing(client, referral):
    response = client.post(
        reverse("patients:referral_status", kwargs={"public_id": referral.public_id}),
        {"to": "CLOSED"},
    )
    assert response.status_code == 400
    assert "can only move to contacted" in response.content.decode()
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.RECEIVED


def test_receive_a_referral_on_a_patient(client, patient, location):
    physician = PhysicianFactory(organization=location.organization)
    url = reverse("patients:referrals", kwargs={"public_id": patient.public_id})
    response = client.post(
        url,
        {
            "physician": str(physician.public_id),
            "received_on": "2026-02-03",
            "reason": "Loud snoring",
        },
    )
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert (referral.patient, referral.physician, referral.reason) == (
        patient,
        physician,
        "Loud snoring",
    )
    bad = client.post(url, {"physician": "", "received_on": "soon", "reason": ""})
    assert bad.status_code == 400
    assert "Choose a physician." in bad.content.decode()
    assert Referral.objects.count() == 1


def test_authorizations_page_adds_and_uses_units(client, patient, location):
    payer = PayerFactory(organization=location.organization)
    url = reverse("patients:authorizations", kwargs={"public_id": patient.public_id})
    today = times.local_today(location)  # the patient's location's date, not the UTC one
    data = {
        "payer": str(payer.public_id),
        "number": "PA-77",
        "codes": "E0601",
        "units_approved": "3",
        "valid_from": str(today),
        "valid_to": str(today + datetime.timedelta(days=90)),
    }
    assert client.post(url, data).status_code == 302
    auth = Authorization.objects.get()
    units_url = reverse("patients:authorization_units", kwargs={"public_id": auth.public_id})
    assert client.post(units_url, {"units": "2"}).status_code == 302
    refused = client.post(units_url, {"units": "2"})
    assert refused.status_code == 400
    assert "Only 1 units are left" in refused.content.decode()
    auth.refresh_from_db()
    assert auth.units_used == 2
    bad = client.post(url, {**data, "codes": "E06"})
    assert bad.status_code == 400 and "5-character" in bad.content.decode()
    page = client.get(url)
    assert "PA-77" in page.content.decode()


def test_authorization_edit(client, patient, location):
    auth = AuthorizationFactory(patient=patient)
    url = reverse("patients:authorization_edit", kwargs={"public_id": auth.public_id})
    assert client.get(url).status_code == 200
    data = {
        "payer": str(auth.payer.public_id),
        "number": "NEW-1",
        "codes": "E0601, A7034",
        "units_approved": "12",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
    }
    assert client.post(url, data).status_code == 302
    auth.refresh_from_db()
    assert (auth.number, auth.codes, auth.units_approved) == ("NEW-1", ["E0601", "A7034"], 12)


def test_expiring_list_shows_only_the_users_authorizations_within_30_days(
    client, location, patient
):
    today = _today()
    soon = AuthorizationFactory(
        patient=patient,
        valid_from=today - datetime.timedelta(days=5),
        valid_to=today + datetime.timedelta(days=12),
        number="SOON-1",
    )
    AuthorizationFactory(
        patient=patient,
        valid_from=today,
        valid_to=today + datetime.timedelta(days=45),
        number="LATER-1",
    )
    other = PatientFactory(home_location=LocationFactory(organization=location.organization))
    AuthorizationFactory(
        patient=other,
        valid_from=today,
        valid_to=today + datetime.timedelta(days=3),
        number="ELSEWHERE-1",
    )
    response = client.get(reverse("patients:authorizations_expiring"))
    assert [a.pk for a in response.context["rows"]] == [soon.pk]
    assert "in 12 days" in response.content.decode()


def test_a_clinician_reads_but_cannot_change(location, make_staff, signed_in, referral):
    client = signed_in(make_staff(Role.CLINICIAN, location))
    assert (
        client.get(
            reverse("patients:referral_detail", kwargs={"public_id": referral.public_id})
        ).status_code
        == 200
    )
    assert (
        client.get(
            reverse("patients:authorizations", kwargs={"public_id": referral.patient.public_id})
        ).status_code
        == 200
    )
    response = client.post(
        reverse("patients:referral_status", kwargs={"public_id": referral.public_id}),
        {"to": "CONTACTED"},
    )
    assert response.status_code == 404
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.RECEIVED


@pytest.mark.parametrize(
    "who", ["technician", "support", "other_org_admin", "other_location_employee"]
)
def test_others_get_404_everywhere_and_nothing_changes(
    location, make_staff, signed_in, referral, who
):
    if who == "technician":
        user = make_staff(Role.FIELD_TECHNICIAN, location)
        PatientAssignment.objects.create(patient=referral.patient, technician=user)
    elif who == "support":
        user = make_staff(Role.SUPPORT, location)
    elif who == "other_org_admin":
        user = make_staff(Role.ADMIN, LocationFactory())
    else:
        user = make_staff(Role.EMPLOYEE, LocationFactory(organization=location.organization))
    client = signed_in(user)
    auth = AuthorizationFactory(
        patient=referral.patient,
        valid_from=_today(),
        valid_to=_today() + datetime.timedelta(days=5),
    )
    rid, pid, aid = referral.public_id, referral.patient.public_id, auth.public_id
    gets = [
        reverse("patients:referral_detail", kwargs={"public_id": rid}),
        reverse("patients:referrals", kwargs={"public_id": pid}),
        reverse("patients:authorizations", kwargs={"public_id": pid}),
        reverse("patients:authorization_edit", kwargs={"public_id": aid}),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        (reverse("patients:referral_status", kwargs={"public_id": rid}), {"to": "CONTACTED"}),
        (reverse("patients:authorization_units", kwargs={"public_id": aid}), {"units": "1"}),
        (reverse("patients:referral_assign", kwargs={"public_id": rid}), {"assignee": ""}),
        (reverse("patients:referral_documents", kwargs={"public_id": rid}), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    if who in ("technician", "support"):
        assert client.get(reverse("patients:referral_queue")).status_code == 404
        assert client.get(reverse("patients:authorizations_expiring")).status_code == 404
    else:
        body = client.get(reverse("patients:referral_queue")).content.decode()
        assert referral.patient.last_name not in body
        body = client.get(reverse("patients:authorizations_expiring")).content.decode()
        assert referral.patient.last_name not in body
    referral.refresh_from_db()
    auth.refresh_from_db()
    assert referral.status == ReferralStatus.RECEIVED and auth.units_used == 0
    assert not AuditEvent.objects.filter(actor=user, action__startswith="patient.viewed").exists()


def test_link_the_patients_documents_to_a_referral(client, employee, referral, location):
    from patients.documents.services import document_upload
    from patients.documents.tests.factories import pdf_upload

    [letter] = document_upload(
        actor=employee,
        patient=referral.patient,
        files=[pdf_upload("Referral letter")],
        category="general",
        description="Referral letter",
    )
    [foreign] = document_upload(
        actor=employee,
        patient=PatientFactory(home_location=location),
        files=[pdf_upload("Other")],
        category="general",
    )
    url = reverse("patients:referral_documents", kwargs={"public_id": referral.public_id})
    refused = client.post(url, {"documents": [str(letter.public_id), str(foreign.public_id)]})
    assert refused.status_code == 400
    assert "Choose documents of this patient." in refused.content.decode()
    assert not referral.documents.exists()
    assert client.post(url, {"documents": [str(letter.public_id)]}).status_code == 302
    assert list(referral.documents.all()) == [letter]
    page = client.get(reverse("patients:referral_detail", kwargs={"public_id": referral.public_id}))
    download = reverse(
        "patients:document_download", kwargs={"public_id": letter.current_version.public_id}
    )
    assert download in page.content.decode()
    assert client.post(url, {}).status_code == 302
    assert not referral.documents.exists()


@pytest.mark.parametrize("page", ["authorizations", "authorizations_expiring", "referrals"])
def test_patient_and_expiring_pages_run_a_constant_number_of_queries(client, patient, page):
    url = (
        reverse("patients:authorizations_expiring")
        if page == "authorizations_expiring"
        else reverse(f"patients:{page}", kwargs={"public_id": patient.public_id})
    )
    today = _today()

    def add() -> None:
        AuthorizationFactory(
            patient=patient, valid_from=today, valid_to=today + datetime.timedelta(days=9)
        )
        ReferralFactory(patient=patient)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    add()
    few = count()
    for _ in range(6):
        add()
    assert count() == few


def test_a_new_referral_defaults_to_today_where_the_patient_is_seen(client, location, monkeypatch):
    # 2026-12-04 02:30 UTC is 3 Dec 20:30 in Chicago: the form used to offer the UTC date.
    evening = datetime.datetime(2026, 12, 4, 2, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr(times, "local_now", lambda where: evening.astimezone(times.zone_for(where)))
    location.timezone = "America/Chicago"
    location.save()
    patient = PatientFactory(home_location=location)
    ReferralFactory(patient=patient, received_on=datetime.date(1999, 8, 13))
    body = client.get(
        reverse("patients:referrals", kwargs={"public_id": patient.public_id})
    ).content.decode()
    assert 'value="2026-12-03"' in body
    assert "13 Aug 1999" in body  # the one date format, a received date as it is
