"""The account page: password change (and what it ends), password policy, backup codes."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.auth.services import backup_codes_generate
from clinic.models import AuditEvent
from clinic.realtime.services import user_group
from clinic.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "quiet lantern over harbour 42"


def change(client: Client, current: str, new: str, again: str | None = None):
    return client.post(
        "/account/password",
        {"current_password": current, "new_password1": new, "new_password2": again or new},
    )


def test_argon2_is_the_first_password_hasher():
    from config.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_password_change_keeps_this_session_and_ends_the_others(make_staff, signed_in):
    user = make_staff()
    here = signed_in(user)
    elsewhere = signed_in(user)
    assert elsewhere.get("/").status_code == 200

    response = change(here, DEFAULT_PASSWORD, NEW_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/account"
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/")["Location"].startswith("/login")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(actor=user, action="auth.password_changed").count() == 1


def test_password_change_tells_open_sockets_to_recheck(
    make_staff, signed_in, django_capture_on_commit_callbacks
):
    user = make_staff()
    client = signed_in(user)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(user.pk), channel)

    with django_capture_on_commit_callbacks(execute=True):
        change(client, DEFAULT_PASSWORD, NEW_PASSWORD)

    async def receive():
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    message = async_to_sync(receive)()
    assert message["message"] == {"type": "session.check"}


@pytest.mark.parametrize(
    ("new", "reason_text"),
    [
        ("Short1!", "at least 12 characters"),
        ("qwerty123456", "too common"),
        ("123456789012345", "entirely numeric"),
    ],
)
def test_weak_passwords_are_refused(make_staff, signed_in, new, reason_text):
    user = make_staff()
    client = signed_in(user)

    response = change(client, DEFAULT_PASSWORD, new)

    assert response.status_code == 400
    assert reason_text in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert AuditEvent.objects.filter(
        actor=user, action="auth.password_change_failed", details__reason="policy"
    ).exists()
    assert not AuditEvent.objects.filter(action="auth.password_changed").exists()


def test_password_like_the_email_is_refused(make_staff, signed_in):
    user = make_staff(email="marguerite.okafor@example.test")
    client = signed_in(user)

    response = change(client, DEFAULT_PASSWORD, "marguerite.okafor")

    assert response.status_code == 400
    assert "too similar" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_wrong_current_password_or_mismatch_changes_nothing(make_staff, signed_in):
    user = make_staff()
    client = signed_in(user)

    wrong = change(client, "not my password", NEW_PASSWORD)
    mismatch = change(client, DEFAULT_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")

    assert wrong.status_code == mismatch.status_code == 400
    assert "Your current password is not correct." in wrong.content.decode()
    assert "do not match" in mismatch.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert AuditEvent.objects.filter(
        actor=user, action="auth.password_change_failed", details__reason="bad_current_password"
    ).exists()


def test_account_pages_need_a_verified_session(make_staff):
    user = make_staff()
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    for path in ["/account", "/account/password"]:
        assert Client().get(path)["Location"].startswith("/login")
        assert client.get(path)["Location"].startswith("/login")


def test_backup_codes_are_renewed_only_with_a_current_code(make_staff, signed_in):
    user = make_staff()
    client = signed_in(user)
    old = set(backup_codes_generate(actor=user))
    device = TOTPDevice.objects.get(user=user)
    code = f"{TOTP(device.bin_key).token():06d}"
    wrong = f"{(int(code) + 500_000) % 1_000_000:06d}"

    refused = client.post("/account/backup-codes", {"code": wrong})
    assert refused.status_code == 400
    assert set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True)) == old

    device.throttle_reset()
    response = client.post("/account/backup-codes", {"code": code})
    assert response["Location"] == "/account/backup-codes"
    page = client.get("/account/backup-codes").content.decode()
    new = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(new) == 10
    assert not new & old
    assert all(f"{c[:4]}-{c[4:]}" in page for c in new)
    assert "<strong>10</strong> unused backup codes" in client.get("/account").content.decode()
