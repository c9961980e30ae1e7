"""The transactional outbox against the real broker, a real Celery worker and PostgreSQL.

The effect counted in these tests is real: a handler registered here turns each
``test.outbox.greet`` event into a notification for the user named in the payload.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from clinic.events.services import (
    EventDispatchError,
    event_apply_handler,
    event_dispatch,
    event_handler,
    event_record,
    events_due_for_sweep,
    events_sweep,
    handlers_for,
)
from clinic.events.tasks import outbox_dispatch
from clinic.models import EventHandled, Notification, OutboxEvent, Role, User
from clinic.notifications.services import notification_send
from clinic.tests.conftest import queued_messages, wait_until

GREETING = "Welcome to the team"
_flaky_failures_left = {"count": 0}


@event_handler("test.outbox.greet")
def greet(event: OutboxEvent) -> None:
    recipient = User.objects.get(pk=event.payload["user_id"])
    notification_send(actor=None, recipient=recipient, kind="test.greet", title=GREETING)


@event_handler("test.outbox.flaky")
def flaky(event: OutboxEvent) -> None:
    """Fails with a transient error while the counter lasts, then does its work."""
    if _flaky_failures_left["count"] > 0:
        _flaky_failures_left["count"] -= 1
        raise ConnectionError("redis restarting")
    greet(event)


@event_handler("test.outbox.broken")
def broken(event: OutboxEvent) -> None:
    raise ValueError("a bug, with words that could be PHI")


@transaction.atomic
def greeting_request(
    *, actor: User, recipient: User, name: str = "test.outbox.greet"
) -> OutboxEvent:
    """Stands in for any service: it records its event inside its own transaction."""
    return event_record(
        name=name,
        organization=recipient.organization,
        aggregate=recipient,
        payload={"user_id": recipient.pk},
    )


def greetings(user: User) -> int:
    return Notification.objects.filter(recipient=user, kind="test.greet").count()


def all_dispatched() -> bool:
    return not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def refreshed(event: OutboxEvent) -> OutboxEvent:
    return OutboxEvent.objects.get(pk=event.pk)


@pytest.fixture
def staff(make_staff):
    return make_staff(role=Role.EMPLOYEE)


# ---------------------------------------------------------------- the happy path


@pytest.mark.django_db(transaction=True)
def test_event_committed_with_a_service_is_handled_once_by_the_worker(staff, celery_worker):
    event = greeting_request(actor=staff, recipient=staff)

    wait_until(lambda: refreshed(event).dispatched_at)
    event = refreshed(event)
    assert event.attempts == 1
    assert event.last_error == ""
    assert greetings(staff) == 1
    assert list(EventHandled.objects.filter(event=event).values_list("handler", flat=True)) == [
        f"{__name__}.greet"
    ]


@pytest.mark.django_db(transaction=True)
def test_event_of_a_rolled_back_transaction_is_never_recorded_or_sent(staff, celery_queue):
    with pytest.raises(RuntimeError), transaction.atomic():
        greeting_request(actor=staff, recipient=staff)
        raise RuntimeError("the service failed after recording its event")

    assert not OutboxEvent.objects.exists()
    assert queued_messages(celery_queue) == 0


# ---------------------------------------------------------------- (a) broker down at commit


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_commit_the_call_succeeds_and_the_sweep_delivers_once(
    staff, celery_queue, unreachable_broker, start_celery_worker, caplog
):
    with unreachable_broker():
        event = greeting_request(actor=staff, recipient=staff)
        notification = notification_send(
            actor=staff, recipient=staff, kind="test", title="Broker is down"
        )

    # Both service calls succeeded; their events wait, nothing reached the broker.
    assert Notification.objects.filter(pk=notification.pk).exists()
    pending = OutboxEvent.objects.filter(dispatched_at__isnull=True)
    assert set(pending.values_list("name", flat=True)) == {
        "test.outbox.greet",
        "notification.created",
    }
    assert queued_messages(celery_queue) == 0
    assert "could not enqueue" in caplog.text
    assert "Broker is down" not in caplog.text  # the log names ids, never content

    # The broker is back: the sweep re-sends, the worker handles each event once.
    with start_celery_worker():
        assert events_sweep(after=timedelta(0)) == 2
        wait_until(all_dispatched)
        assert events_sweep(after=timedelta(0)) == 0

    assert greetings(staff) == 1
    assert refreshed(event).attempts == 1
    assert EventHandled.objects.filter(event=event).count() == 1


# ---------------------------------------------------------------- (b) worker down at commit


@pytest.mark.django_db(transaction=True)
def test_worker_down_at_commit_the_event_waits_in_redis_and_is_handled_once(
    staff, celery_queue, start_celery_worker
):
    event = greeting_request(actor=staff, recipient=staff)

    assert refreshed(event).dispatched_at is None
    assert queued_messages(celery_queue) == 1
    assert greetings(staff) == 0

    with start_celery_worker():
        # The handler's own notification records one more event; wait for both.
        wait_until(all_dispatched)
        # The sweep and a repeated dispatch (e.g. a redelivered message) change nothing.
        assert events_sweep(after=timedelta(0)) == 0
        assert outbox_dispatch.apply(args=(event.pk,)).get() is False

    assert greetings(staff) == 1
    assert EventHandled.objects.filter(event=event).count() == 1
    assert refreshed(event).attempts == 1


@pytest.mark.django_db(transaction=True)
def test_an_event_dispatched_again_after_losing_its_stamp_runs_no_handler_twice(
    staff, celery_worker
):
    event = greeting_request(actor=staff, recipient=staff)
    wait_until(all_dispatched)

    # As if the stamp had been lost: the ledger still stops the handler from running again.
    OutboxEvent.objects.filter(pk=event.pk).update(dispatched_at=None)
    assert events_sweep(after=timedelta(0)) == 1
    wait_until(lambda: refreshed(event).dispatched_at)

    assert greetings(staff) == 1
    assert EventHandled.objects.filter(event=event).count() == 1
    assert refreshed(event).attempts == 2


# ---------------------------------------------------------------- (c) idempotent handlers


@pytest.mark.django_db
def test_a_handler_run_twice_has_one_effect(staff):
    event = greeting_request(actor=staff, recipient=staff)
    (handler,) = handlers_for("test.outbox.greet")

    assert event_apply_handler(event=event, handler=handler) is True
    assert event_apply_handler(event=event, handler=handler) is False

    assert greetings(staff) == 1
    assert EventHandled.objects.filter(event=event, handler=handler.key).count() == 1


@pytest.mark.django_db
def test_dispatching_a_dispatched_event_does_nothing(staff):
    event = greeting_request(actor=staff, recipient=staff)

    assert event_dispatch(event_id=event.pk) is True
    assert event_dispatch(event_id=event.pk) is False

    assert greetings(staff) == 1
    assert refreshed(event).attempts == 1


# ---------------------------------------------------------------- failures and retries


@pytest.mark.django_db
def test_a_failing_handler_is_recorded_without_its_message_and_the_event_stays_pending(staff):
    event = greeting_request(actor=staff, recipient=staff, name="test.outbox.broken")

    with pytest.raises(EventDispatchError):
        event_dispatch(event_id=event.pk)

    event = refreshed(event)
    assert event.dispatched_at is None
    assert event.attempts == 1
    assert event.last_error == f"{__name__}.broken: ValueError"
    assert not EventHandled.objects.filter(event=event).exists()


@pytest.mark.django_db(transaction=True)
def test_a_transient_handler_error_is_retried_by_the_worker_until_it_succeeds(staff, celery_worker):
    _flaky_failures_left["count"] = 1
    event = greeting_request(actor=staff, recipient=staff, name="test.outbox.flaky")

    wait_until(lambda: refreshed(event).dispatched_at)

    event = refreshed(event)
    assert event.attempts == 2
    assert event.last_error == ""
    assert greetings(staff) == 1


@pytest.mark.django_db
def test_the_sweep_waits_longer_after_each_failed_attempt(staff):
    fresh = greeting_request(actor=staff, recipient=staff)
    old = greeting_request(actor=staff, recipient=staff)
    failing = greeting_request(actor=staff, recipient=staff)
    done = greeting_request(actor=staff, recipient=staff)
    a_minute_ago = timezone.now() - timedelta(seconds=60)
    OutboxEvent.objects.filter(pk__in=[old.pk, failing.pk, done.pk]).update(created_at=a_minute_ago)
    OutboxEvent.objects.filter(pk=failing.pk).update(attempts=3)  # next try after 80 s
    OutboxEvent.objects.filter(pk=done.pk).update(dispatched_at=timezone.now())

    assert events_due_for_sweep() == [old.pk]
    assert fresh.pk not in events_due_for_sweep()


@pytest.mark.django_db
def test_event_payload_refuses_anything_but_ids(staff):
    with pytest.raises(ValueError):
        event_record(
            name="test.outbox.greet",
            organization=staff.organization,
            payload={"note": "Patient reports chest pain after using the new mask at night"},
        )
    with pytest.raises(TypeError):
        event_record(
            name="test.outbox.greet", organization=staff.organization, payload={"user": staff}
        )
    with pytest.raises(ValueError):
        event_record(
            name="test.outbox.greet",
            organization=staff.organization,
            realtime=[("user.Jane Doe", {"type": "x"})],
        )
    assert not OutboxEvent.objects.exists()
