"""message_send: the one sending interface (render, consent and opt-out, unique key, delivery)."""

from __future__ import annotations

import pytest

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from comms.errors import MessageRefused
from comms.messaging.delivery import message_deliver
from comms.messaging.services import message_send
from comms.models import Channel, ContactPreference, Message, MessageStatus
from comms.tests.factories import MessageTemplateFactory, SmsPatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    return SmsPatientFactory(first_name="Robin", phone_mobile="(201) 555-0142")


@pytest.fixture
def staff(patient):
    return staff_user(role=Role.EMPLOYEE, location=patient.home_location)


def test_free_text_is_queued_with_normalized_number_segments_and_audit(staff, patient):
    message = message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="manual",
        dedupe_key="k1",
        body="Your mask is ready for pickup.",
    )
    assert message.status == MessageStatus.QUEUED
    assert message.to_address == "+12015550142"
    assert (message.segments, message.encoding) == (1, "GSM-7")
    assert message.conversation.patient == patient
    audit = AuditEvent.objects.get(action="message.queued")
    assert audit.object_id == str(message.public_id)
    assert "mask" not in str(audit.details)


def test_same_dedupe_key_returns_the_first_message_and_queues_nothing_more(staff, patient):
    first = message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="appointment_reminder",
        dedupe_key="appt:1:24h",
        template="appointment_reminder",
        context={"appointment_date": "Mon, Mar 3", "appointment_time": "9:00 AM"},
    )
    second = message_send(
        actor=None,
        patient=patient,
        channel="sms",
        purpose="appointment_reminder",
        dedupe_key="appt:1:24h",
        body="something else",
    )
    assert second.pk == first.pk
    assert Message.objects.count() == 1
    assert "Hi Robin" in first.body and "Mon, Mar 3" in first.body


def test_organization_template_is_rendered_with_patient_and_context_values(staff, patient):
    MessageTemplateFactory(
        organization=patient.organization,
        key="pickup",
        body="{{ patient_first_name }}, pick up at {{ location_name }} on {{ appointment_date }}.",
    )
    message = message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="manual",
        dedupe_key="k2",
        template="pickup",
        context={"appointment_date": "Friday"},
    )
    assert message.body == f"Robin, pick up at {patient.home_location.name} on Friday."


def test_missing_placeholder_value_is_refused_and_nothing_is_written(staff, patient):
    with pytest.raises(MessageRefused, match="appointment_time"):
        message_send(
            actor=staff,
            patient=patient,
            channel="sms",
            purpose="appointment_reminder",
            dedupe_key="k3",
            template="appointment_reminder",
            context={"appointment_date": "Mon"},
        )
    assert not Message.objects.exists()


def test_opted_out_number_is_refused_with_a_readable_message(staff, patient):
    ContactPreference.objects.create(
        organization=patient.organization,
        channel=Channel.SMS,
        address="+12015550142",
        opted_out=True,
        last_keyword="STOP",
    )
    with pytest.raises(MessageRefused) as info:
        message_send(
            actor=staff,
            patient=patient,
            channel="sms",
            purpose="manual",
            dedupe_key="k4",
            body="hello",
        )
    assert info.value.code == "opted_out"
    assert "opted out" in info.value.message
    assert not Message.objects.exists()
    assert not AuditEvent.objects.filter(action="message.queued").exists()


def test_refused_consent_and_missing_number_are_refused(staff, patient):
    ContactPreference.objects.create(
        organization=patient.organization,
        channel=Channel.SMS,
        address="+12015550142",
        consent=ContactPreference.Consent.REFUSED,
    )
    with pytest.raises(MessageRefused) as info:
        message_send(
            actor=staff,
            patient=patient,
            channel="sms",
            purpose="manual",
            dedupe_key="k5",
            body="hello",
        )
    assert info.value.code == "no_consent"
    nobody = SmsPatientFactory(phone_mobile="12", home_location=patient.home_location)
    with pytest.raises(MessageRefused) as info:
        message_send(
            actor=staff,
            patient=nobody,
            channel="sms",
            purpose="manual",
            dedupe_key="k6",
            body="hello",
        )
    assert info.value.code == "no_number"
    assert not Message.objects.exists()


def test_staff_of_another_organization_cannot_send(patient):
    outsider = staff_user(role=Role.ADMIN, location=LocationFactory())
    with pytest.raises(Exception) as info:
        message_send(
            actor=outsider,
            patient=patient,
            channel="sms",
            purpose="manual",
            dedupe_key="k7",
            body="hello",
        )
    assert getattr(info.value, "code", "") == "not_found"
    assert not Message.objects.exists()


def test_development_gateway_records_the_message_as_not_really_sent(staff, patient):
    message = message_send(
        actor=staff, patient=patient, channel="sms", purpose="manual", dedupe_key="k8", body="hello"
    )
    assert message_deliver(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.gateway == "development" and message.not_really_sent
    assert message.provider_sid.startswith("DEV")
    # Running it again (a redelivered task) has no second effect.
    assert message_deliver(message_id=message.pk) == "skipped"


def test_opt_out_between_queueing_and_delivery_fails_the_message_unsent(staff, patient):
    message = message_send(
        actor=staff, patient=patient, channel="sms", purpose="manual", dedupe_key="k9", body="hello"
    )
    ContactPreference.objects.create(
        organization=patient.organization,
        channel=Channel.SMS,
        address="+12015550142",
        opted_out=True,
    )
    assert message_deliver(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert (message.status, message.error_code, message.provider_sid) == ("failed", "opted_out", "")


def test_unicode_text_counts_ucs2_segments(staff, patient):
    message = message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="manual",
        dedupe_key="k10",
        body="Rappel 😀 " * 10,
    )
    assert message.encoding == "UCS-2" and message.segments == 2


@pytest.mark.django_db(transaction=True)
def test_the_celery_worker_delivers_after_commit(staff, patient, celery_worker):
    from clinic.tests.conftest import wait_until

    message = message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="manual",
        dedupe_key="k11",
        body="hello",
    )
    wait_until(lambda: Message.objects.filter(pk=message.pk, status="sent").exists())


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """The ids handed to the broker. Only the hand-off is replaced: what is chosen is tested."""
    from comms.messaging import tasks

    handed: list[int] = []

    def record(*, message_ids: list[int]) -> int:
        handed.extend(message_ids)
        return len(message_ids)

    monkeypatch.setattr(tasks, "messages_enqueue", record)
    return handed


def test_sweep_re_enqueues_only_messages_stuck_in_the_queue(staff, patient, enqueued):
    from datetime import timedelta

    from django.utils import timezone

    from comms.messaging import tasks

    stuck = message_send(
        actor=staff, patient=patient, channel="sms", purpose="manual", dedupe_key="s1", body="hello"
    )
    fresh = message_send(
        actor=staff, patient=patient, channel="sms", purpose="manual", dedupe_key="s2", body="hello"
    )
    Message.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert tasks.messages_sweep() == 1
    assert enqueued == [stuck.pk] and fresh.pk not in enqueued


def test_sweep_fails_an_interrupted_text_instead_of_sending_it_again(staff, patient, enqueued):
    """A worker lost between claiming a message and recording the gateway's answer leaves it
    "sending": the text may have gone out, so the sweep fails it and never sends it again."""
    from datetime import timedelta

    from django.utils import timezone

    from comms.messaging import delivery, tasks

    message = message_send(
        actor=staff, patient=patient, channel="sms", purpose="manual", dedupe_key="s3", body="hi"
    )
    claimed = delivery._claim([message.pk])  # the lost worker's first step
    assert [m.pk for m in claimed] == [message.pk]
    assert message_deliver(message_id=message.pk) == "skipped"  # a redelivered task
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    tasks.messages_sweep()
    message.refresh_from_db()
    assert (message.status, message.error_code, message.provider_sid) == (
        "failed",
        "interrupted",
        "",
    )
    assert enqueued == []


def test_one_transaction_of_messages_goes_to_the_broker_in_batches(
    staff, patient, monkeypatch, django_capture_on_commit_callbacks
):
    """Every message a transaction writes is handed over after commit, DELIVERY_BATCH per task;
    one rolled back inside it is not delivered."""
    from django.db import transaction

    from comms.messaging import tasks

    batches: list[list[int]] = []
    monkeypatch.setattr(
        tasks, "messages_enqueue", lambda *, message_ids: batches.append(list(message_ids))
    )
    patients = SmsPatientFactory.create_batch(
        3, organization=patient.organization, home_location=patient.home_location
    )
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        kept = [
            message_send(
                actor=staff,
                patient=p,
                channel="sms",
                purpose="manual",
                dedupe_key=f"b{i}",
                body="hello",
            )
            for i, p in enumerate(patients[:2])
        ]
        try:
            with transaction.atomic():
                message_send(
                    actor=staff,
                    patient=patients[2],
                    channel="sms",
                    purpose="manual",
                    dedupe_key="b-gone",
                    body="hello",
                )
                raise RuntimeError("roll this one back")
        except RuntimeError:
            pass
        assert batches == []  # nothing before commit
    assert len(batches) == 1  # one hand-over for the transaction
    assert {m.pk for m in kept} <= set(batches[0])
    assert Message.objects.filter(dedupe_key="b-gone").count() == 0


def test_sweep_queues_an_interrupted_email_again(staff, patient, enqueued):
    """An email left "sending" is queued again: the Gmail gateway looks for an earlier send by
    its Message-ID before sending, so a retry never sends it twice."""
    from datetime import timedelta

    from django.utils import timezone

    from comms.messaging import delivery, tasks

    patient.email = "robin@example.org"
    patient.save(update_fields=["email"])
    message = message_send(
        actor=staff, patient=patient, channel="email", purpose="manual", dedupe_key="e1", body="hi"
    )
    delivery._claim([message.pk])
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert tasks.messages_sweep() == 1
    message.refresh_from_db()
    assert message.status == "queued" and enqueued == [message.pk]
