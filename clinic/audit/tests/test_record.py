"""audit_record and audit_access: ids and request facts, never free text."""

from __future__ import annotations

import uuid

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from clinic.audit.services import audit_access, audit_record
from clinic.middleware import RequestIdMiddleware
from clinic.models import AuditEvent, Role


def _through_request(fn, **meta):
    """Run ``fn`` inside the real request-context middleware, as a view would."""
    result = {}

    def view(request: HttpRequest) -> HttpResponse:
        result["value"] = fn()
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/anything", **meta))
    return result["value"], response


def test_audit_record_stores_ids_request_id_ip_and_user_agent(make_staff, location):
    actor = make_staff(role=Role.ADMIN, location=location)
    row, response = _through_request(
        lambda: audit_record(
            actor=actor, action="location.updated", obj=location, details={"fields": ["name"]}
        ),
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="Mozilla/5.0 (test)",
    )
    row = AuditEvent.objects.get(pk=row.pk)
    assert row.actor_id == actor.pk
    assert row.organization_id == location.organization_id
    assert row.location_id == location.pk
    assert row.object_type == "clinic.location"
    assert row.object_id == str(location.public_id)
    assert row.request_id == response["X-Request-ID"] and len(row.request_id) >= 16
    assert row.ip == "203.0.113.7"
    assert row.user_agent == "Mozilla/5.0 (test)"
    assert row.details == {"fields": ["name"]}


def test_audit_record_keeps_a_sane_request_id_from_the_proxy(db):
    row, _ = _through_request(
        lambda: audit_record(actor=None, action="test.recorded"),
        HTTP_X_REQUEST_ID="abc-123",
    )
    assert AuditEvent.objects.get(pk=row.pk).request_id == "abc-123"


@pytest.mark.parametrize(
    "details",
    [
        {"note": {"nested": "dict"}},
        {"when": object()},
        {"note": "x" * 101},
        {"reasons": ["ok", "y" * 101]},
    ],
    ids=["dict", "object", "long-string", "long-string-in-list"],
)
def test_audit_record_refuses_free_text_and_non_plain_details(db, details):
    before = AuditEvent.objects.count()
    with pytest.raises((TypeError, ValueError)):
        audit_record(actor=None, action="test.recorded", details=details)
    assert AuditEvent.objects.count() == before


def test_audit_record_turns_uuids_into_strings(db):
    value = uuid.uuid4()
    row = audit_record(actor=None, action="test.recorded", details={"ref": value})
    assert AuditEvent.objects.get(pk=row.pk).details == {"ref": str(value)}


def test_audit_access_names_the_object_by_its_public_id(make_staff, location):
    actor = make_staff(role=Role.EMPLOYEE, location=location)
    row = audit_access(actor=actor, obj=location, action="location.viewed")
    row = AuditEvent.objects.get(pk=row.pk)
    assert (row.action, row.object_type, row.object_id) == (
        "location.viewed",
        "clinic.location",
        str(location.public_id),
    )
    assert row.actor_id == actor.pk
    assert row.organization_id == location.organization_id


@pytest.mark.parametrize("action", ["viewed", "Patient.Viewed", "patient viewed", ""])
def test_audit_access_refuses_actions_that_are_not_codes(make_staff, location, action):
    actor = make_staff(role=Role.EMPLOYEE, location=location)
    before = AuditEvent.objects.count()
    with pytest.raises(ValueError):
        audit_access(actor=actor, obj=location, action=action)
    assert AuditEvent.objects.count() == before


def test_audit_access_refuses_objects_without_a_public_id(make_staff, location):
    actor = make_staff(role=Role.EMPLOYEE, location=location)
    event = audit_record(actor=actor, action="test.recorded")
    before = AuditEvent.objects.count()
    with pytest.raises(ValueError):
        audit_access(actor=actor, obj=event, action="audit.viewed")
    assert AuditEvent.objects.count() == before
