"""Change history: who changed which field when, with the actor taken from the request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.audit.history import HistoryContextMiddleware, history_context
from clinic.audit.selectors import history_for
from clinic.middleware import RequestIdMiddleware
from clinic.models import AuditEvent, Membership, Role
from clinic.tests.factories import LocationFactory, MembershipFactory


def _post_as(user, change):
    """Run ``change`` as the view of a POST by ``user``, through the real middleware chain
    (request id, then history context), as AuthenticationMiddleware would leave it."""

    def view(request: HttpRequest) -> HttpResponse:
        change()
        return HttpResponse("ok")

    request = RequestFactory().post("/users/x/membership?name=Jane+Doe")
    request.user = user
    return RequestIdMiddleware(HistoryContextMiddleware(view))(request)


@pytest.fixture
def admin(make_staff, location):
    return make_staff(role=Role.ADMIN, location=location, full_name="Ada Admin")


def test_role_change_records_who_changed_which_field_and_when(admin, location):
    membership = MembershipFactory.create(location=location, role=Role.EMPLOYEE)

    def change() -> None:
        membership.role = Role.CLINICIAN
        membership.save()

    response = _post_as(admin, change)

    history = history_for(membership)
    latest = history[0]
    assert latest.kind == "changed"
    assert latest.actor_id == admin.pk
    assert latest.actor_name == "Ada Admin"
    assert latest.request_id == response["X-Request-ID"]
    assert [(c.field, c.old, c.new) for c in latest.changes] == [
        ("role", "Office staff", "Clinician")
    ]
    assert latest.at is not None
    # The creation came first, made outside any request: no actor.
    assert history[-1].kind == "created"
    assert history[-1].actor_id is None
    assert {c.field for c in history[-1].changes} >= {"role", "user", "location"}


def test_history_context_never_stores_the_url(admin, location):
    membership = MembershipFactory.create(location=location, role=Role.EMPLOYEE)

    def change() -> None:
        membership.role = Role.SUPPORT
        membership.save()

    _post_as(admin, change)
    event = membership.events.order_by("-pgh_id").select_related("pgh_context").first()
    assert set(event.pgh_context.metadata) == {"user", "request_id", "origin"}
    assert "Jane" not in str(event.pgh_context.metadata)


def test_saving_without_changes_adds_no_history_entry(admin, location):
    membership = MembershipFactory.create(location=location, role=Role.EMPLOYEE)
    _post_as(admin, membership.save)  # only updated_at moves
    assert [e.kind for e in history_for(membership)] == ["created"]


def test_foreign_keys_show_the_related_rows_name(admin, location):
    membership = MembershipFactory.create(location=location, role=Role.EMPLOYEE)
    other = LocationFactory.create(organization=location.organization, name="North Lab")

    def change() -> None:
        membership.location = other
        membership.save()

    _post_as(admin, change)
    (change_,) = history_for(membership)[0].changes
    assert (change_.field, change_.old, change_.new) == ("location", location.name, "North Lab")


def test_changes_outside_requests_are_attributed_with_history_context(admin, location):
    membership = MembershipFactory.create(location=location, role=Role.EMPLOYEE)
    with history_context(actor=admin, origin="task"):
        Membership.objects.filter(pk=membership.pk).update(role=Role.ADMIN)
    latest = history_for(membership)[0]
    assert (latest.actor_id, latest.changes[0].new) == (admin.pk, "Administrator")


def test_model_tracked_only_on_some_changes_shows_the_recorded_snapshot(admin, make_staff):
    user = make_staff(role=Role.EMPLOYEE)

    def deactivate() -> None:
        user.is_active = False
        user.save()

    _post_as(admin, deactivate)
    (entry,) = history_for(user)
    assert entry.kind == "recorded" and entry.actor_id == admin.pk
    fields = {c.field: c for c in entry.changes}
    assert fields["is_active"].new == "No" and not fields["is_active"].old_known

    def reactivate() -> None:
        user.is_active = True
        user.save()

    _post_as(admin, reactivate)
    latest = history_for(user)[0]
    assert latest.kind == "changed"
    assert [(c.field, c.old, c.new) for c in latest.changes] == [("is_active", "No", "Yes")]


def test_history_costs_the_same_queries_for_short_and_long_histories(admin, location):
    short = MembershipFactory.create(location=location, role=Role.EMPLOYEE)
    long = MembershipFactory.create(location=location, role=Role.EMPLOYEE)
    roles = [Role.CLINICIAN, Role.SUPPORT, Role.EMPLOYEE] * 10
    for role in roles:
        _post_as(admin, lambda role=role: Membership.objects.filter(pk=long.pk).update(role=role))
    _post_as(admin, lambda: Membership.objects.filter(pk=short.pk).update(role=Role.SUPPORT))

    with CaptureQueriesContext(connection) as few:
        assert len(history_for(short)) == 2
    with CaptureQueriesContext(connection) as many:
        assert len(history_for(long)) == 31
    assert len(few) == len(many)
    assert len(history_for(long, limit=5)) == 5


def test_history_panel_renders_actor_field_and_values(admin, location):
    membership = MembershipFactory.create(location=location, role=Role.EMPLOYEE)

    def change() -> None:
        membership.role = Role.CLINICIAN
        membership.save()

    _post_as(admin, change)
    html = render_to_string(
        "clinic/audit/_history.html",
        {"history": history_for(membership), "tz": "America/New_York"},
    )
    assert "Ada Admin" in html
    assert "Role" in html and "Office staff" in html and "Clinician" in html
    assert (
        render_to_string("clinic/audit/_history.html", {"history": []}).count(
            "No changes recorded yet."
        )
        == 1
    )


def test_role_change_through_the_admin_screen_is_attributed_to_the_signed_in_admin(
    admin, signed_in, location
):
    membership = MembershipFactory.create(location=location, role=Role.EMPLOYEE)
    response = signed_in(admin).post(
        reverse("clinic:organization_membership_role", kwargs={"public_id": membership.public_id}),
        {"role": Role.CLINICIAN},
    )
    assert response.status_code == 302

    latest = history_for(membership)[0]
    assert (latest.kind, latest.actor_id) == ("changed", admin.pk)
    assert [(c.field, c.old, c.new) for c in latest.changes] == [
        ("role", "Office staff", "Clinician")
    ]
    # The history entry and the audit row of the same request share its id.
    audit = AuditEvent.objects.get(action="membership.role_changed", object_id=membership.public_id)
    assert latest.request_id == audit.request_id != ""


def test_a_model_without_change_tracking_has_an_empty_history(location):
    assert history_for(location) == []
