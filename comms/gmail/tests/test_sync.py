"""The Gmail sync against a fake Gmail API on 127.0.0.1, driven by google-api-python-client:
full sync, incremental sync by historyId, an expired history (404 -> one full resync), label
changes made in Gmail, patients matched by address, token refresh and a revoked grant."""

from __future__ import annotations

import pytest
from django.db import connection

from clinic.models import AuditEvent, OutboxEvent
from comms.gmail.client import GmailNotAuthorized, GmailRefused
from comms.gmail.models import GmailLabel, GmailMailbox, GmailMessage
from comms.gmail.sync import mailbox_sync
from comms.models import Direction, Message
from comms.tests import gmail_support
from comms.tests.gmail_support import connected_mailbox
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

fake_google = gmail_support.fake_google  # the fixture


@pytest.fixture
def patient():
    return PatientFactory(first_name="Robin", email="robin.patient@example.org")


@pytest.fixture
def mailbox(fake_google, patient):
    return connected_mailbox(fake_google, organization=patient.organization)


def _sync(mailbox: GmailMailbox):
    result = mailbox_sync(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    return result


def test_full_sync_stores_mail_as_email_messages_linked_to_patients_by_address(
    fake_google, mailbox, patient
):
    fake_google.add_message(
        sender="Robin <Robin.Patient@Example.org>",
        subject="Mask is leaking",
        body="My mask leaks at night.",
        attachments=(("scan.pdf", "application/pdf", b"%PDF-1.4 scan"),),
    )
    fake_google.add_message(sender="vendor@supplies.example", subject="Invoice", labels=("INBOX",))
    fake_google.add_message(sender="spam@junk.example", subject="Win", labels=("SPAM",))

    result = _sync(mailbox)

    assert (result.mode, result.stored) == ("full", 2)
    assert mailbox.history_id == fake_google.history_id
    assert mailbox.full_sync_count == 1
    linked = Message.objects.get(subject="Mask is leaking")
    assert linked.channel == "email" and linked.direction == Direction.INBOUND
    assert linked.patient == patient and linked.location == patient.home_location
    assert linked.body == "My mask leaks at night."
    assert linked.read_at is None  # UNREAD in Gmail
    assert linked.gateway == "gmail" and linked.provider_sid
    row = linked.gmail
    assert row.is_unread and not row.is_starred
    assert row.thread.patient == patient
    assert [(a.filename, a.size) for a in row.attachments.all()] == [("scan.pdf", 13)]
    vendor = Message.objects.get(subject="Invoice")
    assert vendor.patient is None and vendor.read_at is not None
    assert not Message.objects.filter(subject="Win").exists()
    assert GmailLabel.objects.filter(mailbox=mailbox, gmail_id="INBOX").exists()
    audit = AuditEvent.objects.get(action="email.received")
    assert audit.object_id == str(linked.public_id)
    assert "leak" not in str(audit.details).lower()


def test_incremental_sync_applies_history_without_listing_the_mailbox(
    fake_google, mailbox, patient
):
    first = fake_google.add_message(sender=patient.email, subject="First")
    _sync(mailbox)
    label = fake_google.create_label("Resupply")
    fake_google.change_labels(first.id, add=(label, "STARRED"), remove=("UNREAD",))
    second = fake_google.add_message(
        sender=patient.email, subject="Second", thread_id=first.thread_id
    )
    gone = fake_google.add_message(sender="someone@else.example", subject="Gone")
    fake_google.delete_message(gone.id)
    lists_before = len(fake_google.calls("GET", "/messages"))

    result = _sync(mailbox)

    assert result.mode == "incremental"
    assert len(fake_google.calls("GET", "/history")) == 1
    # no listing of the mailbox: only the new message was fetched
    assert [r.path for r in fake_google.calls("GET", "/messages")][lists_before:] == [
        f"/gmail/v1/users/me/messages/{second.id}"
    ]
    assert mailbox.history_id == fake_google.history_id
    row = GmailMessage.objects.get(gmail_id=first.id)
    assert label in row.label_ids and row.is_starred and not row.is_unread
    assert row.message.read_at is not None
    assert GmailLabel.objects.get(mailbox=mailbox, gmail_id=label).name == "Resupply"
    reply = GmailMessage.objects.get(gmail_id=second.id)
    assert reply.thread_id == row.thread_id and reply.message.patient == patient
    # New mail, and mail read in Gmail, are announced to open pages (ids only); the first full
    # sync announced nothing.
    events = OutboxEvent.objects.filter(name="comms.message_changed").order_by("id")
    assert sorted((e.realtime[0][1]["change"], e.payload["message"]) for e in events) == sorted(
        [("read", str(row.message.public_id)), ("received", str(reply.message.public_id))]
    )
    assert not GmailMessage.objects.filter(gmail_id=gone.id).exists()


def test_a_label_changed_in_gmail_is_changed_here_both_directions(fake_google, mailbox, patient):
    message = fake_google.add_message(sender=patient.email, subject="Question", labels=("INBOX",))
    _sync(mailbox)
    row = GmailMessage.objects.get(gmail_id=message.id)
    assert not row.is_unread and row.message.read_at is not None

    fake_google.change_labels(message.id, add=("UNREAD", "STARRED"))
    _sync(mailbox)
    row.refresh_from_db()
    assert row.is_unread and row.is_starred
    assert Message.objects.get(pk=row.message_id).read_at is None

    fake_google.change_labels(message.id, remove=("STARRED", "INBOX"))
    _sync(mailbox)
    row.refresh_from_db()
    assert not row.is_starred and row.label_ids == ["UNREAD"]


def test_expired_history_triggers_exactly_one_full_resync(fake_google, mailbox, patient):
    fake_google.add_message(sender=patient.email, subject="Before")
    _sync(mailbox)
    fake_google.add_message(sender=patient.email, subject="While history expired")
    fake_google.expire_history()
    profiles_before = len(fake_google.calls("GET", "/profile"))

    result = _sync(mailbox)

    assert result.mode == "resync"
    assert len(fake_google.calls("GET", "/history")) == 1  # asked once, got 404, never again
    assert len(fake_google.calls("GET", "/profile")) == profiles_before + 1
    assert mailbox.full_sync_count == 2
    assert mailbox.history_id == fake_google.history_id
    assert Message.objects.filter(subject="While history expired").count() == 1
    assert Message.objects.filter(subject="Before").count() == 1

    # The next run is incremental again from the fresh position.
    assert _sync(mailbox).mode == "incremental"
    assert mailbox.full_sync_count == 2


def test_a_second_expired_history_in_the_resync_run_does_not_loop(fake_google, mailbox, patient):
    _sync(mailbox)
    fake_google.add_message(sender=patient.email, subject="Later")
    fake_google.expire_history()
    # Gmail fails the resync's listing: the run ends (no retry loop), the position is
    # forgotten, and the next run does the full sync.
    fake_google.fail_next.append(("/messages", 404))
    with pytest.raises(GmailRefused):
        _sync(mailbox)
    assert len(fake_google.calls("GET", "/history")) == 1
    mailbox.refresh_from_db()
    assert mailbox.history_id is None
    assert _sync(mailbox).mode == "full"
    assert len(fake_google.calls("GET", "/history")) == 1


def test_address_shared_by_two_patients_is_left_for_staff_to_choose(fake_google, mailbox, patient):
    twin = PatientFactory(
        home_location=patient.home_location, organization=patient.organization, email=patient.email
    )
    fake_google.add_message(sender=patient.email, subject="Which of us")
    _sync(mailbox)
    message = Message.objects.get(subject="Which of us")
    assert message.patient is None
    assert sorted(message.candidate_patient_ids) == sorted(
        [str(patient.public_id), str(twin.public_id)]
    )


def test_an_expired_access_token_is_refreshed_and_kept_encrypted(fake_google, mailbox):
    old = mailbox.access_token
    fake_google.expire_access_tokens()
    _sync(mailbox)
    assert mailbox.access_token != old
    assert mailbox.access_token in fake_google.access_tokens
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM comms_gmailmailbox WHERE id = %s", [mailbox.pk])
        stored = cursor.fetchone()[0]
    assert mailbox.access_token not in stored


def test_a_revoked_grant_marks_the_mailbox_for_reconnecting(fake_google, mailbox):
    fake_google.refresh_tokens.clear()
    fake_google.expire_access_tokens()
    with pytest.raises(GmailNotAuthorized):
        _sync(mailbox)
    mailbox.refresh_from_db()
    assert mailbox.status == GmailMailbox.Status.NEEDS_RECONNECT
    assert _sync(mailbox).mode == "off"


def test_a_second_sync_of_the_same_mailbox_at_once_is_refused(fake_google, mailbox):
    import psycopg

    from comms.gmail.sync import _LOCK_NAMESPACE

    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, mailbox.pk])
        assert _sync(mailbox).mode == "busy"
    assert fake_google.calls("GET", "/profile") == []


def test_the_schedule_queues_a_sync_of_every_connected_mailbox(fake_google, mailbox, celery_queue):
    from clinic.tests.conftest import queued_messages
    from comms.gmail.tasks import gmail_sync_all
    from comms.tests.fake_gmail import FakeGmail

    other = connected_mailbox(
        FakeGmail(email_address="second@example.test"), organization=mailbox.organization
    )
    other.status = GmailMailbox.Status.DISCONNECTED
    other.save()
    assert gmail_sync_all() == 1
    assert queued_messages(celery_queue) == 1


def test_beat_runs_the_gmail_sync_and_the_worker_knows_the_tasks():
    from config.celery import app
    from config.settings import base

    assert base.CELERY_BEAT_SCHEDULE["comms-gmail-sync"]["task"] == "comms.gmail_sync_all"
    app.loader.import_default_modules()
    assert {"comms.gmail_sync_all", "comms.gmail_mailbox_sync"} <= set(app.tasks)


def test_new_email_from_a_patient_notifies_their_location_staff_only(fake_google, mailbox, patient):
    from clinic.models import Notification, Role
    from clinic.tests.factories import LocationFactory, staff_user

    staff = staff_user(role=Role.EMPLOYEE, location=patient.home_location)
    elsewhere = staff_user(
        role=Role.EMPLOYEE,
        location=LocationFactory(organization=patient.organization),
    )
    fake_google.add_message(sender=patient.email, subject="Old mail")
    _sync(mailbox)  # the first full sync stores old mail without announcing it
    assert not Notification.objects.exists()

    fake_google.add_message(sender=patient.email, subject="Mask is leaking")
    fake_google.add_message(sender="vendor@supplies.example", subject="Invoice")
    _sync(mailbox)

    note = Notification.objects.get()
    assert note.recipient == staff and note.kind == "comms.email"
    assert note.title == "New email"
    assert str(patient.public_id) in note.url
    assert "leak" not in (note.title + note.body).lower()
    assert not Notification.objects.filter(recipient=elsewhere).exists()
