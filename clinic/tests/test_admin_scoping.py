"""The Django admin: organization ADMINs only, behind OTP, every changelist scoped to their
organization, another organization's objects answer 404."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.audit.services import audit_record
from clinic.models import (
    AuditEvent,
    EventHandled,
    Location,
    Membership,
    Notification,
    Organization,
    OutboxEvent,
    Role,
    User,
)
from clinic.tests.factories import LocationFactory, UserFactory, staff_user

THEIR_MARKERS = [
    "Their Secret Site",
    "Theo Theirs",
    "theo.theirs@example.test",
    "their.event",
    "Their notice",
    "test.marker.theirs",
    "Their phone",
    "Their backup codes",
]


def _rows_for(location: Location, who: User, tag: str, *, name: str, title: str, device: str):
    audit_record(actor=who, action=f"test.marker.{tag}", obj=location)
    Notification.objects.create(
        organization=location.organization, recipient=who, kind="t", title=title
    )
    event = OutboxEvent.objects.create(organization=location.organization, name=name)
    EventHandled.objects.create(event=event, handler=f"{tag}.handler")
    TOTPDevice.objects.create(user=who, name=device, confirmed=True)
    StaticDevice.objects.create(user=who, name=f"{device.split()[0]} backup codes")
    who.email = who.email.replace("@", ".changed@")  # a row in the user access history
    who.save()
    who.email = who.email.replace(".changed@", "@")
    who.save()


@pytest.fixture
def world(db):
    ours = LocationFactory(name="Our Clinic Site")
    admin_user = staff_user(role=Role.ADMIN, location=ours, full_name="Ada Ouradmin")
    employee = staff_user(role=Role.EMPLOYEE, location=ours, full_name="Olive Ours")
    _rows_for(ours, employee, "ours", name="our.event", title="Our notice", device="Our phone")

    theirs = LocationFactory(name="Their Secret Site")
    them = staff_user(
        role=Role.EMPLOYEE,
        location=theirs,
        full_name="Theo Theirs",
        email="theo.theirs@example.test",
    )
    _rows_for(
        theirs, them, "theirs", name="their.event", title="Their notice", device="Their phone"
    )
    return {"ours": ours, "admin": admin_user, "employee": employee, "theirs": theirs, "them": them}


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_org_admin_sees_only_their_organization_in_every_changelist(world, signed_in):
    client = signed_in(world["admin"])
    visible = 0
    for model in admin.site._registry:
        response = client.get(_changelist(model))
        body = response.content.decode()
        assert response.status_code in (200, 403), (model, response.status_code)
        leaked = [m for m in THEIR_MARKERS if m in body]
        assert not leaked, f"{model._meta.label} changelist shows {leaked}"
        visible += response.status_code == 200
    assert visible >= 10


@pytest.mark.parametrize(
    ("model", "our_marker"),
    [
        (Location, "Our Clinic Site"),
        (User, "Olive Ours"),
        (Membership, "Olive Ours"),
        (Notification, "Our notice"),
        (AuditEvent, "test.marker.ours"),
        (OutboxEvent, "our.event"),
        (EventHandled, "ours.handler"),
        (TOTPDevice, "Our phone"),
        (StaticDevice, "Our backup codes"),
    ],
)
def test_org_admin_sees_their_own_rows(world, signed_in, model, our_marker):
    body = signed_in(world["admin"]).get(_changelist(model)).content.decode()
    assert our_marker in body


def _their_objects(world) -> list:
    them, theirs = world["them"], world["theirs"]
    membership_event = apps.get_model("clinic", "MembershipEvent")
    access_event = apps.get_model("clinic", "UserAccessEvent")
    return [
        theirs.organization,
        theirs,
        them,
        them.memberships.get(),
        Notification.objects.get(recipient=them),
        AuditEvent.objects.get(action="test.marker.theirs"),
        OutboxEvent.objects.get(name="their.event"),
        EventHandled.objects.get(handler="theirs.handler"),
        TOTPDevice.objects.get(user=them),
        StaticDevice.objects.get(user=them),
        membership_event.objects.filter(location=theirs).first(),
        access_event.objects.filter(pgh_obj=them).first(),
    ]


def test_another_organizations_objects_are_404_in_the_admin(world, signed_in):
    client = signed_in(world["admin"])
    before = {(type(o), o.pk): repr(o.__dict__.get("name") or o.pk) for o in _their_objects(world)}
    for obj in _their_objects(world):
        assert obj is not None
        info = f"admin:{obj._meta.app_label}_{obj._meta.model_name}"
        for view in ("change", "delete", "history"):
            try:
                url = reverse(f"{info}_{view}", args=[obj.pk])
            except NoReverseMatch:
                continue
            for method in ("get", "post"):
                status = getattr(client, method)(url).status_code
                assert status == 404, f"{method.upper()} {url} -> {status}"
    after = {(type(o), o.pk): repr(o.__dict__.get("name") or o.pk) for o in _their_objects(world)}
    assert after == before


def test_totp_secrets_and_qr_codes_are_not_for_org_admins(world, signed_in):
    client = signed_in(world["admin"])
    ours = TOTPDevice.objects.get(user=world["employee"])
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[ours.pk])).content.decode()
    assert ours.key not in page
    assert client.get(f"/admin/otp_totp/totpdevice/{ours.pk}/config/").status_code == 404
    assert client.get(f"/admin/otp_totp/totpdevice/{ours.pk}/qrcode/").status_code == 404


def test_org_admin_may_delete_a_lost_authenticator_and_it_is_audited(world, signed_in):
    client = signed_in(world["admin"])
    device = TOTPDevice.objects.get(user=world["employee"])
    response = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(action="admin.authenticator_deleted")
    assert event.object_id == str(world["employee"].public_id)


@pytest.mark.parametrize(
    "role", [Role.EMPLOYEE, Role.FIELD_TECHNICIAN, Role.CLINICIAN, Role.SUPPORT]
)
def test_staff_who_are_not_admins_cannot_reach_the_admin(world, signed_in, role):
    client = signed_in(staff_user(role=role, location=world["ours"]))
    for url in ("/admin/", _changelist(Location), _changelist(AuditEvent)):
        response = client.get(url)
        assert response.status_code in (302, 403, 404), url
        assert "Our Clinic Site" not in response.content.decode()


def test_admin_without_otp_is_sent_to_sign_in(world, client):
    client.force_login(world["admin"], backend="django.contrib.auth.backends.ModelBackend")
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_audit_events_cannot_be_added_changed_or_deleted_in_the_admin(world, signed_in):
    superuser = UserFactory(organization=None, is_superuser=True)
    for user in (world["admin"], superuser):
        client = signed_in(user)
        event = AuditEvent.objects.get(action="test.marker.ours")
        assert client.get(reverse("admin:clinic_auditevent_add")).status_code == 403
        change = reverse("admin:clinic_auditevent_change", args=[event.pk])
        page = client.get(change)
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
        assert client.post(change, {"action": "tampered"}).status_code == 403
        delete = reverse("admin:clinic_auditevent_delete", args=[event.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        event.refresh_from_db()
        assert event.action == "test.marker.ours"


def test_lockout_records_are_for_superusers_only(world, signed_in):
    org_admin = signed_in(world["admin"])
    index = org_admin.get("/admin/").content.decode()
    assert "Access attempts" not in index
    assert "Groups" not in index
    assert org_admin.get("/admin/axes/accessattempt/").status_code == 403
    superuser = signed_in(UserFactory(organization=None, is_superuser=True))
    assert superuser.get("/admin/axes/accessattempt/").status_code == 200
    assert "Their Secret Site" in superuser.get(_changelist(Location)).content.decode()


def test_foreign_key_choices_are_limited_to_the_organization(world):
    request = RequestFactory().get("/admin/")
    request.user = world["admin"]
    request.user.is_verified = lambda: True  # what django-otp's middleware sets after the code
    membership_admin = admin.site._registry[Membership]
    location_field = membership_admin.formfield_for_foreignkey(
        Membership._meta.get_field("location"), request
    )
    user_field = membership_admin.formfield_for_foreignkey(
        Membership._meta.get_field("user"), request
    )
    assert list(location_field.queryset) == [world["ours"]]
    assert world["them"] not in user_field.queryset
    assert world["employee"] in user_field.queryset


def test_related_filters_offer_only_the_organizations_values(world, signed_in):
    body = signed_in(world["admin"]).get(_changelist(Membership)).content.decode()
    assert "Our Clinic Site" in body
    assert "Their Secret Site" not in body


def test_org_admin_cannot_make_anyone_a_superuser_or_edit_access_in_the_admin(world, signed_in):
    client = signed_in(world["admin"])
    url = reverse("admin:clinic_user_change", args=[world["employee"].pk])
    page = client.get(url).content.decode()
    assert "is_superuser" not in page
    assert client.post(url, {"is_superuser": "on", "full_name": "X"}).status_code == 403
    world["employee"].refresh_from_db()
    assert not world["employee"].is_superuser
    assert world["employee"].full_name == "Olive Ours"


def test_org_admin_edits_their_organization_and_the_change_is_audited(world, signed_in):
    org = world["ours"].organization
    client = signed_in(world["admin"])
    url = reverse("admin:clinic_organization_change", args=[org.pk])
    response = client.post(url, {"name": "Renamed Health", "timezone": "America/Chicago"})
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.name == "Renamed Health"
    event = AuditEvent.objects.get(action="admin.changed")
    assert sorted(event.details["fields"]) == ["name", "timezone"]
    assert event.organization_id == org.pk
    assert Organization.objects.get(pk=world["theirs"].organization_id).name != "Renamed Health"
