"""Gmail services against the fake Gmail API: compose and reply (sent by the real delivery path
through the Gmail gateway), read / star pushed to Gmail, attachments saved as documents,
linking an unassigned email, and who may do each."""

from __future__ import annotations

import pytest

from clinic.errors import ApplicationError, NotFound
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from comms.errors import MessageRefused
from comms.gmail.models import GmailAttachment, GmailMessage
from comms.gmail.services import (
    Draft,
    email_attachment_save,
    email_compose_send,
    email_flags_set,
    email_patient_link,
)
from comms.gmail.sync import mailbox_sync
from comms.messaging.delivery import message_deliver
from comms.models import Channel, ContactPreference, Message, MessageStatus
from comms.tests import gmail_support
from comms.tests.gmail_support import connected_mailbox, incoming
from patients.documents.services import document_upload
from patients.documents.tests.factories import pdf_bytes, pdf_upload
from patients.models import Document
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


def _send(fake, staff, patient, mailbox, *, key="k1", reply_to=None, documents=(), **draft):
    message = email_compose_send(
        actor=staff,
        patient=patient,
        mailbox=mailbox,
        draft=Draft(
            subject=draft.get("subject", "Your results"),
            body=draft.get("body", "Hello Robin, your results are attached."),
            documents=list(documents),
        ),
        dedupe_key=key,
        reply_to=reply_to,
    )
    assert message_deliver(message_id=message.pk) in ("sent", "skipped")
    message.refresh_from_db()
    return message


def test_compose_sends_through_gmail_with_the_patients_documents(
    fake_google, staff, patient, mailbox
):
    document = document_upload(
        actor=staff, patient=patient, files=[pdf_upload("Results")], category="lab_report"
    )[0]

    message = _send(fake_google, staff, patient, mailbox, documents=[document])

    assert message.status == MessageStatus.SENT and message.gateway == "gmail"
    assert message.channel == Channel.EMAIL and message.subject == "Your results"
    sent = fake_google.calls("POST", "/messages/send")
    assert len(sent) == 1
    mime = fake_google.sent_mime(message.provider_sid)
    assert mime["To"] == "robin.patient@example.org"
    assert mime["Subject"] == "Your results"
    assert mime["From"].endswith(f"<{mailbox.email_address}>")
    assert mime["Message-ID"] == message.gmail.rfc_message_id
    parts = list(mime.iter_attachments())
    assert [p.get_content() for p in parts] == [pdf_bytes("Results")]
    assert parts[0].get_filename() == f"document-{document.current_version.public_id}.pdf"
    assert "Hello Robin" in mime.get_body(("plain",)).get_content()
    row = message.gmail
    assert row.gmail_id == message.provider_sid and row.thread.patient == patient
    assert AuditEvent.objects.filter(
        action="email.composed", object_id=str(message.public_id)
    ).exists()


def test_the_sync_does_not_store_an_email_we_sent_a_second_time(
    fake_google, staff, patient, mailbox
):
    mailbox_sync(mailbox_id=mailbox.pk)
    _send(fake_google, staff, patient, mailbox)
    mailbox_sync(mailbox_id=mailbox.pk)
    assert Message.objects.filter(channel="email").count() == 1


def test_reply_keeps_the_gmail_thread_and_the_reply_headers(fake_google, staff, patient, mailbox):
    question = incoming(
        fake_google,
        mailbox,
        sender=patient.email,
        subject="Mask question",
        message_id_header="<q1@mail.example.org>",
    )

    reply = _send(
        fake_google, staff, patient, mailbox, reply_to=question, subject="Re: Mask question"
    )

    body = fake_google.calls("POST", "/messages/send")[0].body
    assert body["threadId"] == question.gmail.thread.gmail_id
    mime = fake_google.sent_mime(reply.provider_sid)
    assert mime["In-Reply-To"] == "<q1@mail.example.org>"
    assert mime["References"] == "<q1@mail.example.org>"
    assert reply.gmail.thread_id == question.gmail.thread_id


def test_a_retry_after_gmail_already_took_the_email_does_not_send_it_twice(
    fake_google, staff, patient, mailbox
):
    message = email_compose_send(
        actor=staff,
        patient=patient,
        mailbox=mailbox,
        draft=Draft(subject="Hello", body="Once only"),
        dedupe_key="k-retry",
    )
    # An earlier attempt reached Gmail but its answer was lost (worker killed, rollback).
    earlier = fake_google.add_message(
        sender=mailbox.email_address,
        to=patient.email,
        labels=("SENT",),
        message_id_header=message.gmail.rfc_message_id,
    )

    assert message_deliver(message_id=message.pk) == "sent"

    assert fake_google.calls("POST", "/messages/send") == []
    message.refresh_from_db()
    assert message.provider_sid == earlier.id and message.status == MessageStatus.SENT


def test_gmail_being_busy_is_retried_and_then_sent(fake_google, staff, patient, mailbox):
    message = email_compose_send(
        actor=staff,
        patient=patient,
        mailbox=mailbox,
        draft=Draft(subject="Hello", body="Busy"),
        dedupe_key="k-busy",
    )
    fake_google.fail_next.append(("/messages/send", 503))
    assert message_deliver(message_id=message.pk) == "retry"
    assert message_deliver(message_id=message.pk) == "sent"
    assert len(fake_google.messages) == 1


def test_a_permanent_refusal_fails_the_email_without_retry(fake_google, staff, patient, mailbox):
    message = email_compose_send(
        actor=staff,
        patient=patient,
        mailbox=mailbox,
        draft=Draft(subject="Hello", body="Bad"),
        dedupe_key="k-bad",
    )
    fake_google.fail_next.append(("/messages/send", 400))
    assert message_deliver(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == "gmail_http_400"


def test_the_same_form_sent_twice_sends_one_email(fake_google, staff, patient, mailbox):
    first = email_compose_send(
        actor=staff,
        patient=patient,
        mailbox=mailbox,
        draft=Draft(subject="Hello", body="Twice?"),
        dedupe_key="form-token",
    )
    second = email_compose_send(
        actor=staff,
        patient=patient,
        mailbox=mailbox,
        draft=Draft(subject="Hello", body="Twice?"),
        dedupe_key="form-token",
    )
    assert first.pk == second.pk
    assert GmailMessage.objects.count() == 1


def test_an_opted_out_address_is_refused_and_nothing_is_written(
    fake_google, staff, patient, mailbox
):
    ContactPreference.objects.create(
        organization=patient.organization, channel="email", address=patient.email, opted_out=True
    )
    with pytest.raises(MessageRefused):
        email_compose_send(
            actor=staff,
            patient=patient,
            mailbox=mailbox,
            draft=Draft(subject="Hello", body="No"),
            dedupe_key="k-out",
        )
    assert not Message.objects.exists() and not GmailMessage.objects.exists()


@pytest.mark.parametrize(
    ("subject", "code"),
    [("", "subject_missing"), ("x" * 201, "subject_too_long")],
)
def test_a_bad_subject_is_refused(fake_google, staff, patient, mailbox, subject, code):
    with pytest.raises(ApplicationError) as refused:
        email_compose_send(
            actor=staff,
            patient=patient,
            mailbox=mailbox,
            draft=Draft(subject=subject, body="Body"),
            dedupe_key="k-subject",
        )
    assert refused.value.code == code
    assert not Message.objects.exists()


def test_a_subject_cannot_smuggle_headers(fake_google, staff, patient, mailbox):
    message = _send(fake_google, staff, patient, mailbox, subject="Hi\r\nBcc: evil@example.com")
    mime = fake_google.sent_mime(message.provider_sid)
    assert mime["Bcc"] is None and mime["Subject"] == "Hi Bcc: evil@example.com"


def test_another_patients_document_cannot_be_attached(fake_google, staff, patient, mailbox):
    other = PatientFactory(home_location=patient.home_location, organization=patient.organization)
    document = document_upload(
        actor=staff, patient=other, files=[pdf_upload()], category="general"
    )[0]
    with pytest.raises(ApplicationError) as refused:
        email_compose_send(
            actor=staff,
            patient=patient,
            mailbox=mailbox,
            draft=Draft(subject="Hi", body="Body", documents=[document]),
            dedupe_key="k-doc",
        )
    assert refused.value.code == "attachment_not_allowed"
    assert not Message.objects.exists()


def test_staff_elsewhere_cannot_email_the_patient(fake_google, patient, mailbox):
    elsewhere = staff_user(
        role=Role.EMPLOYEE, location=LocationFactory(organization=patient.organization)
    )
    with pytest.raises(NotFound):
        email_compose_send(
            actor=elsewhere,
            patient=patient,
            mailbox=mailbox,
            draft=Draft(subject="Hi", body="Body"),
            dedupe_key="k-else",
        )
    assert not Message.objects.exists()


def test_marking_read_and_starred_here_changes_the_labels_in_gmail(
    fake_google, staff, patient, mailbox
):
    message = incoming(fake_google, mailbox, sender=patient.email, subject="Read me")
    gmail_id = message.gmail.gmail_id

    email_flags_set(actor=staff, message=message, read=True, starred=True)

    assert fake_google.messages[gmail_id].label_ids == {"INBOX", "STARRED"}
    row = GmailMessage.objects.get(gmail_id=gmail_id)
    assert not row.is_unread and row.is_starred
    assert Message.objects.get(pk=message.pk).read_at is not None
    audit = AuditEvent.objects.get(action="email.marked")
    assert audit.details == {"read": True, "starred": True}

    email_flags_set(actor=staff, message=Message.objects.get(pk=message.pk), read=False)
    assert "UNREAD" in fake_google.messages[gmail_id].label_ids
    assert Message.objects.get(pk=message.pk).read_at is None
    # Our own change comes back in Gmail's history: applying it again changes nothing.
    mailbox_sync(mailbox_id=mailbox.pk)
    row.refresh_from_db()
    assert row.is_unread and row.is_starred


def test_when_gmail_refuses_a_label_change_nothing_changes_here(
    fake_google, staff, patient, mailbox
):
    message = incoming(fake_google, mailbox, sender=patient.email, subject="Read me")
    fake_google.fail_next.append(("/modify", 500))
    with pytest.raises(ApplicationError):
        email_flags_set(actor=staff, message=message, read=True)
    row = GmailMessage.objects.get(pk=message.gmail.pk)
    assert row.is_unread and Message.objects.get(pk=message.pk).read_at is None
    assert not AuditEvent.objects.filter(action="email.marked").exists()


def test_an_attachment_is_saved_as_a_patient_document_once(fake_google, staff, patient, mailbox):
    message = incoming(
        fake_google,
        mailbox,
        sender=patient.email,
        subject="Signed form",
        attachments=(("signed.pdf", "application/pdf", pdf_bytes("Signed")),),
    )
    attachment = message.gmail.attachments.get()

    document = email_attachment_save(actor=staff, attachment=attachment)

    assert document.patient == patient and document.category == "correspondence"
    version = document.current_version
    assert version.kind == "pdf" and version.size == len(pdf_bytes("Signed"))
    from django.core.files.storage import storages

    with storages["default"].open(version.storage_name, "rb") as handle:
        assert handle.read() == pdf_bytes("Signed")
    again = email_attachment_save(
        actor=staff, attachment=GmailAttachment.objects.get(pk=attachment.pk)
    )
    assert again.pk == document.pk
    assert Document.objects.filter(patient=patient).count() == 1
    assert len(fake_google.calls("GET", "/attachments/")) == 1
    assert AuditEvent.objects.filter(action="email.attachment_saved").count() == 1


def test_an_attachment_that_is_not_an_allowed_file_is_refused_with_the_reason(
    fake_google, staff, patient, mailbox
):
    message = incoming(
        fake_google,
        mailbox,
        sender=patient.email,
        subject="Zip",
        attachments=(("files.zip", "application/zip", b"PK\x03\x04" + b"\x00" * 60),),
    )
    with pytest.raises(ApplicationError) as refused:
        email_attachment_save(actor=staff, attachment=message.gmail.attachments.get())
    assert "ZIP archive" in refused.value.message
    assert not Document.objects.exists()


def test_an_unassigned_email_is_linked_by_staff_with_its_thread(
    fake_google, staff, patient, mailbox
):
    first = incoming(fake_google, mailbox, sender="family@example.net", subject="About Robin")
    later = fake_google.add_message(
        sender="family@example.net",
        subject="Re: About Robin",
        thread_id=first.gmail.thread.gmail_id,
    )
    mailbox_sync(mailbox_id=mailbox.pk)
    assert first.patient is None

    email_patient_link(actor=staff, message=first, patient=patient)

    assert Message.objects.get(pk=first.pk).patient == patient
    assert GmailMessage.objects.get(gmail_id=later.id).message.patient == patient
    third = fake_google.add_message(
        sender="family@example.net", subject="Re: Re", thread_id=first.gmail.thread.gmail_id
    )
    mailbox_sync(mailbox_id=mailbox.pk)
    assert GmailMessage.objects.get(gmail_id=third.id).message.patient == patient


def test_a_field_technician_cannot_mark_or_save_from_an_email(fake_google, patient, mailbox):
    message = incoming(
        fake_google,
        mailbox,
        sender=patient.email,
        subject="Private",
        attachments=(("a.pdf", "application/pdf", pdf_bytes()),),
    )
    technician = staff_user(role=Role.FIELD_TECHNICIAN, location=patient.home_location)
    with pytest.raises(NotFound):
        email_flags_set(actor=technician, message=message, read=True)
    with pytest.raises(NotFound):
        email_attachment_save(actor=technician, attachment=message.gmail.attachments.get())
    assert fake_google.calls("POST", "/modify") == []
    assert not Document.objects.exists()
