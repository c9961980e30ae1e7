"""The clinic core's API: who am I, my locations, my notifications; scoped and validated."""

from __future__ import annotations

import uuid

from django.test import Client

from clinic.models import Notification, Role
from clinic.notifications.services import notification_send
from clinic.tests.factories import LocationFactory


def test_me_lists_the_users_roles_per_location(make_staff, signed_in):
    user = make_staff(role=Role.CLINICIAN)
    body = signed_in(user).get("/api/me").json()
    assert body["email"] == user.email
    assert body["organization"]["public_id"] == str(user.organization.public_id)
    assert [m["role"] for m in body["memberships"]] == ["CLINICIAN"]
    assert "id" not in body and "pk" not in body


def test_locations_are_only_the_users_own(make_staff, signed_in):
    user = make_staff(role=Role.EMPLOYEE)
    LocationFactory(organization=user.organization, name="Not mine")
    LocationFactory(name="Another organization")
    names = [loc["name"] for loc in signed_in(user).get("/api/locations").json()]
    assert names == [user.memberships.get().location.name]


def test_an_admin_sees_every_location_of_the_organization_only(make_staff, signed_in):
    admin = make_staff(role=Role.ADMIN)
    LocationFactory(organization=admin.organization, name="Second site")
    LocationFactory(name="Another organization")
    names = {loc["name"] for loc in signed_in(admin).get("/api/locations").json()}
    assert "Second site" in names and "Another organization" not in names


def test_notifications_page_by_public_id(make_staff, signed_in):
    user = make_staff()
    for n in range(30):
        notification_send(actor=None, recipient=user, kind="test", title=f"Item {n}")
    client = signed_in(user)
    first = client.get("/api/notifications").json()
    assert len(first["results"]) == 25 and first["results"][0]["title"] == "Item 29"
    second = client.get(f"/api/notifications?before={first['next_before']}").json()
    assert [r["title"] for r in second["results"]] == [f"Item {n}" for n in range(4, -1, -1)]
    assert second["next_before"] is None


def test_bad_page_parameter_gets_a_clear_message(make_staff, signed_in):
    response = signed_in(make_staff()).get("/api/notifications?before=not-a-uuid")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["before"]


def test_marking_someone_elses_notification_is_404_and_changes_nothing(make_staff, signed_in):
    owner = make_staff()
    intruder = make_staff(location=owner.memberships.get().location)
    notification = notification_send(actor=None, recipient=owner, kind="test", title="Mine")
    response = signed_in(intruder).post(f"/api/notifications/{notification.public_id}/read")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    notification.refresh_from_db()
    assert notification.read_at is None
    unknown = signed_in(intruder).post(f"/api/notifications/{uuid.uuid4()}/read")
    assert unknown.status_code == 404


def test_mark_read_marks_your_own(make_staff, signed_in):
    user = make_staff()
    notification = notification_send(actor=None, recipient=user, kind="test", title="Mine")
    response = signed_in(user).post(f"/api/notifications/{notification.public_id}/read")
    assert response.status_code == 200 and response.json()["read_at"]
    assert Notification.objects.get(pk=notification.pk).read_at is not None


def test_the_api_refuses_anonymous_and_password_only_sessions(make_staff, db):
    user = make_staff()
    assert Client().get("/api/me").status_code == 403
    password_only = Client()
    password_only.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = password_only.get("/api/me")
    assert response.status_code in (401, 403)
    assert "email" not in response.json()


def test_api_post_without_csrf_token_is_refused(make_staff, db):
    from conftest import sign_in

    user = make_staff()
    notification = notification_send(actor=None, recipient=user, kind="test", title="Mine")
    client = sign_in(Client(enforce_csrf_checks=True), user)
    response = client.post(f"/api/notifications/{notification.public_id}/read")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    notification.refresh_from_db()
    assert notification.read_at is None


def test_the_schema_is_for_signed_in_staff_only(make_staff, signed_in):
    assert Client().get("/api/schema/").status_code == 403
    schema = signed_in(make_staff()).get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/notifications/{public_id}/read" in schema.content
