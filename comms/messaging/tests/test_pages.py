"""The communications tab, the inbox, templates and settings pages."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from comms.messaging.services import message_send
from comms.models import (
    Channel,
    CommsSettings,
    ContactPreference,
    Conversation,
    Message,
    MessageTemplate,
)
from comms.sms.inbound import sms_receive
from comms.tests.factories import SmsPatientFactory
from patients.record.services import patient_note_add

pytestmark = pytest.mark.django_db

PHONE = "+12015550142"


@pytest.fixture
def patient():
    return SmsPatientFactory(phone_mobile=PHONE, first_name="Robin", last_name="Quill")


@pytest.fixture
def staff(patient):
    return staff_user(role=Role.EMPLOYEE, location=patient.home_location)


@pytest.fixture
def admin(patient):
    return staff_user(role=Role.ADMIN, location=patient.home_location)


def _tab(patient):
    return f"/comms/patients/{patient.public_id}/"


def _receive(patient, body="Thanks!", sid="SM1", from_=PHONE):
    return sms_receive(
        organization=patient.organization,
        from_number=from_,
        to_number="+12015550100",
        body=body,
        sid=sid,
    )[0]


def test_tab_shows_thread_dev_label_timeline_and_is_audited(signed_in, staff, patient):
    message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="manual",
        dedupe_key="a",
        body="Your mask is ready.",
    )
    from comms.messaging.delivery import message_deliver

    message_deliver(message_id=Message.objects.get().pk)
    patient_note_add(actor=staff, patient=patient, text="Called about the mask")
    response = signed_in(staff).get(_tab(patient))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your mask is ready." in html and "Not really sent" in html
    assert "Called about the mask" in html and "aria-current" in html
    assert AuditEvent.objects.filter(
        action="patient.viewed", details__tab="communications"
    ).exists()


def test_timeline_filter_keeps_only_chosen_kinds(signed_in, staff, patient):
    message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="manual",
        dedupe_key="a",
        body="Text body here",
    )
    patient_note_add(actor=staff, patient=patient, text="A private note")
    html = signed_in(staff).get(_tab(patient) + "panel/?kind=note&kind=bogus").content.decode()
    timeline = html.split('id="comms-timeline"')[1]
    assert "A private note" in timeline and "Text body here" not in timeline


def test_send_from_the_page_queues_once_per_form(signed_in, staff, patient):
    client = signed_in(staff)
    page = client.get(_tab(patient)).content.decode()
    nonce = page.split('name="nonce" value="')[1].split('"')[0]
    for _ in range(2):  # a double submit
        response = client.post(_tab(patient) + "send/", {"nonce": nonce, "body": "On my way"})
        assert response.status_code == 302
    assert Message.objects.filter(body="On my way").count() == 1


def test_send_to_an_opted_out_patient_is_refused_with_a_clear_message(signed_in, staff, patient):
    ContactPreference.objects.create(
        organization=patient.organization,
        channel=Channel.SMS,
        address=PHONE,
        opted_out=True,
        last_keyword="STOP",
    )
    client = signed_in(staff)
    response = client.post(
        _tab(patient) + "send/", {"nonce": "7f1d1c1e-1111-4111-8111-111111111111", "body": "hello"}
    )
    assert response.status_code == 400
    assert "opted out" in response.content.decode()
    assert not Message.objects.exists()


def test_empty_or_bad_input_is_a_400_with_a_message(signed_in, staff, patient):
    client = signed_in(staff)
    response = client.post(_tab(patient) + "send/", {"nonce": "nope", "body": ""})
    assert response.status_code == 400
    assert not Message.objects.exists()
    long = client.post(
        _tab(patient) + "send/",
        {"nonce": "7f1d1c1e-1111-4111-8111-111111111112", "body": "x" * 1601},
    )
    assert long.status_code == 400


def test_other_location_staff_and_other_organizations_get_404(signed_in, patient):
    elsewhere = staff_user(
        role=Role.EMPLOYEE, location=LocationFactory(organization=patient.organization)
    )
    outsider = staff_user(role=Role.ADMIN, location=LocationFactory())
    for user in (elsewhere, outsider):
        client = signed_in(user)
        assert client.get(_tab(patient)).status_code == 404
        assert client.post(_tab(patient) + "send/", {"body": "x"}).status_code == 404
    assert not Message.objects.exists()


def test_mark_read_and_archive(signed_in, staff, patient):
    _receive(patient)
    conversation = Conversation.objects.get(patient=patient)
    client = signed_in(staff)
    assert client.get("/comms/inbox/counts/").json() == {
        "patients": 1,
        "unassigned": 0,
        "email": 0,
        "total": 1,
    }
    assert client.post(f"/comms/conversations/{conversation.public_id}/read/").status_code == 302
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert Message.objects.get(direction="inbound").read_at is not None
    assert client.get("/comms/inbox/counts/").json()["total"] == 0
    client.post(f"/comms/conversations/{conversation.public_id}/archive/")
    conversation.refresh_from_db()
    assert conversation.archived_at is not None
    _receive(patient, sid="SM2")  # a new message brings it back
    conversation.refresh_from_db()
    assert conversation.archived_at is None and conversation.unread_count == 1


def test_staff_choose_the_patient_of_an_ambiguous_message(signed_in, staff, patient):
    twin = SmsPatientFactory(
        phone_mobile=PHONE, home_location=patient.home_location, first_name="Sam"
    )
    message = _receive(patient, body="C")
    client = signed_in(staff)
    page = client.get("/comms/inbox/?box=unassigned").content.decode()
    assert "File under patient" in page and "Sam" in page
    response = client.post(
        f"/comms/messages/{message.public_id}/assign/", {"patient": str(twin.public_id)}
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.patient == twin and message.conversation.patient == twin
    assert Conversation.objects.get(patient=twin).unread_count == 1
    assert Conversation.objects.get(patient__isnull=True).unread_count == 0


def test_inbox_queries_do_not_grow_with_rows(signed_in, staff, patient):
    client = signed_in(staff)
    _receive(patient)
    client.get("/comms/inbox/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/comms/inbox/").status_code == 200
    for n in range(5):
        p = SmsPatientFactory(
            home_location=patient.home_location, phone_mobile=f"+120155502{n:02d}"
        )
        _receive(p, sid=f"SMx{n}", from_=p.phone_mobile)
    with CaptureQueriesContext(connection) as many:
        html = client.get("/comms/inbox/").content.decode()
    assert html.count("inbox-row") == 6
    assert len(many) == len(few)


def test_tab_queries_do_not_grow_with_messages(signed_in, staff, patient):
    client = signed_in(staff)
    _receive(patient)
    client.get(_tab(patient))
    with CaptureQueriesContext(connection) as few:
        client.get(_tab(patient))
    for n in range(6):
        _receive(patient, sid=f"SMy{n}")
        patient_note_add(actor=staff, patient=patient, text=f"note {n}")
    with CaptureQueriesContext(connection) as many:
        client.get(_tab(patient))
    assert len(many) == len(few)


def test_templates_preview_then_save_and_unknown_placeholders_are_refused(signed_in, admin, staff):
    client = signed_in(admin)
    body = "Hi {{ patient_first_name }}, see you {{ appointment_date }}."
    preview = client.post(
        "/comms/templates/", {"name": "Visit", "key": "visit", "body": body, "action": "preview"}
    )
    assert preview.status_code == 200 and "Hi Alex, see you Tue, Mar 4." in preview.content.decode()
    assert not MessageTemplate.objects.exists()
    bad = client.post(
        "/comms/templates/",
        {"name": "Visit", "key": "visit", "body": "Hi {{ patient_frist_name }}", "action": "save"},
    )
    assert bad.status_code == 400 and "patient_frist_name" in bad.content.decode()
    assert not MessageTemplate.objects.exists()
    ok = client.post(
        "/comms/templates/", {"name": "Visit", "key": "visit", "body": body, "action": "save"}
    )
    assert ok.status_code == 302 and MessageTemplate.objects.get().body == body
    assert signed_in(staff).get("/comms/templates/").status_code == 404


def test_settings_keep_the_token_encrypted_and_never_show_it(signed_in, admin):
    client = signed_in(admin)
    response = client.post(
        "/comms/settings/",
        {
            "sms_gateway": "twilio",
            "twilio_account_sid": "AC" + "b" * 32,
            "twilio_auth_token": "secret-token-value",
            "twilio_from_number": "(201) 555-0100",
        },
    )
    assert response.status_code == 302
    row = CommsSettings.objects.get()
    assert (
        row.twilio_auth_token == "secret-token-value" and row.twilio_from_number == "+12015550100"
    )
    with connection.cursor() as cur:
        cur.execute("SELECT twilio_auth_token FROM comms_commssettings")
        assert "secret-token-value" not in cur.fetchone()[0]
    assert "secret-token-value" not in client.get("/comms/settings/").content.decode()
    bad = client.post("/comms/settings/", {"sms_gateway": "twilio", "twilio_account_sid": "nope"})
    assert bad.status_code == 400


def test_opt_out_date_is_the_date_where_the_patient_is_seen(signed_in, staff, patient):
    location = patient.home_location
    location.timezone = "America/Chicago"
    location.save()
    ContactPreference.objects.create(
        organization=patient.organization,
        channel=Channel.SMS,
        address=PHONE,
        opted_out=True,
        last_keyword="STOP",
        opted_out_at=datetime.datetime(2026, 12, 4, 2, 30, tzinfo=datetime.UTC),  # 3 Dec, Chicago
    )
    body = signed_in(staff).get(_tab(patient)).content.decode()
    assert "replied STOP on" in body
    assert 'title="America/Chicago">3 Dec 2026</time>' in body
    assert "on 2026-12-04" not in body
