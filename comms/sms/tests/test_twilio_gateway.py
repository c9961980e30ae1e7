"""Delivery through the real twilio client against the fake Twilio server on 127.0.0.1."""

from __future__ import annotations

import pytest

from clinic.models import Role
from clinic.tests.conftest import wait_until
from clinic.tests.factories import staff_user
from comms.messaging.delivery import message_deliver
from comms.messaging.services import message_send
from comms.messaging.tasks import backoff
from comms.models import Channel, ContactPreference, LocationSender, Message
from comms.tests.factories import SENDER, SmsPatientFactory, twilio_settings_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    return SmsPatientFactory(phone_mobile="+12015550142")


@pytest.fixture
def staff(patient):
    return staff_user(role=Role.EMPLOYEE, location=patient.home_location)


def _queue(staff, patient, key="k", body="Your mask is ready."):
    return message_send(
        actor=staff, patient=patient, channel="sms", purpose="manual", dedupe_key=key, body=body
    )


def test_twilio_gateway_sends_through_the_client_and_stores_the_sid(
    staff, patient, fake_twilio, settings
):
    settings.COMMS_PUBLIC_BASE_URL = "https://clinic.example.com"
    twilio_settings_for(patient.organization)
    message = _queue(staff, patient)
    assert message_deliver(message_id=message.pk) == "sent"
    message.refresh_from_db()
    [sent] = fake_twilio.sent_to("+12015550142")
    assert message.provider_sid == sent.sid and message.gateway == "twilio"
    assert message.status == "queued" and not message.not_really_sent
    assert sent.from_ == SENDER and sent.body == "Your mask is ready."
    org_id = patient.organization.public_id
    assert sent.status_callback == f"https://clinic.example.com/comms/twilio/{org_id}/status/"


def test_messaging_service_and_location_sender(staff, patient, fake_twilio):
    twilio_settings_for(patient.organization, twilio_messaging_service_sid="MG" + "a" * 32)
    first = _queue(staff, patient, key="a")
    message_deliver(message_id=first.pk)
    assert fake_twilio.sent_to("+12015550142")[0].messaging_service_sid == "MG" + "a" * 32
    first.refresh_from_db()
    assert first.status == "accepted"
    LocationSender.objects.create(
        organization=patient.organization,
        location=patient.home_location,
        from_number="+12015550177",
    )
    second = _queue(staff, patient, key="b")
    message_deliver(message_id=second.pk)
    assert fake_twilio.sent_to("+12015550142")[-1].from_ == "+12015550177"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_failures_are_retried_and_then_succeed(staff, patient, fake_twilio, status):
    twilio_settings_for(patient.organization)
    fake_twilio.fail_next(status)
    message = _queue(staff, patient)
    assert message_deliver(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 1 and message.provider_sid == ""
    assert message_deliver(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert message.attempts == 2 and message.error_code == ""
    assert len(fake_twilio.sent_to("+12015550142")) == 1


def test_a_timeout_is_transient(staff, patient, fake_twilio, monkeypatch):
    monkeypatch.setattr("comms.sms.gateway.TWILIO_TIMEOUT_SECONDS", 0.3)
    twilio_settings_for(patient.organization)
    fake_twilio.stall_next(1.0)
    message = _queue(staff, patient)
    assert message_deliver(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.error_code == "timeout"


def test_invalid_number_is_permanent_and_never_retried(staff, patient, fake_twilio):
    twilio_settings_for(patient.organization)
    fake_twilio.invalid.add("+12015550142")
    message = _queue(staff, patient)
    assert message_deliver(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "21211")
    assert message_deliver(message_id=message.pk) == "skipped"
    assert len([r for r in fake_twilio.requests if r["method"] == "POST"]) == 1


def test_unsubscribed_at_the_carrier_fails_and_records_the_opt_out(staff, patient, fake_twilio):
    twilio_settings_for(patient.organization)
    fake_twilio.unsubscribed.add("+12015550142")
    message = _queue(staff, patient)
    assert message_deliver(message_id=message.pk) == "failed"
    pref = ContactPreference.objects.get(
        organization=patient.organization, channel=Channel.SMS, address="+12015550142"
    )
    assert pref.opted_out


def test_the_last_transient_failure_gives_up_as_failed(staff, patient, fake_twilio):
    twilio_settings_for(patient.organization)
    fake_twilio.fail_next(503)
    message = _queue(staff, patient)
    assert message_deliver(message_id=message.pk, final_attempt=True) == "failed"
    message.refresh_from_db()
    assert message.status == "failed" and message.error_code


def test_backoff_grows_and_is_jittered():
    early = {round(backoff(0), 3) for _ in range(20)}
    assert len(early) > 1 and all(1.0 <= b <= 2.0 for b in early)
    assert all(b <= 300.0 for b in (backoff(20) for _ in range(20)))
    assert max(backoff(5) for _ in range(50)) > 2.0


@pytest.mark.django_db(transaction=True)
def test_worker_retries_a_503_then_delivers_exactly_once(
    staff, patient, fake_twilio, celery_worker
):
    twilio_settings_for(patient.organization)
    fake_twilio.fail_next(503)
    message = _queue(staff, patient)
    wait_until(lambda: Message.objects.filter(pk=message.pk).exclude(provider_sid="").exists())
    message.refresh_from_db()
    assert message.attempts == 2
    assert len(fake_twilio.sent_to("+12015550142")) == 1


def test_a_batch_is_sent_concurrently_once_each_with_one_event_for_open_pages(
    staff, patient, fake_twilio
):
    from clinic.models import OutboxEvent
    from comms.messaging.delivery import messages_deliver

    twilio_settings_for(patient.organization)
    others = SmsPatientFactory.create_batch(
        5, organization=patient.organization, home_location=patient.home_location
    )
    fake_twilio.invalid.add(others[0].phone_mobile)
    queued = [_queue(staff, p, key=f"batch-{i}") for i, p in enumerate([patient, *others])]
    ids = [m.pk for m in queued]

    outcomes = messages_deliver(message_ids=ids)

    assert outcomes[queued[1].pk] == "failed"  # the invalid number: permanent, not retried
    assert [outcomes[i] for i in ids if i != queued[1].pk] == ["sent"] * 5
    rows = {m.pk: m for m in Message.objects.filter(pk__in=ids)}
    assert rows[queued[1].pk].error_code == "21211" and rows[queued[1].pk].provider_sid == ""
    sent_to = sorted(m.to for m in fake_twilio.messages.values())
    assert sent_to == sorted(p.phone_mobile for p in [patient, *others[1:]])
    assert {rows[i].provider_sid for i in ids if i != queued[1].pk} == set(fake_twilio.messages)
    assert all(rows[i].attempts == 1 for i in ids)
    event = OutboxEvent.objects.get(name="comms.messages_changed")
    assert sorted(event.payload["messages"]) == sorted(str(m.public_id) for m in queued)
    [(_, realtime)] = event.realtime
    assert str(patient.public_id) in realtime["patients"]
    # The same batch again (a redelivered task) sends nothing.
    assert set(messages_deliver(message_ids=ids).values()) == {"skipped"}
    assert len(fake_twilio.messages) == 5
