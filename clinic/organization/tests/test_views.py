"""The organization screens: ADMINs manage users, roles and locations; everyone else gets 404."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, Location, Membership, Role, User
from clinic.tests.factories import LocationFactory, MembershipFactory, staff_user

STRONG = "quiet-harbor-lantern-93"


@pytest.fixture
def admin(location):
    return staff_user(role=Role.ADMIN, location=location, full_name="Ada Admin")


@pytest.fixture
def colleague(location):
    return staff_user(role=Role.FIELD_TECHNICIAN, location=location, full_name="Theo Tech")


@pytest.fixture
def admin_client(admin, signed_in):
    return signed_in(admin)


def _state() -> tuple:
    """Everything the organization screens can change."""
    return (
        sorted(User.objects.values_list("pk", "full_name", "is_active")),
        sorted(Membership.objects.values_list("pk", "role")),
        sorted(Location.objects.values_list("pk", "name", "is_active", "timezone")),
        AuditEvent.objects.count(),
    )


def _urls(colleague: User, location: Location) -> list[tuple[str, str, dict]]:
    membership = colleague.memberships.get()
    uid = {"public_id": colleague.public_id}
    return [
        ("get", reverse("clinic:organization"), {}),
        ("get", reverse("clinic:organization_users"), {}),
        ("get", reverse("clinic:organization_user_create"), {}),
        ("get", reverse("clinic:organization_user", kwargs=uid), {}),
        ("get", reverse("clinic:organization_locations"), {}),
        ("get", reverse("clinic:organization_location_create"), {}),
        (
            "get",
            reverse("clinic:organization_location", kwargs={"public_id": location.public_id}),
            {},
        ),
        (
            "post",
            reverse("clinic:organization_user_create"),
            {
                "full_name": "Intruder",
                "email": "intruder@example.test",
                "password": STRONG,
                "location": str(location.public_id),
                "role": Role.ADMIN,
            },
        ),
        ("post", reverse("clinic:organization_user", kwargs=uid), {"full_name": "Renamed"}),
        (
            "post",
            reverse("clinic:organization_membership_add", kwargs=uid),
            {"add-location": str(location.public_id), "add-role": Role.ADMIN},
        ),
        (
            "post",
            reverse(
                "clinic:organization_membership_role", kwargs={"public_id": membership.public_id}
            ),
            {"role": Role.ADMIN},
        ),
        (
            "post",
            reverse(
                "clinic:organization_membership_remove", kwargs={"public_id": membership.public_id}
            ),
            {},
        ),
        ("post", reverse("clinic:organization_user_deactivate", kwargs=uid), {}),
        ("post", reverse("clinic:organization_user_reactivate", kwargs=uid), {}),
        (
            "post",
            reverse("clinic:organization_location_create"),
            {"name": "Rogue", "kind": "CLINIC", "timezone": "UTC"},
        ),
        (
            "post",
            reverse("clinic:organization_location", kwargs={"public_id": location.public_id}),
            {"name": "Rogue", "kind": "CLINIC", "timezone": "UTC"},
        ),
        (
            "post",
            reverse(
                "clinic:organization_location_deactivate", kwargs={"public_id": location.public_id}
            ),
            {},
        ),
    ]


@pytest.mark.parametrize(
    "role", [Role.EMPLOYEE, Role.FIELD_TECHNICIAN, Role.CLINICIAN, Role.SUPPORT]
)
def test_every_organization_screen_is_404_for_non_admins_and_changes_nothing(
    role, location, colleague, signed_in
):
    client = signed_in(staff_user(role=role, location=location))
    before = _state()
    for method, url, data in _urls(colleague, location):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
    assert _state() == before


def test_another_organizations_admin_gets_404_for_our_objects(location, colleague, signed_in):
    outsider = staff_user(role=Role.ADMIN, location=LocationFactory())
    client = signed_in(outsider)
    before = _state()
    ids = {
        str(colleague.public_id),
        str(colleague.memberships.get().public_id),
        str(location.public_id),
    }
    for method, url, data in _urls(colleague, location):
        if not any(i in url for i in ids):
            continue  # pages without an id show the outsider their own organization
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
    assert _state() == before


def test_admin_reaches_every_screen(admin_client, colleague, location):
    for method, url, _ in _urls(colleague, location):
        if method == "get":
            response = admin_client.get(url, follow=True)
            assert response.status_code == 200, url


def test_users_list_searches_by_name_and_email(admin_client, colleague, location):
    staff_user(
        role=Role.EMPLOYEE, location=location, full_name="Olive Office", email="olive@example.test"
    )
    body = admin_client.get("/organization/users/?q=theo").content.decode()
    assert "Theo Tech" in body and "Olive Office" not in body
    body = admin_client.get("/organization/users/?q=OLIVE@").content.decode()
    assert "Olive Office" in body and "Theo Tech" not in body


def test_users_list_filters_by_role_location_and_status(admin_client, colleague, location):
    annex = LocationFactory(organization=location.organization, name="Annex Lab")
    clinician = staff_user(role=Role.CLINICIAN, location=annex, full_name="Cleo Clinician")
    gone = staff_user(role=Role.CLINICIAN, location=location, full_name="Gus Gone", is_active=False)
    body = admin_client.get(f"/organization/users/?role={Role.CLINICIAN}").content.decode()
    assert clinician.full_name in body and gone.full_name in body and "Theo Tech" not in body
    body = admin_client.get(f"/organization/users/?location={annex.public_id}").content.decode()
    assert clinician.full_name in body and "Theo Tech" not in body
    # role AND location must hold on the same membership
    body = admin_client.get(
        f"/organization/users/?location={annex.public_id}&role={Role.FIELD_TECHNICIAN}"
    ).content.decode()
    assert "No users match" in body
    body = admin_client.get("/organization/users/?status=inactive").content.decode()
    assert gone.full_name in body and clinician.full_name not in body


def test_users_list_never_shows_another_organization(admin_client, location):
    staff_user(role=Role.EMPLOYEE, location=LocationFactory(), full_name="Stranger Danger")
    body = admin_client.get("/organization/users/?q=Stranger").content.decode()
    assert "Stranger Danger" not in body


def test_users_list_pages(admin_client, location):
    for n in range(30):
        staff_user(role=Role.EMPLOYEE, location=location, full_name=f"Member {n:02d}")
    first = admin_client.get("/organization/users/").content.decode()
    assert "Page 1 of 2" in first
    second = admin_client.get("/organization/users/?page=2").content.decode()
    assert "Page 2 of 2" in second
    assert admin_client.get("/organization/users/?page=abc").status_code == 200


def test_htmx_filter_returns_only_the_results(admin_client, colleague):
    response = admin_client.get(
        "/organization/users/?q=theo", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="user-results"
    )
    body = response.content.decode()
    assert "Theo Tech" in body
    assert "<html" not in body


@pytest.mark.parametrize("path", ["/organization/users/", "/organization/locations/"])
def test_list_pages_run_a_constant_number_of_queries(admin_client, location, path):
    def count() -> int:
        admin_client.get(path)  # session back in cache
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(path).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for _ in range(8):
        extra = LocationFactory(organization=location.organization)
        user = staff_user(role=Role.EMPLOYEE, location=extra)
        MembershipFactory(user=user, location=location, role=Role.CLINICIAN)
    assert count() == before


def test_admin_creates_a_user(admin_client, admin, location):
    response = admin_client.post(
        "/organization/users/new",
        {
            "full_name": "Nora New",
            "email": "Nora.New@Example.test",
            "password": STRONG,
            "location": str(location.public_id),
            "role": Role.CLINICIAN,
        },
    )
    user = User.objects.get(email="nora.new@example.test")
    assert response.status_code == 302
    assert response["Location"] == f"/organization/users/{user.public_id}/"
    assert user.memberships.get().role == Role.CLINICIAN
    assert AuditEvent.objects.filter(action="user.created", actor=admin).count() == 1


def test_create_user_errors_are_summarised_and_linked_to_fields(admin_client, location):
    staff_user(location=LocationFactory(), email="taken@example.test")
    response = admin_client.post(
        "/organization/users/new",
        {
            "full_name": "Tess Taken",
            "email": "taken@example.test",
            "password": STRONG,
            "location": str(location.public_id),
            "role": Role.EMPLOYEE,
        },
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert 'class="error-summary"' in body
    assert 'href="#id_email"' in body
    assert "already in use" in body
    assert 'aria-invalid="true"' in body
    assert not User.objects.filter(full_name="Tess Taken").exists()


def test_create_user_refuses_a_weak_password_and_another_organizations_location(admin_client):
    foreign = LocationFactory()
    response = admin_client.post(
        "/organization/users/new",
        {
            "full_name": "Will Weak",
            "email": "will@example.test",
            "password": "password",
            "location": str(foreign.public_id),
            "role": Role.EMPLOYEE,
        },
    )
    body = response.content.decode()
    assert 'href="#id_location"' in body
    assert not User.objects.filter(email="will@example.test").exists()
    assert foreign.name not in body


def test_admin_changes_adds_and_removes_roles(admin_client, colleague, location):
    membership = colleague.memberships.get()
    response = admin_client.post(
        f"/organization/memberships/{membership.public_id}/role", {"role": Role.EMPLOYEE}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.EMPLOYEE
    assert AuditEvent.objects.get(action="membership.role_changed").details["to"] == Role.EMPLOYEE

    annex = LocationFactory(organization=location.organization)
    admin_client.post(
        f"/organization/users/{colleague.public_id}/memberships",
        {"add-location": str(annex.public_id), "add-role": Role.CLINICIAN},
    )
    assert colleague.memberships.get(location=annex).role == Role.CLINICIAN

    admin_client.post(f"/organization/memberships/{membership.public_id}/remove")
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_admin_sees_why_their_own_last_admin_role_stays(admin_client, admin):
    own = admin.memberships.get()
    response = admin_client.post(
        f"/organization/memberships/{own.public_id}/role", {"role": Role.EMPLOYEE}, follow=True
    )
    assert "last administrator role" in response.content.decode()
    own.refresh_from_db()
    assert own.role == Role.ADMIN
    assert not AuditEvent.objects.filter(action="membership.role_changed").exists()


def test_admin_deactivates_and_reactivates(admin_client, colleague, signed_in):
    theirs = signed_in(colleague)
    response = admin_client.post(
        f"/organization/users/{colleague.public_id}/deactivate", follow=True
    )
    assert "signed out everywhere" in response.content.decode()
    colleague.refresh_from_db()
    assert not colleague.is_active
    assert theirs.get("/").status_code == 302
    admin_client.post(f"/organization/users/{colleague.public_id}/reactivate")
    colleague.refresh_from_db()
    assert colleague.is_active


def test_admin_renames_a_user(admin_client, colleague):
    admin_client.post(f"/organization/users/{colleague.public_id}/", {"full_name": "Theo Tremaine"})
    colleague.refresh_from_db()
    assert colleague.full_name == "Theo Tremaine"


def test_admin_creates_edits_and_deactivates_locations(admin_client, location):
    response = admin_client.post(
        "/organization/locations/new",
        {
            "name": "Harbor Lab",
            "kind": "LAB",
            "timezone": "America/Denver",
            "phone": "+1 617 555 0142",
        },
    )
    assert response.status_code == 302
    harbor = Location.objects.get(name="Harbor Lab")
    assert harbor.organization_id == location.organization_id
    assert harbor.phone == "+16175550142"
    admin_client.post(
        f"/organization/locations/{harbor.public_id}/",
        {"name": "Harbor Sleep Lab", "kind": "LAB", "timezone": "America/Denver"},
    )
    harbor.refresh_from_db()
    assert harbor.name == "Harbor Sleep Lab"
    admin_client.post(f"/organization/locations/{harbor.public_id}/deactivate")
    harbor.refresh_from_db()
    assert not harbor.is_active


def test_location_form_shows_a_bad_phone_next_to_the_field(admin_client):
    response = admin_client.post(
        "/organization/locations/new",
        {"name": "Lab", "kind": "LAB", "timezone": "UTC", "phone": "12"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'href="#id_phone"' in body and "international format" in body
    assert not Location.objects.filter(name="Lab").exists()
