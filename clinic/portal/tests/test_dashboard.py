"""The landing page: one dashboard per role, with that role's panels and nobody else's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import AuditEvent, Location, Notification, Role
from clinic.portal.registry import _PANELS, DashboardPanel, dashboard_panel_register
from clinic.tests.factories import LocationFactory, MembershipFactory, staff_user

# A heading only that role's dashboard shows.
ROLE_MARKERS = {
    Role.ADMIN: "People by role",
    Role.EMPLOYEE: "Your locations today",
    Role.FIELD_TECHNICIAN: "My day",
    Role.CLINICIAN: "Where you practise",
    Role.SUPPORT: "Live updates",
}


@pytest.fixture
def site(db):
    return LocationFactory(
        name="Riverside Sleep Center", timezone="America/Chicago", phone="+16175550142"
    )


@pytest.mark.parametrize("role", list(ROLE_MARKERS))
def test_each_role_lands_on_its_own_dashboard(role, site, signed_in):
    user = staff_user(role=role, location=site, full_name="Jamie Rivera")
    response = signed_in(user).get("/")
    assert response.status_code == 200
    assert next(t.name for t in response.templates) == f"clinic/dashboard_{role.lower()}.html"
    body = response.content.decode()
    assert "Jamie" in body
    assert "Riverside Sleep Center" in body
    assert ROLE_MARKERS[role] in body
    for other, marker in ROLE_MARKERS.items():
        if other != role:
            assert marker not in body, f"{role} sees the {other} panel"


def test_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_password_only_session_without_otp_is_sent_to_sign_in(client, site):
    user = staff_user(role=Role.ADMIN, location=site)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get("/")
    assert response.status_code == 302


def test_employee_dashboard_shows_own_notifications_only(site, signed_in):
    me = staff_user(role=Role.EMPLOYEE, location=site)
    colleague = staff_user(role=Role.EMPLOYEE, location=site)
    Notification.objects.create(
        organization=site.organization, recipient=me, kind="t", title="Fax received"
    )
    Notification.objects.create(
        organization=site.organization, recipient=colleague, kind="t", title="Someone else's note"
    )
    body = signed_in(me).get("/").content.decode()
    assert "Fax received" in body
    assert "1 unread" in body
    assert "Someone else" not in body


def test_field_technician_sees_call_button_and_team_of_their_locations(site, signed_in):
    tech = staff_user(role=Role.FIELD_TECHNICIAN, location=site)
    staff_user(role=Role.EMPLOYEE, location=site)
    elsewhere = LocationFactory(organization=site.organization, name="Far Away Lab")
    staff_user(role=Role.CLINICIAN, location=elsewhere)
    body = signed_in(tech).get("/").content.decode()
    assert 'href="tel:+16175550142"' in body
    assert "1 office staff" in body
    assert "Far Away Lab" not in body


def test_admin_dashboard_counts_its_own_organization_only(site, signed_in):
    admin = staff_user(role=Role.ADMIN, location=site)
    staff_user(role=Role.CLINICIAN, location=site)
    stranger_site = LocationFactory(name="Stranger Clinic")
    stranger = staff_user(role=Role.CLINICIAN, location=stranger_site, full_name="Stranger Person")
    AuditEvent.objects.create(organization=site.organization, actor=admin, action="auth.login")
    AuditEvent.objects.create(
        organization=site.organization, actor=admin, action="auth.login_failed"
    )
    AuditEvent.objects.create(
        organization=site.organization,
        actor=admin,
        action="auth.login",
        occurred_at=timezone.now() - timedelta(days=30),
    )
    AuditEvent.objects.create(
        organization=stranger_site.organization, actor=stranger, action="auth.login"
    )
    response = signed_in(admin).get("/")
    body = response.content.decode()
    ctx = response.context
    assert ctx["sign_ins"]["succeeded"] == 1
    assert ctx["sign_ins"]["failed"] == 1
    assert [e.actor_id for e in ctx["sign_ins"]["recent"]] == [admin.pk, admin.pk]
    assert {v: n for v, _, n in ctx["users_by_role"]}[Role.CLINICIAN] == 1
    assert ctx["user_totals"] == {"active": 2, "inactive": 0}
    assert [loc.name for loc in ctx["org_locations"]] == ["Riverside Sleep Center"]
    assert ctx["org_locations"][0].member_count == 2
    assert "Stranger" not in body


def test_deactivated_location_drops_out_of_the_greeting(site, signed_in):
    user = staff_user(role=Role.EMPLOYEE, location=site)
    closed = LocationFactory(organization=site.organization, name="Closed Annex", is_active=False)
    MembershipFactory(user=user, location=closed, role=Role.EMPLOYEE)
    body = signed_in(user).get("/").content.decode()
    assert "Closed Annex" not in body


@pytest.mark.parametrize("role", list(ROLE_MARKERS))
def test_dashboard_queries_do_not_grow_with_rows(role, site, signed_in):
    user = staff_user(role=role, location=site)
    client = signed_in(user)

    def count() -> int:
        client.get("/")  # the session is back in the cache: count only the page's own queries
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for n in range(6):
        extra = LocationFactory(organization=site.organization)
        MembershipFactory(user=user, location=extra, role=role)
        staff_user(role=Role.EMPLOYEE, location=extra)
        Notification.objects.create(
            organization=site.organization, recipient=user, kind="t", title=f"N{n}"
        )
        AuditEvent.objects.create(organization=site.organization, actor=user, action="auth.login")
    assert count() == before


def test_panels_registered_by_other_apps_appear_for_their_roles(
    site, signed_in, settings, tmp_path
):
    (tmp_path / "panel.html").write_text(
        '<section class="card">Route board: {{ panel.stops }} stops</section>'
    )
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [*engine["DIRS"], tmp_path]}]
    saved = dict(_PANELS)
    try:
        dashboard_panel_register(
            DashboardPanel(
                "test.route",
                "panel.html",
                context=lambda request: {"stops": 4},
                roles=frozenset({Role.FIELD_TECHNICIAN}),
            )
        )
        tech = staff_user(role=Role.FIELD_TECHNICIAN, location=site)
        office = staff_user(role=Role.EMPLOYEE, location=site)
        assert "Route board: 4 stops" in signed_in(tech).get("/").content.decode()
        assert "Route board" not in signed_in(office).get("/").content.decode()
    finally:
        _PANELS.clear()
        _PANELS.update(saved)


def test_user_without_a_role_gets_a_plain_dashboard(db, signed_in):
    location = LocationFactory()
    user = staff_user(role=Role.EMPLOYEE, location=location)
    user.memberships.all().delete()
    response = signed_in(user).get("/")
    assert response.status_code == 200
    assert "not assigned to a location" in response.content.decode()
    assert Location.objects.filter(pk=location.pk).exists()
