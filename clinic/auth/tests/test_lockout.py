"""Lockout is keyed by (email, IP): one clinic's shared IP does not lock out colleagues, and
guessing from elsewhere does not lock out the real user."""

from __future__ import annotations

from collections import Counter

import pytest
from django.conf import settings
from django.test import Client

from clinic.auth.services import PREAUTH_SESSION_KEY
from clinic.models import AuditEvent
from clinic.tests.factories import DEFAULT_PASSWORD, totp_device

pytestmark = pytest.mark.django_db

IP_A = "203.0.113.10"
IP_B = "198.51.100.20"


def attempt(user, password: str, ip: str) -> tuple[int, Client]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/login", {"email": user.email, "password": password})
    return response.status_code, client


def test_five_failures_lock_that_email_at_that_ip_only(make_staff, location):
    alice = make_staff(location=location)
    bob = make_staff(location=location)
    for user in (alice, bob):
        totp_device(user)
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5

    statuses = [attempt(alice, "wrong password", IP_A)[0] for _ in range(limit)]
    assert statuses == [400] * (limit - 1) + [429]

    # alice at A: refused even with the right password, and told plainly.
    status, client = attempt(alice, DEFAULT_PASSWORD, IP_A)
    assert status == 429
    assert PREAUTH_SESSION_KEY not in client.session
    page = client.post("/login", {"email": alice.email, "password": DEFAULT_PASSWORD})
    assert "Sign-in paused" in page.content.decode()

    # alice elsewhere, and bob at the same clinic IP, carry on.
    status, client = attempt(alice, DEFAULT_PASSWORD, IP_B)
    assert status == 302
    assert client.session[PREAUTH_SESSION_KEY]["uid"] == alice.pk
    status, client = attempt(bob, DEFAULT_PASSWORD, IP_A)
    assert status == 302
    assert client.session[PREAUTH_SESSION_KEY]["uid"] == bob.pk


def test_lockout_and_failures_are_audited_with_the_ip(make_staff):
    alice = make_staff()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(alice, "wrong password", IP_A)
    attempt(alice, DEFAULT_PASSWORD, IP_A)

    rows = list(AuditEvent.objects.filter(actor=alice).order_by("id"))
    seen = [(r.action, r.details.get("reason")) for r in rows]
    assert Counter(seen) == Counter(
        [("auth.login_failed", "bad_password")] * settings.AXES_FAILURE_LIMIT
        + [("auth.locked_out", "limit_reached"), ("auth.locked_out", "attempt_while_locked")]
    )
    # The right password during the lockout was never checked, so it is no "bad password".
    assert seen[-1] == ("auth.locked_out", "attempt_while_locked")
    assert {r.ip for r in rows} == {IP_A}
    assert {r.organization_id for r in rows} == {alice.organization_id}


def test_lockout_of_an_unknown_email_reveals_nothing(db):
    class Nobody:
        email = "nobody@example.test"

    statuses = [attempt(Nobody, "guess", IP_A)[0] for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[-1] == 429
    locked = AuditEvent.objects.filter(action="auth.locked_out").get()
    assert locked.actor_id is None
    assert "nobody" not in str(locked.details)


def test_forwarded_for_header_is_not_trusted_without_a_proxy(make_staff):
    """Rotating X-Forwarded-For must not buy an attacker fresh attempts."""
    alice = make_staff()
    for n in range(settings.AXES_FAILURE_LIMIT):
        client = Client(REMOTE_ADDR=IP_A, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        last = client.post("/login", {"email": alice.email, "password": "wrong password"})
    assert last.status_code == 429
