"""The notification centre's services: rows, stream versions and the outbox events they record."""

from __future__ import annotations

import pytest

from clinic.errors import ApplicationError, NotFound
from clinic.models import Notification, OutboxEvent, Role
from clinic.notifications.services import (
    notification_mark_read,
    notification_send,
    notifications_mark_all_read,
    notifications_snapshot,
    notifications_stream_key,
)
from clinic.realtime.services import stream_version
from clinic.tests.factories import LocationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_staff):
    return make_staff(role=Role.EMPLOYEE)


def version_of(user):
    return stream_version(notifications_stream_key(user.pk))


def send(user, title="Schedule changed", **kwargs):
    return notification_send(actor=None, recipient=user, kind="test", title=title, **kwargs)


def test_send_stores_the_notification_bumps_the_stream_and_records_its_message(staff):
    notification = send(staff, body="Your Tuesday route has a new stop.", url="/schedule")

    assert notification.recipient == staff
    assert notification.organization_id == staff.organization_id
    assert version_of(staff) == 1
    event = OutboxEvent.objects.get(name="notification.created")
    assert event.organization_id == staff.organization_id
    assert event.aggregate_id == str(notification.public_id)
    assert event.payload == {"recipient_id": staff.pk, "notification_id": notification.pk}
    [[group, message]] = event.realtime
    assert group == f"user.{staff.pk}"
    assert message == {
        "stream": "notifications",
        "type": "notification.created",
        "version": 1,
        "unread": 1,
        "notification": {
            "public_id": str(notification.public_id),
            "title": "Schedule changed",
            "body": "Your Tuesday route has a new stop.",
            "url": "/schedule",
            "created_at": notification.created_at.isoformat(),
            "read": False,
        },
    }


def test_each_send_moves_the_version_by_one(staff):
    send(staff)
    send(staff)
    send(staff)

    assert version_of(staff) == 3
    versions = [e.realtime[0][1]["version"] for e in OutboxEvent.objects.order_by("id")]
    assert versions == [1, 2, 3]


def test_an_actor_from_another_organization_cannot_notify(staff, make_staff):
    outsider = make_staff(location=LocationFactory())

    with pytest.raises(NotFound):
        notification_send(actor=outsider, recipient=staff, kind="test", title="Hello")

    assert not Notification.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert version_of(staff) == 0


@pytest.mark.parametrize("url", ["https://evil.example/", "//evil.example", "javascript:alert(1)"])
def test_a_link_outside_the_portal_is_refused(staff, url):
    with pytest.raises(ApplicationError):
        send(staff, url=url)

    assert not Notification.objects.exists()
    assert version_of(staff) == 0


def test_a_notification_without_a_title_is_refused(staff):
    with pytest.raises(ApplicationError):
        send(staff, title="   ")
    assert not Notification.objects.exists()


def test_an_inactive_user_gets_no_notifications(staff):
    staff.is_active = False
    staff.save()

    with pytest.raises(NotFound):
        send(staff)
    assert not Notification.objects.exists()


def test_mark_read_bumps_the_version_and_tells_other_tabs_the_count(staff):
    first, second = send(staff), send(staff)

    notification_mark_read(actor=staff, notification=first)

    first.refresh_from_db()
    assert first.read_at is not None
    assert version_of(staff) == 3
    message = OutboxEvent.objects.get(name="notification.read").realtime[0][1]
    assert message == {
        "stream": "notifications",
        "type": "notification.read",
        "version": 3,
        "unread": 1,
        "public_ids": [str(first.public_id)],
    }
    second.refresh_from_db()
    assert second.read_at is None


def test_marking_a_read_notification_again_changes_nothing(staff):
    notification = send(staff)
    notification_mark_read(actor=staff, notification=notification)
    read_at = Notification.objects.get(pk=notification.pk).read_at

    notification_mark_read(actor=staff, notification=notification)

    assert Notification.objects.get(pk=notification.pk).read_at == read_at
    assert version_of(staff) == 2
    assert OutboxEvent.objects.filter(name="notification.read").count() == 1


def test_nobody_can_mark_someone_elses_notification_read(staff, make_staff):
    colleague = make_staff(location=staff.memberships.get().location)
    notification = send(staff)

    with pytest.raises(NotFound):
        notification_mark_read(actor=colleague, notification=notification)

    assert Notification.objects.get(pk=notification.pk).read_at is None
    assert version_of(staff) == 1
    assert version_of(colleague) == 0
    assert not OutboxEvent.objects.filter(name="notification.read").exists()


def test_mark_all_read_marks_only_the_actors_own(staff, make_staff):
    colleague = make_staff(location=staff.memberships.get().location)
    send(staff), send(staff)
    theirs = send(colleague)

    assert notifications_mark_all_read(actor=staff) == 2

    assert not Notification.objects.filter(recipient=staff, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    message = OutboxEvent.objects.get(name="notifications.read_all").realtime[0][1]
    assert message["type"] == "notification.read"
    assert message["all"] is True
    assert message["unread"] == 0
    assert message["version"] == 3


def test_mark_all_read_with_nothing_unread_sends_nothing(staff):
    assert notifications_mark_all_read(actor=staff) == 0
    assert version_of(staff) == 0
    assert not OutboxEvent.objects.exists()


def test_snapshot_has_the_version_the_unread_count_and_the_latest_ten(staff):
    for n in range(12):
        send(staff, title=f"Update {n}")

    snapshot = notifications_snapshot(staff)

    assert snapshot["version"] == 12
    assert snapshot["unread"] == 12
    assert [i["title"] for i in snapshot["items"]] == [f"Update {n}" for n in range(11, 1, -1)]
