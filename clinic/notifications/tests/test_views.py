"""The notification centre's pages: scoped to the recipient, paged by keyset, htmx partials."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.models import Notification, OutboxEvent, Role
from clinic.notifications.services import notification_send

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def staff(make_staff):
    return make_staff(role=Role.EMPLOYEE)


@pytest.fixture
def client_of(signed_in):
    return signed_in


def send(user, title="Route updated", **kwargs):
    return notification_send(actor=None, recipient=user, kind="test", title=title, **kwargs)


def test_the_bell_is_in_the_header_of_every_portal_page(staff, client_of):
    html = client_of(staff).get("/").content.decode()

    assert 'id="bell-count"' in html
    assert 'id="bell-panel"' in html
    assert "Turn on desktop alerts" in html


def test_the_list_shows_my_notifications_and_not_a_colleagues(staff, make_staff, client_of):
    colleague = make_staff(location=staff.memberships.get().location)
    send(staff, title="Mine")
    send(colleague, title="Theirs")

    html = client_of(staff).get("/notifications").content.decode()

    assert "Mine" in html
    assert "Theirs" not in html
    assert "1 unread" in html


def test_signed_out_visitors_are_sent_to_sign_in(client, staff):
    send(staff)
    response = client.get("/notifications")

    assert response.status_code == 302
    assert "Route updated" not in response.content.decode()
    assert client.get("/notifications/snapshot").status_code in {302, 401}


def test_mark_read_marks_my_notification(staff, client_of):
    notification = send(staff)

    response = client_of(staff).post(f"/notifications/{notification.public_id}/read")

    assert response.status_code == 302
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_read_over_htmx_returns_the_updated_row(staff, client_of):
    notification = send(staff, title="Delivery signed")

    response = client_of(staff).post(f"/notifications/{notification.public_id}/read", **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith("<li")
    assert "Delivery signed" in html
    assert "is-unread" not in html


def test_opening_a_notification_marks_it_read_and_follows_its_link(staff, client_of):
    notification = send(staff, url="/notifications?from=test")

    response = client_of(staff).post(f"/notifications/{notification.public_id}/read", {"open": "1"})

    assert response.status_code == 302
    assert response["Location"] == "/notifications?from=test"


def test_someone_elses_notification_is_not_found_and_stays_unread(staff, make_staff, client_of):
    colleague = make_staff(location=staff.memberships.get().location)
    theirs = send(colleague)
    events_before = OutboxEvent.objects.count()

    response = client_of(staff).post(f"/notifications/{theirs.public_id}/read")

    assert response.status_code == 404
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert OutboxEvent.objects.count() == events_before


def test_an_unknown_notification_is_not_found(staff, client_of):
    response = client_of(staff).post(f"/notifications/{uuid.uuid4()}/read")
    assert response.status_code == 404


def test_mark_all_read(staff, client_of):
    send(staff), send(staff)

    response = client_of(staff).post("/notifications/read-all")

    assert response.status_code == 302
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_mark_read_needs_a_post(staff, client_of):
    notification = send(staff)

    response = client_of(staff).get(f"/notifications/{notification.public_id}/read")

    assert response.status_code == 405
    assert Notification.objects.get(pk=notification.pk).read_at is None


def test_pages_are_keyset_paged_newest_first(staff, client_of):
    sent = [send(staff, title=f"Note {n:02d}") for n in range(30)]
    client = client_of(staff)

    first = client.get("/notifications").content.decode()
    assert "Note 29" in first and "Note 05" in first
    assert "Note 04" not in first
    assert f"before={sent[5].public_id}" in first

    older = client.get(f"/notifications?before={sent[5].public_id}", **HTMX).content.decode()
    assert [f"Note {n:02d}" in older for n in range(5)] == [True] * 5
    assert "Note 05" not in older
    assert "Show older" not in older
    assert "<h1" not in older  # just the rows, appended by htmx


@pytest.mark.parametrize("before", ["not-a-uuid", str(uuid.uuid4())], ids=["not-a-uuid", "unknown"])
def test_a_bad_page_cursor_is_not_found(staff, client_of, before):
    assert client_of(staff).get(f"/notifications?before={before}").status_code == 404


def test_a_colleagues_notification_is_no_cursor_into_their_list(staff, make_staff, client_of):
    colleague = make_staff(location=staff.memberships.get().location)
    theirs = send(colleague)
    assert client_of(staff).get(f"/notifications?before={theirs.public_id}").status_code == 404


def test_the_list_takes_the_same_number_of_queries_however_many_rows(staff, client_of):
    client = client_of(staff)
    send(staff)
    client.get("/notifications")  # warm up: session and user caches

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/notifications").status_code == 200
        return len(captured)

    few = queries()
    for n in range(40):
        send(staff, title=f"More {n}")
    assert queries() == few


def test_snapshot_json_is_the_stream_state(staff, client_of):
    send(staff, title="One")
    send(staff, title="Two")

    body = client_of(staff).get("/notifications/snapshot").json()

    assert body["stream"] == "notifications"
    assert body["version"] == 2
    assert body["unread"] == 2
    assert [i["title"] for i in body["items"]] == ["Two", "One"]


def test_test_notification_goes_to_myself(staff, make_staff, client_of):
    colleague = make_staff(location=staff.memberships.get().location)

    response = client_of(staff).post("/notifications/test")

    assert response.status_code == 302
    notification = Notification.objects.get()
    assert notification.recipient == staff
    assert notification.title == "Test notification"
    assert not Notification.objects.filter(recipient=colleague).exists()


def test_test_notification_needs_csrf(staff, signed_in):
    from django.test import Client

    from conftest import sign_in

    client = sign_in(Client(enforce_csrf_checks=True), staff)
    response = client.post("/notifications/test")

    assert response.status_code == 403
    assert not Notification.objects.exists()
