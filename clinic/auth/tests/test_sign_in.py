"""Sign-in end to end through the real views: password, TOTP enrolment, TOTP, backup codes,
and every way the second step can be refused."""

from __future__ import annotations

import base64
import re

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.auth.services import PREAUTH_SECONDS, PREAUTH_SESSION_KEY, backup_codes_generate
from clinic.models import AuditEvent
from clinic.tests.factories import DEFAULT_PASSWORD, totp_device

pytestmark = pytest.mark.django_db


def code_for(device: TOTPDevice) -> str:
    return (
        f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"
    )


def password_step(client: Client, user, password: str = DEFAULT_PASSWORD, **extra):
    return client.post("/login", {"email": user.email, "password": password}, **extra)


def actions(user) -> list[str]:
    return list(
        AuditEvent.objects.filter(actor=user).order_by("id").values_list("action", flat=True)
    )


def is_signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


# ---------------------------------------------------------------- enrolment


def test_first_sign_in_enrols_totp_shows_backup_codes_once_and_lands_on_dashboard(make_staff):
    user = make_staff()
    client = Client()

    response = password_step(client, user)
    assert response.status_code == 302
    assert response["Location"] == "/login/enrol"

    page = client.get("/login/enrol")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html
    found = re.search(r'id="totp-secret">([A-Z2-7=]+)<', html)
    assert found is not None
    secret = found.group(1)
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed is False
    assert base64.b32decode(secret) == device.bin_key
    # The QR code carries the same secret as the text (otpauth URL, issuer Tandem).
    assert "otpauth://totp/Tandem" in device.config_url

    code = f"{TOTP(base64.b32decode(secret)).token():06d}"
    response = client.post("/login/enrol", {"code": code})
    assert response.status_code == 302
    assert response["Location"] == "/login/backup-codes"
    device.refresh_from_db()
    assert device.confirmed is True

    codes_page = client.get("/login/backup-codes").content.decode()
    shown = re.findall(r"<code>([a-z2-7]{4})-([a-z2-7]{4})</code>", codes_page)
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(shown) == 10
    assert {a + b for a, b in shown} == stored
    again = client.get("/login/backup-codes").content.decode()
    assert "already been shown" in again
    assert not re.findall(r"<code>[a-z2-7]{4}-[a-z2-7]{4}</code>", again)

    assert client.get("/").status_code == 200
    assert actions(user) == ["auth.totp_enrolled", "auth.backup_codes_generated", "auth.login"]


def test_enrolment_with_a_wrong_code_keeps_the_device_unconfirmed(make_staff):
    user = make_staff()
    client = Client()
    password_step(client, user)
    client.get("/login/enrol")
    device = TOTPDevice.objects.get(user=user)
    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"

    response = client.post("/login/enrol", {"code": wrong})

    assert response.status_code == 400
    assert "That code is not correct" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert not is_signed_in(client)
    assert AuditEvent.objects.filter(
        actor=user, action="auth.otp_failed", details__reason="bad_code"
    ).exists()


def test_a_password_alone_cannot_replace_an_enrolled_authenticator(make_staff):
    user = make_staff()
    device = totp_device(user)
    client = Client()
    password_step(client, user)

    response = client.get("/login/enrol")

    assert response.status_code == 302
    assert response["Location"] == "/login/verify"
    assert list(TOTPDevice.objects.filter(user=user)) == [device]


# ---------------------------------------------------------------- TOTP


def test_password_then_totp_signs_in_and_goes_to_next(make_staff):
    user = make_staff()
    device = totp_device(user)
    client = Client()

    response = client.post(
        "/login", {"email": user.email.upper(), "password": DEFAULT_PASSWORD, "next": "/account"}
    )
    assert response["Location"] == "/login/verify"
    response = client.post("/login/verify", {"code": code_for(device)})

    assert response.status_code == 302
    assert response["Location"] == "/account"
    assert client.get("/account").status_code == 200
    login_row = AuditEvent.objects.get(actor=user, action="auth.login")
    assert login_row.details == {"method": "totp"}
    assert login_row.organization_id == user.organization_id


def test_next_pointing_elsewhere_is_ignored(make_staff):
    user = make_staff()
    device = totp_device(user)
    client = Client()
    client.post(
        "/login",
        {"email": user.email, "password": DEFAULT_PASSWORD, "next": "https://evil.example/"},
    )
    response = client.post("/login/verify", {"code": code_for(device)})
    assert response["Location"] == "/"


def test_reused_totp_code_is_refused_with_a_plain_message(make_staff):
    user = make_staff()
    device = totp_device(user)
    code = code_for(device)
    first = Client()
    password_step(first, user)
    assert first.post("/login/verify", {"code": code}).status_code == 302

    second = Client()
    password_step(second, user)
    response = second.post("/login/verify", {"code": code})

    assert response.status_code == 400
    assert "That code was already used. Wait for the next one." in response.content.decode()
    assert not is_signed_in(second)
    row = AuditEvent.objects.filter(actor=user, action="auth.otp_failed").get()
    assert row.details == {"reason": "reused_code", "method": "totp"}


def test_wrong_totp_code_is_refused_and_audited(make_staff):
    user = make_staff()
    device = totp_device(user)
    client = Client()
    password_step(client, user)
    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"

    response = client.post("/login/verify", {"code": wrong})

    assert response.status_code == 400
    body = response.content.decode()
    assert "That code is not correct" in body
    assert "There is a problem" in body
    assert not is_signed_in(client)
    assert AuditEvent.objects.filter(
        actor=user, action="auth.otp_failed", details__reason="bad_code"
    ).exists()


def test_after_many_wrong_codes_even_the_right_code_must_wait(make_staff):
    user = make_staff()
    device = totp_device(user)
    device.throttle_increment()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=10)
    client = Client()
    password_step(client, user)

    response = client.post("/login/verify", {"code": code_for(device)})

    assert response.status_code == 400
    assert "Too many wrong codes" in response.content.decode()
    assert not is_signed_in(client)
    device.refresh_from_db()
    assert device.last_t == -1


def test_malformed_code_gets_a_field_message_without_a_500(make_staff):
    user = make_staff()
    totp_device(user)
    client = Client()
    password_step(client, user)
    for junk in ["", "12", "abc", "1234567", "<script>", "x" * 40]:
        response = client.post("/login/verify", {"code": junk})
        assert response.status_code == 400
        assert 'aria-invalid="true"' in response.content.decode()
    assert not is_signed_in(client)


# ---------------------------------------------------------------- backup codes


def test_backup_code_signs_in_once_only(make_staff):
    user = make_staff()
    totp_device(user)
    codes = backup_codes_generate(actor=user)
    code = codes[0]
    typed = f"{code[:4]}-{code[4:]}".upper()

    first = Client()
    password_step(first, user)
    response = first.post("/login/verify", {"code": typed})
    assert response.status_code == 302
    assert is_signed_in(first)
    used = AuditEvent.objects.get(actor=user, action="auth.backup_code_used")
    assert used.details == {"remaining": 9}
    assert AuditEvent.objects.get(actor=user, action="auth.login").details == {
        "method": "backup_code"
    }

    second = Client()
    password_step(second, user)
    response = second.post("/login/verify", {"code": code})
    assert response.status_code == 400
    assert "not valid or has already been used" in response.content.decode()
    assert not is_signed_in(second)
    assert StaticToken.objects.filter(device__user=user).count() == 9
    assert AuditEvent.objects.filter(
        actor=user, action="auth.otp_failed", details__reason="bad_backup_code"
    ).exists()


# ---------------------------------------------------------------- wrong password


def test_wrong_password_and_unknown_email_get_the_same_answer(make_staff):
    user = make_staff()
    known = Client().post("/login", {"email": user.email, "password": "not the password"})
    unknown = Client().post("/login", {"email": "nobody@example.test", "password": "whatever"})

    assert known.status_code == unknown.status_code == 400
    for response in (known, unknown):
        assert "Email or password is incorrect." in response.content.decode()
    assert PREAUTH_SESSION_KEY not in Client().session

    failures = AuditEvent.objects.filter(action="auth.login_failed").order_by("id")
    assert [(f.actor_id, f.details) for f in failures] == [
        (user.pk, {"reason": "bad_password"}),
        (None, {"reason": "bad_password"}),
    ]
    assert failures[0].organization_id == user.organization_id
    # The typed email never reaches the audit log.
    assert not AuditEvent.objects.filter(details__icontains="nobody").exists()


def test_inactive_account_gets_the_generic_message(make_staff):
    user = make_staff(is_active=False)
    response = Client().post("/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert "Email or password is incorrect." in response.content.decode()


def test_empty_or_malformed_login_form_gets_field_messages(db):
    response = Client().post("/login", {"email": "not-an-email", "password": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter an email address like name@example.com." in body
    assert "Enter your password." in body
    assert 'href="#id_email"' in body


def test_session_expired_notice_on_the_login_page(db):
    body = Client().get("/login?expired=1").content.decode()
    assert "Your session ended after inactivity" in body


# ---------------------------------------------------------------- the pre-auth step


def test_password_step_cycles_the_session_key(make_staff):
    user = make_staff()
    totp_device(user)
    client = Client()
    client.get("/login")
    client.session.save()
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else None
    password_step(client, user)
    assert client.cookies["sessionid"].value != before


def test_expired_password_step_starts_over_and_keeps_the_code_unspent(make_staff):
    user = make_staff()
    device = totp_device(user)
    client = Client()
    password_step(client, user)
    session = client.session
    session[PREAUTH_SESSION_KEY]["at"] -= PREAUTH_SECONDS + 1
    session.save()

    response = client.post("/login/verify", {"code": code_for(device)}, follow=True)

    assert response.redirect_chain[0] == ("/login", 302)
    assert "Your sign-in took too long" in response.content.decode()
    assert not is_signed_in(client)
    device.refresh_from_db()
    assert device.last_t == -1
    assert AuditEvent.objects.filter(
        actor=user, action="auth.otp_failed", details__reason="step_expired"
    ).exists()


def test_second_step_without_a_password_step_goes_to_sign_in(db):
    client = Client()
    for path in ["/login/verify", "/login/enrol"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == "/login"
        assert client.post(path, {"code": "123456"})["Location"] == "/login"


def test_password_only_session_reaches_neither_dashboard_nor_admin(make_staff):
    from clinic.models import Role

    user = make_staff(role=Role.ADMIN)
    totp_device(user)
    client = Client()
    password_step(client, user)

    dashboard = client.get("/")
    admin = client.get("/admin/", follow=True)

    assert dashboard.status_code == 302
    assert dashboard["Location"].startswith("/login")
    assert admin.redirect_chain[-1][0].startswith("/login")
    assert b"Sign in to Tandem" in admin.content


def test_logged_in_without_otp_reaches_neither_dashboard_nor_admin(make_staff):
    from clinic.models import Role

    user = make_staff(role=Role.ADMIN)
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")

    assert client.get("/")["Location"].startswith("/login")
    admin = client.get("/admin/", follow=True)
    assert admin.redirect_chain[-1][0].startswith("/login")


# ---------------------------------------------------------------- CSRF, sign-out


def test_login_post_without_csrf_gets_the_friendly_page_and_an_audit_row(make_staff):
    user = make_staff()
    client = Client(enforce_csrf_checks=True)

    response = client.post("/login", {"email": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert AuditEvent.objects.filter(action="security.csrf_refused").count() == 1
    assert PREAUTH_SESSION_KEY not in client.session


def test_logout_needs_a_post_ends_the_session_and_is_audited(make_staff, signed_in):
    user = make_staff()
    client = signed_in(user)

    confirm = client.get("/logout")
    assert confirm.status_code == 200
    assert is_signed_in(client)

    response = client.post("/logout", follow=True)

    assert response.redirect_chain == [("/login", 302)]
    assert "You have signed out." in response.content.decode()
    assert not is_signed_in(client)
    assert AuditEvent.objects.filter(actor=user, action="auth.logout").count() == 1
