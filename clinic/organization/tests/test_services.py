"""Services behind the organization screens: users, memberships, locations."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from clinic.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from clinic.models import AuditEvent, Location, Membership, Role, User
from clinic.organization import services
from clinic.realtime.services import user_group
from clinic.tests.factories import LocationFactory, MembershipFactory, staff_user

STRONG = "quiet-harbor-lantern-93"


@pytest.fixture
def admin(location):
    return staff_user(role=Role.ADMIN, location=location, full_name="Ada Admin")


def _audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def test_user_create_makes_a_member_who_can_sign_in_and_audits_it(admin, location):
    user = services.user_create(
        actor=admin,
        email=" New.Person@Example.test ",
        full_name="New Person",
        password=STRONG,
        location=location,
        role=Role.FIELD_TECHNICIAN,
    )
    assert user.email == "new.person@example.test"
    assert user.organization_id == admin.organization_id
    assert list(user.memberships.values_list("location_id", "role")) == [
        (location.pk, Role.FIELD_TECHNICIAN)
    ]
    assert user.check_password(STRONG)
    created = _audit("user.created")
    assert [(e.actor_id, e.object_id) for e in created] == [(admin.pk, str(user.public_id))]
    added = _audit("membership.added")[0]
    assert added.details == {"user": str(user.public_id), "role": Role.FIELD_TECHNICIAN}
    assert added.location_id == location.pk


def test_duplicate_email_is_refused_whatever_the_case(admin, location):
    staff_user(location=LocationFactory(), email="taken@example.test")
    with pytest.raises(Conflict) as exc:
        services.user_create(
            actor=admin,
            email="TAKEN@example.test",
            full_name="Someone Else",
            password=STRONG,
            location=location,
            role=Role.EMPLOYEE,
        )
    assert exc.value.extra["field"] == "email"
    assert User.objects.filter(email__iexact="taken@example.test").count() == 1
    assert not _audit("user.created")


@pytest.mark.parametrize("password", ["short-pw", "password1234", "casey.morgan@example.test"])
def test_weak_initial_password_is_refused(admin, location, password):
    with pytest.raises(ApplicationError) as exc:
        services.user_create(
            actor=admin,
            email="casey.morgan@example.test",
            full_name="Casey Morgan",
            password=password,
            location=location,
            role=Role.EMPLOYEE,
        )
    assert exc.value.code == "password_invalid"
    assert not User.objects.filter(email="casey.morgan@example.test").exists()


def test_non_admin_cannot_create_users(make_staff, location):
    employee = make_staff(role=Role.EMPLOYEE, location=location)
    with pytest.raises(PermissionDenied):
        services.user_create(
            actor=employee,
            email="x@example.test",
            full_name="X Person",
            password=STRONG,
            location=location,
            role=Role.ADMIN,
        )
    assert not User.objects.filter(email="x@example.test").exists()
    assert not AuditEvent.objects.exists()


def test_role_change_is_audited_with_from_and_to(admin, make_staff, location):
    tech = make_staff(role=Role.FIELD_TECHNICIAN, location=location)
    membership = tech.memberships.get()
    services.membership_role_change(actor=admin, membership=membership, role=Role.EMPLOYEE)
    membership.refresh_from_db()
    assert membership.role == Role.EMPLOYEE
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert event.details == {
        "from": Role.FIELD_TECHNICIAN,
        "to": Role.EMPLOYEE,
        "user": str(tech.public_id),
    }
    assert event.actor_id == admin.pk
    assert event.object_id == str(membership.public_id)


def test_same_role_changes_nothing_and_writes_no_audit_row(admin, make_staff, location):
    tech = make_staff(role=Role.FIELD_TECHNICIAN, location=location)
    services.membership_role_change(
        actor=admin, membership=tech.memberships.get(), role=Role.FIELD_TECHNICIAN
    )
    assert not _audit("membership.role_changed")


def test_admin_cannot_demote_their_own_last_admin_role(admin):
    own = admin.memberships.get()
    with pytest.raises(ApplicationError) as exc:
        services.membership_role_change(actor=admin, membership=own, role=Role.EMPLOYEE)
    assert exc.value.code == "last_admin_role"
    own.refresh_from_db()
    assert own.role == Role.ADMIN
    assert not _audit("membership.role_changed")


def test_admin_cannot_remove_their_own_last_admin_role(admin):
    own = admin.memberships.get()
    with pytest.raises(ApplicationError):
        services.membership_remove(actor=admin, membership=own)
    assert Membership.objects.filter(pk=own.pk).exists()
    assert not _audit("membership.removed")


def test_admin_with_another_admin_role_may_drop_one(admin, location):
    second = LocationFactory(organization=location.organization)
    MembershipFactory(user=admin, location=second, role=Role.ADMIN)
    own = admin.memberships.get(location=location)
    services.membership_remove(actor=admin, membership=own)
    assert not Membership.objects.filter(pk=own.pk).exists()
    event = AuditEvent.objects.get(action="membership.removed")
    assert event.details == {"user": str(admin.public_id), "role": Role.ADMIN}


def test_an_admin_role_at_a_deactivated_location_does_not_count(admin, location):
    closed = LocationFactory(organization=location.organization, is_active=False)
    MembershipFactory(user=admin, location=closed, role=Role.ADMIN)
    with pytest.raises(ApplicationError):
        services.membership_remove(actor=admin, membership=admin.memberships.get(location=location))


def test_another_admin_can_be_demoted(admin, make_staff, location):
    other = make_staff(role=Role.ADMIN, location=location)
    services.membership_role_change(
        actor=admin, membership=other.memberships.get(), role=Role.EMPLOYEE
    )
    assert other.memberships.get().role == Role.EMPLOYEE


def test_membership_at_another_organizations_location_is_refused(admin, make_staff, location):
    colleague = make_staff(role=Role.EMPLOYEE, location=location)
    foreign = LocationFactory()
    with pytest.raises(NotFound):
        services.membership_add(actor=admin, user=colleague, location=foreign, role=Role.EMPLOYEE)
    assert not Membership.objects.filter(location=foreign).exists()
    assert not _audit("membership.added")


def test_membership_for_another_organizations_user_is_refused(admin, location):
    stranger = staff_user(location=LocationFactory())
    with pytest.raises(NotFound):
        services.membership_add(actor=admin, user=stranger, location=location, role=Role.ADMIN)
    assert not Membership.objects.filter(user=stranger, location=location).exists()


def test_second_membership_at_the_same_location_is_refused(admin, make_staff, location):
    colleague = make_staff(role=Role.EMPLOYEE, location=location)
    with pytest.raises(Conflict):
        services.membership_add(actor=admin, user=colleague, location=location, role=Role.CLINICIAN)
    assert colleague.memberships.get().role == Role.EMPLOYEE


def test_role_change_on_another_organizations_membership_is_refused(admin):
    stranger = staff_user(role=Role.EMPLOYEE, location=LocationFactory())
    membership = stranger.memberships.get()
    with pytest.raises(NotFound):
        services.membership_role_change(actor=admin, membership=membership, role=Role.ADMIN)
    membership.refresh_from_db()
    assert membership.role == Role.EMPLOYEE


def test_deactivation_blocks_sign_in_ends_sessions_and_is_audited(
    admin, make_staff, location, signed_in
):
    colleague = make_staff(role=Role.EMPLOYEE, location=location)
    their_browser = signed_in(colleague)
    assert their_browser.get("/").status_code == 200
    services.user_deactivate(actor=admin, user=colleague)
    colleague.refresh_from_db()
    assert not colleague.is_active
    assert their_browser.get("/").status_code == 302
    assert _audit("user.deactivated")[0].object_id == str(colleague.public_id)
    services.user_reactivate(actor=admin, user=colleague)
    colleague.refresh_from_db()
    assert colleague.is_active
    assert _audit("user.reactivated")


def test_deactivation_tells_the_users_open_sockets_to_recheck(
    admin, make_staff, location, django_capture_on_commit_callbacks
):
    colleague = make_staff(role=Role.EMPLOYEE, location=location)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(colleague.pk), channel)

    with django_capture_on_commit_callbacks(execute=True):
        services.user_deactivate(actor=admin, user=colleague)

    async def receive():
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert async_to_sync(receive)()["message"] == {"type": "session.check"}


def test_admin_cannot_deactivate_themselves(admin):
    with pytest.raises(ApplicationError):
        services.user_deactivate(actor=admin, user=admin)
    admin.refresh_from_db()
    assert admin.is_active


def test_user_rename_is_audited_with_field_names_only(admin, make_staff, location):
    colleague = make_staff(location=location, full_name="Old Name")
    services.user_update(actor=admin, user=colleague, full_name="New Name")
    colleague.refresh_from_db()
    assert colleague.full_name == "New Name"
    event = AuditEvent.objects.get(action="user.updated")
    assert event.details == {"fields": ["full_name"]}
    assert "New Name" not in str(event.details)


# -- locations ---------------------------------------------------------------------------------


def test_location_create_normalizes_phone_and_audits(admin):
    loc = services.location_create(
        actor=admin,
        name="Harbor Sleep Lab",
        kind=Location.Kind.LAB,
        timezone="America/Chicago",
        phone="+1 (617) 555-0142",
    )
    assert loc.organization_id == admin.organization_id
    assert loc.phone == "+16175550142"
    assert AuditEvent.objects.get(action="location.created").object_id == str(loc.public_id)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("timezone", {"timezone": "Mars/Olympus_Mons"}),
        ("phone", {"phone": "555-0142"}),
        ("name", {"name": "  "}),
    ],
)
def test_location_bad_input_is_refused_with_the_field(admin, field, kwargs):
    values = {"name": "Harbor", "kind": Location.Kind.CLINIC, "timezone": "UTC", **kwargs}
    with pytest.raises(ApplicationError) as exc:
        services.location_create(actor=admin, **values)
    assert exc.value.extra["field"] == field
    assert not Location.objects.filter(name="Harbor").exists()


def test_location_names_are_unique_per_organization(admin, location):
    with pytest.raises(Conflict):
        services.location_create(actor=admin, name=location.name, timezone="UTC")
    other = services.location_create(actor=admin, name="Second Site", timezone="UTC")
    with pytest.raises(Conflict):
        services.location_update(
            actor=admin, location=other, name=location.name, kind=other.kind, timezone="UTC"
        )
    # Another organization may use the same name.
    outsider = staff_user(role=Role.ADMIN, location=LocationFactory())
    services.location_create(actor=outsider, name=location.name, timezone="UTC")


def test_location_update_audits_changed_fields(admin, location):
    services.location_update(
        actor=admin,
        location=location,
        name=location.name,
        kind=Location.Kind.WAREHOUSE,
        timezone="America/Denver",
    )
    event = AuditEvent.objects.get(action="location.updated")
    assert sorted(event.details["fields"]) == ["kind", "timezone"]


def test_deactivating_the_only_location_of_your_admin_role_is_refused(admin, location):
    with pytest.raises(ApplicationError):
        services.location_deactivate(actor=admin, location=location)
    location.refresh_from_db()
    assert location.is_active


def test_location_deactivate_and_reactivate(admin, location):
    annex = services.location_create(actor=admin, name="Annex", timezone="UTC")
    services.location_deactivate(actor=admin, location=annex)
    annex.refresh_from_db()
    assert not annex.is_active
    services.location_reactivate(actor=admin, location=annex)
    annex.refresh_from_db()
    assert annex.is_active
    assert _audit("location.deactivated") and _audit("location.reactivated")


def test_another_organizations_location_cannot_be_edited(admin):
    foreign = LocationFactory(name="Foreign Site")
    with pytest.raises(NotFound):
        services.location_update(
            actor=admin, location=foreign, name="Mine Now", kind=foreign.kind, timezone="UTC"
        )
    foreign.refresh_from_db()
    assert foreign.name == "Foreign Site"
