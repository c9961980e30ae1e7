"""`manage.py seed_demo`: the demo organization, loaded once, and how to sign in."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clinic.management.commands.seed_demo import DEFAULT_PASSWORD, DEMO_SLUG, demo_names
from clinic.models import AuditEvent, Location, Membership, Organization, Role, User


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _no_demo_password(monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)


def test_seed_demo_creates_one_organization_two_locations_and_a_user_per_role(db):
    output = _seed()
    org = Organization.objects.get(slug=DEMO_SLUG)
    assert org.name == "Brightwater Sleep & Respiratory"
    locations = list(Location.objects.filter(organization=org))
    assert len(locations) == 2
    assert len({loc.timezone for loc in locations}) == 2
    # one sign-in user per role; other apps' demo data adds more people (e.g. scheduling's
    # field technicians under field.brightwater.example)
    users = User.objects.filter(organization=org, email__endswith="@brightwater.example")
    assert users.count() == len(Role.values)
    roles = set(Membership.objects.filter(user__in=users).values_list("role", flat=True))
    assert roles == set(Role.values)
    admin = users.get(email="admin@brightwater.example")
    assert admin.is_org_admin
    assert all(u.check_password(DEFAULT_PASSWORD) for u in users)
    assert all(len(u.full_name.split()) >= 2 for u in users)
    for user in users:
        assert user.email in output
        assert user.full_name in output
    assert DEFAULT_PASSWORD in output
    assert "QR code" in output and "secret" in output


def test_seed_demo_is_idempotent(db):
    _seed()
    counts = (User.objects.count(), Location.objects.count(), AuditEvent.objects.count())
    output = _seed()
    assert (User.objects.count(), Location.objects.count(), AuditEvent.objects.count()) == counts
    assert Organization.objects.filter(slug=DEMO_SLUG).count() == 1
    assert "admin@brightwater.example" in output
    assert DEFAULT_PASSWORD in output


def test_names_are_generated_the_same_on_every_machine(db):
    _seed()
    core = User.objects.filter(email__endswith="@brightwater.example")
    assert sorted(core.values_list("full_name", flat=True)) == sorted(demo_names())
    assert demo_names() == demo_names()


def test_demo_password_comes_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "violet-canyon-ferry-58")
    output = _seed()
    assert User.objects.get(email="support@brightwater.example").check_password(
        "violet-canyon-ferry-58"
    )
    assert "violet-canyon-ferry-58" in output


def test_a_weak_demo_password_is_refused_and_nothing_is_loaded(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "password")
    with pytest.raises(CommandError):
        _seed()
    assert not Organization.objects.filter(slug=DEMO_SLUG).exists()
    assert not User.objects.exists()


def test_seed_writes_audit_rows_through_the_services(db):
    _seed()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"user.created", "membership.added", "location.created"} <= actions
