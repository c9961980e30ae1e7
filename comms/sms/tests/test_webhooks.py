"""Twilio webhooks: signature (SDK validator, proxy-aware URL), replays, status callbacks,
incoming messages matched to patients, opt-out keywords, HELP, events and notifications."""

from __future__ import annotations

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from clinic.models import AuditEvent, Notification, OutboxEvent, Role
from clinic.tests.factories import staff_user
from comms.errors import MessageRefused
from comms.messaging.delivery import message_deliver
from comms.messaging.services import message_send
from comms.models import Channel, ContactPreference, Conversation, Message
from comms.sms.inbound import sms_status_update
from comms.tests.factories import SENDER, MessageFactory, SmsPatientFactory, twilio_settings_for
from comms.tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

pytestmark = pytest.mark.django_db

PHONE = "+12015550142"


@pytest.fixture
def patient():
    p = SmsPatientFactory(phone_mobile=PHONE, first_name="Robin")
    twilio_settings_for(p.organization)
    return p


@pytest.fixture
def staff(patient):
    return staff_user(role=Role.EMPLOYEE, location=patient.home_location)


def _url(patient, kind="sms"):
    return f"/comms/twilio/{patient.organization.public_id}/{kind}/"


def _post(
    url,
    params,
    *,
    host="testserver",
    scheme="http",
    token=AUTH_TOKEN,
    sign_url=None,
    idempotency=None,
    **extra,
):
    signature = RequestValidator(token).compute_signature(
        sign_url or f"{scheme}://{host}{url}", params
    )
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature, **extra}
    if idempotency:
        headers["HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"] = idempotency
    return Client().post(url, params, **headers)


def _send(staff, patient, key):
    return message_send(
        actor=staff,
        patient=patient,
        channel="sms",
        purpose="manual",
        dedupe_key=key,
        body="welcome back",
    )


def _inbound(patient, body, *, sid="SM" + "1" * 32, from_=PHONE, **kw):
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "From": from_,
        "To": SENDER,
        "Body": body,
        "SmsStatus": "received",
    }
    return _post(_url(patient), params, **kw)


# ---------------------------------------------------------------- signatures


def test_unsigned_and_forged_requests_get_403_and_an_audit_row(patient):
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM1",
        "From": PHONE,
        "To": SENDER,
        "Body": "hi",
    }
    assert Client().post(_url(patient), params).status_code == 403
    assert _post(_url(patient), params, token="not-the-token").status_code == 403
    refused = AuditEvent.objects.filter(action="webhook.refused")
    assert sorted(r.details["reason"] for r in refused) == ["signature", "unsigned"]
    # Platform-level rows naming the organization (an anonymous caller writes nothing of A's).
    assert all(r.organization_id is None for r in refused)
    assert all(r.object_id == str(patient.organization.public_id) for r in refused)
    assert not Message.objects.exists()


def test_a_signature_for_another_url_or_account_is_refused(patient):
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM1",
        "From": PHONE,
        "To": SENDER,
        "Body": "hi",
    }
    assert _post(_url(patient), params, sign_url="http://evil.example/x").status_code == 403
    other = dict(params, AccountSid="AC" + "0" * 32)
    assert _post(_url(patient), other).status_code == 403
    assert not Message.objects.exists()


def test_behind_a_proxy_the_public_url_is_rebuilt_from_forwarded_headers(patient, settings):
    settings.PROXY_COUNT = 1
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM" + "2" * 32,
        "From": PHONE,
        "To": SENDER,
        "Body": "hello",
    }
    response = _post(
        _url(patient),
        params,
        sign_url=f"https://clinic.example.com{_url(patient)}",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="clinic.example.com",
    )
    assert response.status_code == 200
    assert Message.objects.filter(direction="inbound").count() == 1
    # Without trusting a proxy, the same request does not verify.
    settings.PROXY_COUNT = 0
    again = _post(
        _url(patient),
        dict(params, MessageSid="SM" + "3" * 32),
        sign_url=f"https://clinic.example.com{_url(patient)}",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="clinic.example.com",
    )
    assert again.status_code == 403


def test_an_organization_without_twilio_refuses_webhooks(patient):
    patient.organization.comms_settings.delete()
    assert _inbound(patient, "hi").status_code == 403
    assert not Message.objects.exists()


# ---------------------------------------------------------------- status callbacks


def _sent(staff, patient, sid="SM" + "a" * 32):
    message = message_send(
        actor=staff, patient=patient, channel="sms", purpose="manual", dedupe_key=sid, body="hello"
    )
    Message.objects.filter(pk=message.pk).update(provider_sid=sid, gateway="twilio")
    return message


def _status(patient, sid, status, **kw):
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "MessageStatus": status,
        "To": PHONE,
        "From": SENDER,
    }
    return _post(_url(patient, "status"), params, **kw)


def test_status_callbacks_move_the_message_forward_only(staff, patient):
    message = _sent(staff, patient)
    assert _status(patient, message_sid := "SM" + "a" * 32, "sent").status_code == 200
    assert _status(patient, message_sid, "delivered").status_code == 200
    # A late "sent" never moves a delivered message back.
    assert _status(patient, message_sid, "sending").status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None


def test_a_replayed_status_callback_has_one_effect(staff, patient):
    message = _sent(staff, patient)
    sid = message.provider_sid if message.provider_sid else "SM" + "a" * 32
    before = OutboxEvent.objects.count()
    for _ in range(3):
        assert _status(patient, sid, "delivered", idempotency="tok-1").status_code == 200
    # Same SID and status with a fresh token is the same delivery too.
    assert _status(patient, sid, "delivered", idempotency="tok-2").status_code == 200
    assert OutboxEvent.objects.count() == before + 1


def test_undelivered_keeps_the_error_code(staff, patient):
    message = _sent(staff, patient)
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM" + "a" * 32,
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
    }
    assert _post(_url(patient, "status"), params).status_code == 200
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("undelivered", "30003")


def test_unknown_status_words_are_ignored(staff, patient):
    sid = "SM" + "a" * 32
    message = _sent(staff, patient, sid=sid)
    org = patient.organization
    assert sms_status_update(organization=org, sid=sid, status="exploded") is None
    message.refresh_from_db()
    assert message.status == "queued"
    # Control: the same message and SID with a status Twilio really sends is applied.
    updated = sms_status_update(organization=org, sid=sid, status="delivered")
    assert updated is not None and updated.pk == message.pk
    message.refresh_from_db()
    assert message.status == "delivered"


# ---------------------------------------------------------------- incoming


def test_a_reply_from_one_patient_joins_their_conversation_event_and_notification(staff, patient):
    other_location_staff = staff_user(role=Role.EMPLOYEE)
    assert _inbound(patient, "C").status_code == 200
    message = Message.objects.get(direction="inbound")
    assert message.patient == patient and message.status == "received"
    conversation = Conversation.objects.get(patient=patient)
    assert conversation.unread_count == 1
    event = OutboxEvent.objects.get(name="comms.sms_received")
    assert event.payload == {"message": str(message.public_id)}
    note = Notification.objects.get(recipient=staff)
    assert note.title == "New text message" and "Robin" not in note.title + note.body
    assert not Notification.objects.filter(recipient=other_location_staff).exists()


def test_a_replayed_inbound_message_is_stored_once(patient):
    for _ in range(2):
        assert _inbound(patient, "hello", idempotency="same").status_code == 200
    assert _inbound(patient, "hello", idempotency="fresh").status_code == 200  # same SID
    assert Message.objects.filter(direction="inbound").count() == 1
    assert Conversation.objects.get(patient=patient).unread_count == 1


def test_a_number_shared_by_two_patients_goes_unassigned_with_candidates(patient):
    twin = SmsPatientFactory(phone_mobile=PHONE, home_location=patient.home_location)
    assert _inbound(patient, "who am I").status_code == 200
    message = Message.objects.get(direction="inbound")
    assert message.patient is None
    assert sorted(message.candidate_patient_ids) == sorted([patient.pk, twin.pk])
    assert message.conversation.patient is None and message.conversation.phone == PHONE
    assert not OutboxEvent.objects.filter(name="comms.sms_received").exists()


def test_an_unknown_number_goes_to_the_unassigned_inbox(patient):
    assert _inbound(patient, "hi", from_="+12015550999").status_code == 200
    message = Message.objects.get(direction="inbound")
    assert message.patient is None and message.candidate_patient_ids == []
    assert message.conversation.phone == "+12015550999"


@pytest.mark.parametrize(
    "word", ["STOP", "stopall", "Unsubscribe", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT"]
)
def test_opt_out_keywords_opt_the_number_out(patient, word):
    assert _inbound(patient, word).status_code == 200
    pref = ContactPreference.objects.get(channel=Channel.SMS, address=PHONE)
    assert pref.opted_out and pref.last_keyword == word.upper()
    assert AuditEvent.objects.filter(action="sms.opted_out").count() == 1


# Full-width letters (an Asian phone keyboard), a zero-width space pasted in, and a trailing
# ideographic full stop: the carrier and the patient both read STOP.
@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("\uff33\uff34\uff2f\uff30", "STOP"),  # full-width STOP
        ("\uff53\uff54\uff4f\uff50", "STOP"),  # full-width stop
        ("S\u200bTOP", "STOP"),  # a zero-width space inside
        ("\uff31\uff55\uff49\uff54\u3002", "QUIT"),  # full-width Quit, ideographic full stop
    ],
)
def test_opt_out_keywords_are_matched_after_unicode_normalization(patient, body, keyword):
    assert _inbound(patient, body).status_code == 200
    pref = ContactPreference.objects.get(channel=Channel.SMS, address=PHONE)
    assert pref.opted_out and pref.last_keyword == keyword
    assert AuditEvent.objects.filter(action="sms.opted_out").count() == 1


@pytest.mark.parametrize("word", ["START", "unstop"])
def test_start_and_unstop_resubscribe(staff, patient, word, fake_twilio):
    assert _inbound(patient, "STOP", sid="SM" + "5" * 32).status_code == 200
    # Control: the STOP took effect, so a send is refused until the patient opts back in.
    with pytest.raises(MessageRefused) as refused:
        _send(staff, patient, "while-stopped")
    assert refused.value.code == "opted_out"
    assert _inbound(patient, word, sid="SM" + "6" * 32).status_code == 200
    pref = ContactPreference.objects.get(channel=Channel.SMS, address=PHONE)
    assert not pref.opted_out and pref.opted_in_at is not None
    message = _send(staff, patient, "after-start")
    # The next message really goes out: delivered through Twilio to the patient's number.
    assert message_deliver(message_id=message.pk) == "sent"
    [sent] = fake_twilio.sent_to(PHONE)
    assert sent.body == "welcome back"
    message.refresh_from_db()
    assert message.provider_sid == sent.sid and message.gateway == "twilio"


def test_help_is_answered_with_twiml(patient):
    response = _inbound(patient, "help")
    assert response.status_code == 200
    assert b"<Message>" in response.content and b"STOP" in response.content
    assert Message.objects.filter(direction="outbound", purpose="help_reply").count() == 1


def test_a_message_in_a_sentence_is_not_a_keyword(staff, patient, fake_twilio):
    body = "please don't stop my reminders"
    assert _inbound(patient, body).status_code == 200
    # The webhook worked: the text is stored in the patient's conversation.
    message = Message.objects.get(direction="inbound")
    assert message.body == body and message.patient == patient
    assert Conversation.objects.get(patient=patient).unread_count == 1
    assert not ContactPreference.objects.filter(opted_out=True).exists()
    assert not AuditEvent.objects.filter(action="sms.opted_out").exists()
    # And the patient can still be texted.
    reply = _send(staff, patient, "after-sentence")
    assert message_deliver(message_id=reply.pk) == "sent"
    assert [m.body for m in fake_twilio.sent_to(PHONE)] == ["welcome back"]


def test_factory_rows_are_valid(patient):
    assert MessageFactory(patient=patient).to_address == PHONE
