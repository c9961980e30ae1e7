"""The email pages: an email and its thread (scoped, audited, constant queries), compose and
reply from the patient's record, read / star buttons, saving an attachment, linking an
unassigned email, and the search across email and SMS."""

from __future__ import annotations

import pytest
from django.db import reset_queries
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from comms.gmail.sync import mailbox_sync
from comms.messaging.services import conversation_for_patient
from comms.models import Message
from comms.tests import gmail_support
from comms.tests.factories import MessageFactory
from comms.tests.gmail_support import connected_mailbox, incoming
from patients.documents.services import document_upload
from patients.documents.tests.factories import pdf_bytes, pdf_upload
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

fake_google = gmail_support.fake_google  # the fixture


@pytest.fixture
def patient():
    return PatientFactory(first_name="Robin", email="robin.patient@example.org")


@pytest.fixture
def staff(patient):
    return staff_user(role=Role.EMPLOYEE, location=patient.home_location)


@pytest.fixture
def mailbox(fake_google, patient):
    return connected_mailbox(fake_google, organization=patient.organization)


def _detail(message) -> str:
    return reverse("comms:email_detail", kwargs={"public_id": message.public_id})


def test_the_email_page_shows_the_thread_and_is_audited(
    fake_google, mailbox, patient, staff, signed_in
):
    first = incoming(fake_google, mailbox, sender=patient.email, subject="Mask", body="It leaks.")
    fake_google.add_message(
        sender=patient.email,
        subject="Re: Mask",
        body="Still leaking.",
        thread_id=first.gmail.thread.gmail_id,
    )
    mailbox_sync(mailbox_id=mailbox.pk)

    response = signed_in(staff).get(_detail(first))

    page = response.content.decode()
    assert response.status_code == 200
    assert "It leaks." in page and "Still leaking." in page
    assert "Reply" in page
    audit = AuditEvent.objects.get(action="patient.viewed", actor=staff)
    assert audit.object_id == str(patient.public_id) and audit.details["tab"] == "email"


def test_the_thread_page_runs_the_same_queries_for_two_or_ten_messages(
    fake_google, mailbox, patient, staff, signed_in, django_assert_max_num_queries
):
    first = incoming(
        fake_google,
        mailbox,
        sender=patient.email,
        subject="Mask",
        attachments=(("a.pdf", "application/pdf", pdf_bytes()),),
    )
    thread_id = first.gmail.thread.gmail_id
    fake_google.add_message(sender=patient.email, subject="Re", thread_id=thread_id)
    mailbox_sync(mailbox_id=mailbox.pk)
    client = signed_in(staff)
    client.get(_detail(first))
    with django_assert_max_num_queries(40) as two:
        client.get(_detail(first))
    for n in range(8):
        fake_google.add_message(
            sender=patient.email,
            subject=f"Re {n}",
            thread_id=thread_id,
            attachments=(("b.pdf", "application/pdf", pdf_bytes()),),
        )
    mailbox_sync(mailbox_id=mailbox.pk)
    with django_assert_max_num_queries(len(two.captured_queries)):
        response = client.get(_detail(first))
    assert response.content.decode().count('class="list-item email-message') == 10


@pytest.mark.parametrize("who", ["elsewhere", "technician", "other_org"])
def test_an_email_of_a_patient_one_may_not_see_is_not_found(
    fake_google, mailbox, patient, signed_in, who
):
    message = incoming(fake_google, mailbox, sender=patient.email, subject="Private")
    user = {
        "elsewhere": lambda: staff_user(
            role=Role.EMPLOYEE, location=LocationFactory(organization=patient.organization)
        ),
        "technician": lambda: staff_user(
            role=Role.FIELD_TECHNICIAN, location=patient.home_location
        ),
        "other_org": lambda: staff_user(role=Role.ADMIN, location=LocationFactory()),
    }[who]()
    client = signed_in(user)
    assert client.get(_detail(message)).status_code == 404
    flags = reverse("comms:email_flags", kwargs={"public_id": message.public_id})
    assert client.post(flags, {"read": "true"}).status_code == 404
    compose = reverse("comms:email_compose", kwargs={"public_id": patient.public_id})
    assert client.get(compose).status_code == 404
    assert fake_google.calls("POST", "/modify") == []
    assert not AuditEvent.objects.filter(action="patient.viewed", actor=user).exists()


def test_the_read_and_star_buttons_change_gmail(fake_google, mailbox, patient, staff, signed_in):
    message = incoming(fake_google, mailbox, sender=patient.email, subject="Hello")
    client = signed_in(staff)
    url = reverse("comms:email_flags", kwargs={"public_id": message.public_id})
    assert client.post(url, {"read": "true"}).status_code == 302
    assert client.post(url, {"starred": "true"}).status_code == 302
    assert fake_google.messages[message.provider_sid].label_ids == {"INBOX", "STARRED"}
    page = client.get(_detail(message)).content.decode()
    assert "Mark unread" in page and "Unstar" in page


def test_nothing_to_change_is_a_message_not_an_error(
    fake_google, mailbox, patient, staff, signed_in
):
    message = incoming(fake_google, mailbox, sender=patient.email, subject="Hello")
    url = reverse("comms:email_flags", kwargs={"public_id": message.public_id})
    response = signed_in(staff).post(url, {"read": "maybe"}, follow=True)
    assert "Nothing to change" in response.content.decode()
    assert fake_google.calls("POST", "/modify") == []


def test_compose_from_the_patient_page_queues_the_email(
    fake_google, mailbox, patient, staff, signed_in
):
    document = document_upload(
        actor=staff, patient=patient, files=[pdf_upload()], category="general"
    )[0]
    client = signed_in(staff)
    url = reverse("comms:email_compose", kwargs={"public_id": patient.public_id})
    page = client.get(url).content.decode()
    assert "robin.patient@example.org" in page and "General" in page
    token = page.split('name="token" value="')[1].split('"')[0]

    data = {
        "mailbox": str(mailbox.public_id),
        "subject": "Your documents",
        "body": "Attached.",
        "documents": [str(document.public_id)],
        "token": token,
    }
    response = client.post(url, data)
    again = client.post(url, data)  # the same form sent twice

    message = Message.objects.get(channel="email")
    assert response.status_code == 302 and again.status_code == 302
    assert response["Location"] == _detail(message)
    assert message.subject == "Your documents" and message.gmail.attachments.count() == 1


def test_compose_with_bad_input_shows_the_reason_and_writes_nothing(
    fake_google, mailbox, patient, staff, signed_in
):
    url = reverse("comms:email_compose", kwargs={"public_id": patient.public_id})
    response = signed_in(staff).post(
        url,
        {"mailbox": str(mailbox.public_id), "subject": "", "body": "", "token": "not-a-uuid"},
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not Message.objects.exists()


def test_reply_page_prefills_the_subject(fake_google, mailbox, patient, staff, signed_in):
    question = incoming(fake_google, mailbox, sender=patient.email, subject="Question")
    url = reverse("comms:email_compose", kwargs={"public_id": patient.public_id})
    page = signed_in(staff).get(url + f"?reply={question.public_id}").content.decode()
    assert 'value="Re: Question"' in page


def test_saving_an_attachment_from_the_page(fake_google, mailbox, patient, staff, signed_in):
    message = incoming(
        fake_google,
        mailbox,
        sender=patient.email,
        subject="Form",
        attachments=(("form.pdf", "application/pdf", pdf_bytes("Form")),),
    )
    attachment = message.gmail.attachments.get()
    url = reverse("comms:email_attachment_save", kwargs={"public_id": attachment.public_id})
    response = signed_in(staff).post(url, follow=True)
    assert "Saved to the patient" in response.content.decode()
    assert "In documents" in response.content.decode()
    attachment.refresh_from_db()
    assert attachment.document.patient == patient


def test_an_unassigned_email_can_be_linked_from_its_page(
    fake_google, mailbox, patient, staff, signed_in
):
    message = incoming(fake_google, mailbox, sender="aunt@example.net", subject="About Robin")
    client = signed_in(staff)
    page = client.get(_detail(message) + f"?patient_q={patient.last_name}").content.decode()
    assert "Link to this patient" in page
    url = reverse("comms:email_link", kwargs={"public_id": message.public_id})
    assert client.post(url, {"patient": str(patient.public_id)}).status_code == 302
    assert Message.objects.get(pk=message.pk).patient == patient


def test_search_finds_email_and_sms_of_visible_patients_only(
    fake_google, mailbox, patient, staff, signed_in, django_assert_max_num_queries
):
    incoming(fake_google, mailbox, sender=patient.email, subject="CPAP humidifier", body="Dry.")

    def sms(to, body):
        return MessageFactory(patient=to, conversation=conversation_for_patient(to), body=body)

    sms(patient, "Your humidifier chamber shipped.")
    hidden = PatientFactory(
        home_location=LocationFactory(organization=patient.organization),
        email="hidden@example.org",
    )
    sms(hidden, "Humidifier for someone else.")
    client = signed_in(staff)
    url = reverse("comms:message_search") + "?q=humidifier"

    with django_assert_max_num_queries(15) as few:
        page = client.get(url).content.decode()
    assert "CPAP humidifier" in page and "chamber shipped" in page
    assert "someone else" not in page
    assert "2 results" in page
    for n in range(5):
        sms(patient, f"Humidifier note {n}.")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(url).content.decode()
    assert "7 results" in page
    email_only = client.get(url + "&channel=email").content.decode()
    assert "1 result" in email_only
    audit = AuditEvent.objects.filter(action="messages.searched").last()
    assert "humidifier" not in str(audit.details)


def test_search_with_junk_input_is_a_clear_400(fake_google, staff, signed_in):
    url = reverse("comms:message_search")
    response = signed_in(staff).get(url, {"q": "x" * 300, "channel": "fax"})
    assert response.status_code == 400


def test_the_patients_timeline_lists_email_with_a_link_to_it(
    fake_google, mailbox, patient, staff, signed_in
):
    from comms.messaging.timeline import timeline_for

    message = incoming(fake_google, mailbox, sender=patient.email, subject="Filter size")
    entries = [e for e in timeline_for(user=staff, patient=patient) if e.kind == "email"]
    assert [(e.title, e.url) for e in entries] == [
        ("Email received · Filter size", _detail(message))
    ]
    assert timeline_for(user=staff, patient=patient, kinds=["sms"]) == []
    technician = staff_user(role=Role.FIELD_TECHNICIAN, location=patient.home_location)
    assert timeline_for(user=technician, patient=patient, kinds=["email"]) == []
    page = signed_in(staff).get(reverse("comms:patient", kwargs={"public_id": patient.public_id}))
    assert "Write an email instead" in page.content.decode()


def test_the_email_list_shows_unread_and_unassigned_in_constant_queries(
    fake_google, mailbox, patient, staff, signed_in, django_assert_max_num_queries
):
    incoming(fake_google, mailbox, sender=patient.email, subject="Unread one")
    incoming(fake_google, mailbox, sender=patient.email, subject="Read one", labels=("INBOX",))
    incoming(fake_google, mailbox, sender="stranger@example.net", subject="Who is this")
    hidden = PatientFactory(
        home_location=LocationFactory(organization=patient.organization),
        email="hidden@example.org",
    )
    incoming(fake_google, mailbox, sender=hidden.email, subject="Not for this user")
    client = signed_in(staff)
    url = reverse("comms:email_list")

    reset_queries()  # a long run fills Django's query log; measure from empty
    with django_assert_max_num_queries(20) as few:
        page = client.get(url).content.decode()
    first = len(few.captured_queries)
    assert "Unread one" in page and "Read one" in page and "Who is this" in page
    assert "Not for this user" not in page
    unread = client.get(url + "?show=unread").content.decode()
    assert "Unread one" in unread and "Read one" not in unread
    unassigned = client.get(url + "?show=unassigned").content.decode()
    assert "Who is this" in unassigned and "Unread one" not in unassigned
    for n in range(5):
        fake_google.add_message(sender=patient.email, subject=f"More {n}")
    mailbox_sync(mailbox_id=mailbox.pk)
    reset_queries()
    with django_assert_max_num_queries(first):
        page = client.get(url).content.decode()
    assert "More 4" in page
    assert client.get(url + "?show=bogus").status_code == 400


def test_inbox_counters_count_unread_email_the_user_may_see(
    fake_google, mailbox, patient, staff, signed_in
):
    """The inbox's counters cover email as well as text messages: the unread email of the
    user's patients (the email list's own count); another location's patient is not counted;
    mail read in Gmail stops counting, and that change is announced to open pages."""
    from clinic.models import OutboxEvent

    other = PatientFactory(
        organization=patient.organization,
        home_location=LocationFactory(organization=patient.organization),
        email="someone.else@example.org",
    )
    mine = incoming(fake_google, mailbox, sender=patient.email, subject="Mask")
    incoming(fake_google, mailbox, sender=other.email, subject="Not yours")
    client = signed_in(staff)

    counts = client.get(reverse("comms:inbox_counts")).json()
    assert (counts["email"], counts["patients"], counts["total"]) == (1, 0, 1)
    page = client.get(reverse("comms:inbox")).content.decode()
    assert '<span id="inbox-email-count">1</span>' in page

    fake_google.change_labels(mine.gmail.gmail_id, remove=("UNREAD",))
    mailbox_sync(mailbox_id=mailbox.pk)
    assert client.get(reverse("comms:inbox_counts")).json()["email"] == 0
    announced = OutboxEvent.objects.filter(name="comms.message_changed").last()
    assert announced is not None and announced.realtime[0][1]["change"] == "read"
    assert announced.realtime[0][1]["patient"] == str(patient.public_id)
