"""Reminders go out through comms exactly once per (appointment, offset, channel): with a real
Celery worker running the beat task, when the task runs twice at once, and when a worker dies
in the middle of a send. A C/CONFIRM reply confirms the reminded appointment."""

from __future__ import annotations

import datetime

import pytest
from django.db import connections, transaction
from django.utils import timezone

from clinic.events.services import event_dispatch, event_record
from clinic.models import OutboxEvent, Role
from clinic.tests.conftest import wait_until
from clinic.tests.factories import staff_user
from comms.models import Message
from patients.tests.factories import PatientFactory
from scheduling.booking.services import appointment_book, appointment_cancel, appointment_move
from scheduling.booking.tests.test_booking_race import race
from scheduling.models import Reminder
from scheduling.reminders.services import reminders_send_due
from scheduling.tests.outbox import events_dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(employee, patient, setup_type, tech, at):
    appointment = appointment_book(
        actor=employee, patient=patient, type=setup_type, starts_at=at(0, "10:00"), technician=tech
    )
    events_dispatch()  # the booked event's handler plans the reminders
    return appointment


def _due_moment(appointment, offset_minutes: int) -> datetime.datetime:
    return appointment.starts_at - datetime.timedelta(minutes=offset_minutes - 1)


def test_a_due_reminder_is_sent_once_with_the_appointment_details(booked, location):
    moment = _due_moment(booked, 1440)
    outcomes = reminders_send_due(now=moment)
    assert outcomes == {"sent": 1}
    reminder = booked.reminders.get(offset_minutes=1440)
    assert reminder.state == Reminder.State.SENT
    message = Message.objects.get(public_id=reminder.message_id)
    assert message.purpose == "appointment_reminder"
    assert message.dedupe_key == f"reminder:{reminder.public_id}"
    assert "at 10:00" in message.body
    assert location.name in message.body
    # Running again sends nothing new; the 2-hour one is not due yet.
    assert reminders_send_due(now=moment) == {}
    assert Message.objects.count() == 1


def test_a_reminder_far_too_late_is_withdrawn_not_sent(booked):
    outcomes = reminders_send_due(now=booked.starts_at - datetime.timedelta(minutes=30))
    assert outcomes == {"too_late": 2}
    assert not Message.objects.exists()


def test_moving_retimes_and_cancelling_withdraws_pending_reminders(employee, booked, at):
    moved = appointment_move(
        actor=employee, appointment=booked, starts_at=at(2, "15:00"), expected_version=1
    )
    events_dispatch()
    assert set(moved.reminders.values_list("send_at", flat=True)) == {
        at(2, "15:00") - datetime.timedelta(hours=24),
        at(2, "15:00") - datetime.timedelta(hours=2),
    }
    appointment_cancel(actor=employee, appointment=moved, reason="No longer needed")
    events_dispatch()
    assert set(moved.reminders.values_list("state", flat=True)) == {Reminder.State.WITHDRAWN}
    assert reminders_send_due(now=at(2, "14:00")) == {}
    assert not Message.objects.exists()


def test_a_refused_message_is_marked_skipped(employee, location, setup_type, tech, at):
    no_phone = PatientFactory(home_location=location, phone_mobile="")
    appt = appointment_book(
        actor=employee, patient=no_phone, type=setup_type, starts_at=at(0, "10:00"), technician=tech
    )
    events_dispatch()
    assert reminders_send_due(now=_due_moment(appt, 1440)) == {"no_number": 1}
    assert appt.reminders.get(offset_minutes=1440).state == Reminder.State.SKIPPED


def test_a_worker_dying_mid_send_leaves_nothing_sent_and_the_next_run_sends_once(
    booked, monkeypatch
):
    import scheduling.reminders.services as reminders

    real_send = reminders._send

    def send_then_die(reminder, now):
        real_send(reminder, now)  # the message row is written in this transaction...
        raise SystemExit("worker killed")  # ...and the process goes away before commit

    monkeypatch.setattr(reminders, "_send", send_then_die)
    moment = _due_moment(booked, 1440)
    with pytest.raises(SystemExit):
        reminders_send_due(now=moment)
    assert not Message.objects.exists()
    assert booked.reminders.get(offset_minutes=1440).state == Reminder.State.PENDING

    monkeypatch.setattr(reminders, "_send", real_send)
    assert reminders_send_due(now=moment) == {"sent": 1}
    assert reminders_send_due(now=moment) == {}
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_reminder_once(location, setup_type, tech, at):
    employee = staff_user(role=Role.EMPLOYEE, location=location)
    appointments = [
        appointment_book(
            actor=employee,
            patient=PatientFactory(home_location=location, phone_mobile=f"+186055501{n:02d}"),
            type=setup_type,
            starts_at=at(0, f"{9 + n}:00"),
            technician=tech,
        )
        for n in range(4)
    ]
    events_dispatch()
    moment = appointments[-1].starts_at - datetime.timedelta(hours=23)

    results, errors = race(lambda i: reminders_send_due(now=moment), n=4)

    assert not errors
    assert sum(r.get("sent", 0) for r in results) == 4
    assert Message.objects.count() == 4
    assert Reminder.objects.filter(state="SENT").count() == 4


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_on_a_real_worker_sends_a_due_reminder_once(
    location, setup_type, celery_worker
):
    from scheduling.tasks import reminders_send_due_task

    employee = staff_user(role=Role.EMPLOYEE, location=location)
    patient = PatientFactory(home_location=location, phone_mobile="+18605550188")
    # Booked a day and a bit ahead (a technician without scheduling hours, so the time of day
    # the test runs at does not matter); then the clock "reaches" the 24-hour reminder.
    start = (timezone.now() + datetime.timedelta(hours=25)).replace(second=0, microsecond=0)
    appt = appointment_book(
        actor=employee,
        patient=patient,
        type=setup_type,
        starts_at=start,
        technician=staff_user(role=Role.FIELD_TECHNICIAN, location=location),
    )
    # The worker dispatches the booked event after the commit; its handler plans the rows.
    reminder = wait_until(lambda: appt.reminders.filter(offset_minutes=1440).first())
    Reminder.objects.filter(pk=reminder.pk).update(send_at=timezone.now())

    reminders_send_due_task.delay()
    reminders_send_due_task.delay()  # beat fired twice (e.g. two beat processes)

    wait_until(lambda: Reminder.objects.get(pk=reminder.pk).state == Reminder.State.SENT)
    message = wait_until(
        lambda: Message.objects.filter(dedupe_key=f"reminder:{reminder.public_id}").first()
    )
    # comms delivers after commit through the development gateway, on the same worker.
    wait_until(lambda: Message.objects.get(pk=message.pk).status != "queued")
    assert Message.objects.filter(purpose="appointment_reminder").count() == 1
    connections.close_all()


def test_a_confirm_reply_confirms_the_reminded_appointment(booked, patient):
    from scheduling.reminders.handlers import reply_confirms

    reminders_send_due(now=_due_moment(booked, 1440))
    inbound = Message.objects.create(
        organization=patient.organization,
        patient=patient,
        channel="sms",
        direction="inbound",
        body=" confirm ",
        from_address=patient.phone_mobile,
    )
    with transaction.atomic():
        event = event_record(
            name="comms.sms_received",
            organization=patient.organization,
            payload={"message": str(inbound.public_id)},
        )
    event_dispatch(event_id=event.pk)
    booked.refresh_from_db()
    assert booked.confirmed_at is not None
    assert booked.version == 2
    assert OutboxEvent.objects.filter(name="appointment.state_changed").exists()
    assert reply_confirms("C") and reply_confirms("Confirm.") and not reply_confirms("Can't come")


def test_other_replies_confirm_nothing(booked, patient):
    reminders_send_due(now=_due_moment(booked, 1440))
    inbound = Message.objects.create(
        organization=patient.organization,
        patient=patient,
        channel="sms",
        direction="inbound",
        body="Can I come later?",
    )
    event = event_record(
        name="comms.sms_received",
        organization=patient.organization,
        payload={"message": str(inbound.public_id)},
    )
    event_dispatch(event_id=event.pk)
    booked.refresh_from_db()
    assert booked.confirmed_at is None
    # The positive control: the same path with a C confirms.
    inbound.body = "C"
    inbound.save(update_fields=["body"])
    again = event_record(
        name="comms.sms_received",
        organization=patient.organization,
        payload={"message": str(inbound.public_id)},
    )
    event_dispatch(event_id=again.pk)
    booked.refresh_from_db()
    assert booked.confirmed_at is not None


def test_a_burst_goes_out_in_batches_until_nothing_is_due(
    employee, location, setup_type, tech, at, monkeypatch
):
    # One reminder claimed per transaction: a run keeps claiming until nothing is due.
    monkeypatch.setattr("scheduling.reminders.services.CLAIM_BATCH", 1)
    booked = [
        appointment_book(
            actor=employee,
            patient=PatientFactory(home_location=location, phone_mobile=f"+1860555014{i}"),
            type=setup_type,
            starts_at=at(1, hhmm),
            technician=tech,
        )
        for i, hhmm in enumerate(["10:00", "12:00", "14:00"])
    ]
    events_dispatch()
    moment = _due_moment(booked[-1], 1440)
    assert reminders_send_due(now=moment, limit=1) == {"sent": 1}  # the limit holds
    assert reminders_send_due(now=moment) == {"sent": 2}  # two more claims in one run
    assert reminders_send_due(now=moment) == {}
    assert Message.objects.filter(purpose="appointment_reminder").count() == 3
    assert set(Reminder.objects.filter(offset_minutes=1440).values_list("state", flat=True)) == {
        Reminder.State.SENT
    }
