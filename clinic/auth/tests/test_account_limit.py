"""A lockout cannot be escaped by changing address: past a number of wrong passwords for one
account from any mix of addresses, each further attempt for that account waits a growing delay
(not an outright lock a stranger could use to keep a colleague out), and the right password
does not get in during it. The account page's current-password check is limited the same way."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone

from clinic.auth.services import PREAUTH_SESSION_KEY
from clinic.models import AuditEvent, AuthThrottle
from clinic.tests.factories import DEFAULT_PASSWORD, totp_device

pytestmark = pytest.mark.django_db

WAIT_30 = "Too many attempts for this account; try again in 30 seconds."


def attempt(email: str, password: str, n: int):
    """One sign-in attempt from its own address (198.51.100.n)."""
    client = Client(REMOTE_ADDR=f"198.51.100.{n}")
    return client, client.post("/login", {"email": email, "password": password})


def test_wrong_passwords_from_many_addresses_slow_that_account_down(make_staff, location):
    alice = make_staff(location=location)
    bob = make_staff(location=location)
    for user in (alice, bob):
        totp_device(user)
    limit = settings.SIGN_IN_ACCOUNT_FREE_FAILURES
    assert limit > settings.AXES_FAILURE_LIMIT

    # Every address stays under the per-address lockout; the account as a whole does not.
    statuses = [attempt(alice.email, "wrong password", n)[1].status_code for n in range(limit)]
    assert statuses == [400] * limit

    client, response = attempt(alice.email, DEFAULT_PASSWORD, 200)
    assert response.status_code == 429
    assert WAIT_30 in response.content.decode()
    assert response["Retry-After"] == "30"
    assert PREAUTH_SESSION_KEY not in client.session
    throttled = AuditEvent.objects.filter(actor=alice, action="auth.login_throttled")
    assert [r.details for r in throttled] == [{"reason": "account_limit", "wait": 30}]

    # A colleague at the same clinic is not affected.
    client, response = attempt(bob.email, DEFAULT_PASSWORD, 0)
    assert response.status_code == 302
    assert client.session[PREAUTH_SESSION_KEY]["uid"] == bob.pk


def _end_the_wait() -> None:
    """What 30 seconds of waiting does to the stored wait (no sleeping in tests)."""
    AuthThrottle.objects.update(blocked_until=timezone.now() - timedelta(seconds=1))


def test_the_wait_is_not_pushed_back_and_the_right_password_gets_in_after_it(make_staff):
    alice = make_staff()
    totp_device(alice)
    for n in range(settings.SIGN_IN_ACCOUNT_FREE_FAILURES):
        attempt(alice.email, "wrong password", n)
    [row] = AuthThrottle.objects.all()
    assert row.key != alice.email and alice.email not in row.key  # a keyed hash, not the email
    until = row.blocked_until

    # Guessing during the wait is refused unchecked and does not make the wait longer.
    for n in range(3):
        _, response = attempt(alice.email, "another guess", 100 + n)
        assert response.status_code == 429
    row.refresh_from_db()
    assert row.blocked_until == until

    # After the wait one more wrong password doubles it...
    _end_the_wait()
    _, response = attempt(alice.email, "wrong again", 150)
    assert response.status_code == 400
    _, response = attempt(alice.email, DEFAULT_PASSWORD, 151)
    assert response.status_code == 429
    assert "try again in 1 minute." in response.content.decode()

    # ...and after that wait the right password gets in and the count starts again.
    _end_the_wait()
    client, response = attempt(alice.email, DEFAULT_PASSWORD, 152)
    assert response.status_code == 302
    assert client.session[PREAUTH_SESSION_KEY]["uid"] == alice.pk
    assert not AuthThrottle.objects.exists()


def test_an_unknown_email_is_slowed_down_the_same_way(db):
    # The same answer whether or not the account exists: the limit reveals nothing.
    for n in range(settings.SIGN_IN_ACCOUNT_FREE_FAILURES):
        attempt("nobody@example.test", "guess", n)
    _, response = attempt("nobody@example.test", "guess", 99)
    assert response.status_code == 429
    assert WAIT_30 in response.content.decode()
    row = AuditEvent.objects.get(action="auth.login_throttled")
    assert row.actor_id is None and "nobody" not in str(row.details)


# ---------------------------------------------------------------- the current-password check

NEW_PASSWORD = "quiet lantern over harbour 42"
WAIT_1_MINUTE = "Too many wrong passwords; try again in 1 minute."


def change(client: Client, current: str):
    data = {"current_password": current, "new_password1": NEW_PASSWORD}
    return client.post("/account/password", {**data, "new_password2": NEW_PASSWORD})


def test_guesses_at_the_current_password_are_limited(make_staff, signed_in):
    user = make_staff()
    client = signed_in(user)
    guesses = settings.CURRENT_PASSWORD_FREE_FAILURES
    statuses = [change(client, f"guess {n}").status_code for n in range(guesses)]
    assert statuses == [400] * guesses

    # The right password during the wait is not checked: nothing changes.
    response = change(client, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert WAIT_1_MINUTE in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    reasons = list(
        AuditEvent.objects.filter(actor=user, action="auth.password_change_failed")
        .order_by("id")
        .values_list("details__reason", flat=True)
    )
    assert reasons == ["bad_current_password"] * guesses + ["throttled"]

    # Another session of the same person shares the count.
    other = signed_in(user)
    assert change(other, DEFAULT_PASSWORD).status_code == 429

    # After the wait the right password works, and the count starts again.
    _end_the_wait()
    response = change(client, DEFAULT_PASSWORD)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not AuthThrottle.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_parallel_guesses_as_a_wait_ends_is_checked_one_at_a_time(make_staff):
    alice = make_staff()
    for n in range(settings.SIGN_IN_ACCOUNT_FREE_FAILURES):
        attempt(alice.email, "wrong password", n)
    _end_the_wait()
    racers = 6
    barrier = threading.Barrier(racers)
    statuses: list[int] = []

    def guess(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            statuses.append(attempt(alice.email, f"guess {n}", 50 + n)[1].status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # The first guess is checked (wrong: the next, longer wait starts); the rest wait.
    assert sorted(statuses) == [400] + [429] * (racers - 1)
    assert AuthThrottle.objects.get().failures == settings.SIGN_IN_ACCOUNT_FREE_FAILURES + 1
