"""Sign-in, second factor, session lifetime and session revocation.

Sign-in is two steps. The password step (``sign_in_check_password``) goes through
``django.contrib.auth.authenticate`` so django-axes counts every attempt per (email, IP);
on success the session only holds a short-lived *pre-auth* marker, never a login. The
second step (``otp_verify`` or ``totp_enrol_confirm``) then calls ``sign_in_finish``,
which is the only place a session becomes signed in.

Failure paths write their audit row (and django-otp's throttle counter) in a transaction
that commits *before* the domain error is raised, so a refusal is never rolled back.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from axes.helpers import get_failure_limit
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.audit.services import audit_record
from clinic.auth.sessions import SESSION_AUTH_AT, SESSION_LAST_SEEN
from clinic.auth.throttle import (
    current_password_limit,
    sign_in_limit,
    throttle_clear,
    throttle_fail,
    throttle_wait,
    wait_phrase,
)
from clinic.errors import ApplicationError
from clinic.models import User
from clinic.realtime.services import user_sessions_check

if TYPE_CHECKING:
    from django_otp.models import Device

# Requests that report on the session without counting as activity.
# The realtime client refetches the notification snapshot after a reconnect; that is not the
# person doing anything.
_PASSIVE_PATHS = ("/session/status", "/notifications/snapshot", "/patients/csv/status")
# Progress polls whose URL names the job: a background patient export's status.
_PASSIVE_PATTERNS = (re.compile(r"/patients/csv/exports/[0-9a-f-]{36}/status"),)


def is_passive_request(path: str) -> bool:
    """Whether a request to ``path`` only reports on something, not counting as activity."""
    return path in _PASSIVE_PATHS or any(p.fullmatch(path) for p in _PASSIVE_PATTERNS)


# The password step is good for this long; then the person starts again.
PREAUTH_SESSION_KEY = "tandem_preauth"
PREAUTH_SECONDS = 5 * 60
# Freshly generated backup codes wait here until the one page that shows them.
BACKUP_CODES_SESSION_KEY = "tandem_backup_codes_once"
BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
# The backend that actually checked the password (axes only counts attempts).
_PASSWORD_BACKEND = "django.contrib.auth.backends.ModelBackend"  # noqa: S105 (a class path)


class SignInRefused(ApplicationError):
    """Wrong email or password, or locked out. One message either way."""

    code = "bad_credentials"
    status = 400


class SignInStepExpired(ApplicationError):
    """No password step in this session, or it is too old."""

    code = "step_expired"
    status = 400


class CodeRefused(ApplicationError):
    """A TOTP or backup code that was wrong, reused, or tried too soon after a wrong one."""

    code = "bad_code"
    status = 400


class PasswordRejected(ApplicationError):
    """``extra["field"]`` names the form field; ``extra["messages"]`` lists every reason."""

    code = "password_rejected"
    status = 400


_CODE_MESSAGES = {
    "bad_code": "That code is not correct. Check that your phone's clock is right and "
    "enter the code shown now.",
    "reused_code": "That code was already used. Wait for the next one.",
    "bad_backup_code": "That backup code is not valid or has already been used.",
    "no_device": "No authenticator is set up for this account. Sign in again to set one up.",
}


# ---------------------------------------------------------------- session lifetime


def session_expire_if_due(request: HttpRequest) -> HttpResponse | None:
    """Sign out a session that has been idle too long or has outlived its absolute lifetime.

    Returns the response to send instead of the view, or None to carry on. Any other request
    of a signed-in user counts as activity.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    now = int(time.time())
    auth_at = request.session.get(SESSION_AUTH_AT)
    last_seen = request.session.get(SESSION_LAST_SEEN)
    reason = None
    if auth_at is None or last_seen is None:
        reason = "unknown_session"
    elif now - int(auth_at) > settings.SESSION_ABSOLUTE_SECONDS:
        reason = "absolute_lifetime"
    elif now - int(last_seen) > settings.IDLE_TIMEOUT_SECONDS:
        reason = "idle"
    if reason is None:
        if not is_passive_request(request.path):
            request.session[SESSION_LAST_SEEN] = now
        return None
    audit_record(actor=user, action="auth.session_expired", details={"reason": reason})
    sessions_revalidate(user=user)
    logout(request)
    login_url = reverse("clinic:login") + "?expired=1"
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = login_url
        return response
    if request.path.startswith("/api/") or (
        request.accepts("application/json") and not request.accepts("text/html")
    ):
        return JsonResponse(
            {
                "error": {
                    "code": "session_expired",
                    "message": "Your session has ended. Please sign in again.",
                }
            },
            status=401,
        )
    return HttpResponseRedirect(login_url)


def session_remaining(request: HttpRequest) -> int:
    """Seconds until this signed-in session ends (idle or absolute, whichever is first)."""
    now = int(time.time())
    auth_at = int(request.session.get(SESSION_AUTH_AT, 0))
    last_seen = int(request.session.get(SESSION_LAST_SEEN, 0))
    idle_left = settings.IDLE_TIMEOUT_SECONDS - (now - last_seen)
    absolute_left = settings.SESSION_ABSOLUTE_SECONDS - (now - auth_at)
    return max(0, min(idle_left, absolute_left))


def sessions_revalidate(*, user: User) -> None:
    """Ask every open socket of ``user`` to re-check its session, once this transaction commits.

    HTTP sessions notice a password change or deactivation on their next request by
    themselves (Django's session auth hash, ``is_active``); a socket only looks when told.
    """
    # Every channel layer: the guided staff console listens on a layer of its own.
    user_sessions_check(user.pk)


# ---------------------------------------------------------------- step 1: password


def _user_by_email(email: str) -> User | None:
    return User.objects.filter(email=email).select_related("organization").first()


def sign_in_check_password(*, request: HttpRequest, email: str, password: str) -> User:
    """The password step. Raises ``SignInRefused`` (code ``locked_out`` when axes says so,
    ``account_throttled`` while the account's own wait runs: clinic.auth.throttle).

    The audit row never holds the typed email; when it matches an account that account is
    the actor, so its organization sees the failure.
    """
    limit = sign_in_limit()
    refusal: SignInRefused
    # One attempt per account at a time (the count's row is locked through the check): a burst
    # of parallel guesses as a wait ends is checked one by one, and the first wrong one starts
    # the next wait. Refusals are committed before they are raised.
    with transaction.atomic():
        wait = throttle_wait(limit=limit, subject=email)
        if wait:
            # The password is not checked during the wait: the right one does not get in either.
            audit_record(
                actor=_user_by_email(email),
                action="auth.login_throttled",
                details={"reason": "account_limit", "wait": wait},
            )
            refusal = SignInRefused(
                f"Too many attempts for this account; try again in {wait_phrase(wait)}.",
                code="account_throttled",
                extra={"retry_after": wait},
            )
        else:
            user = authenticate(request, email=email, password=password)
            if user is not None:
                throttle_clear(limit=limit, subject=email)
                return user
            locked = bool(getattr(request, "axes_locked_out", False))
            if not locked:
                # The password was checked and wrong: it counts for the account, whatever the
                # address.
                throttle_fail(limit=limit, subject=email)
            # A refusal of an already locked-out pair is audited as ``auth.locked_out`` by
            # clinic.auth.signals; the password was never checked, so it is not a "bad password".
            if not (locked and axes_refused_while_locked(request)):
                audit_record(
                    actor=_user_by_email(email),
                    action="auth.login_failed",
                    details={"reason": "bad_password"},
                )
            refusal = SignInRefused(
                "Email or password is incorrect.",
                code="locked_out" if locked else "bad_credentials",
            )
    raise refusal


def axes_refused_while_locked(request: HttpRequest) -> bool:
    """Was this attempt refused because its (email, IP) pair was already locked out?

    axes counts an attempt during lockout (pushing the cool-off back) unless
    AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off, in which case it does not count
    it at all; either way the attempt that *reaches* the limit is the only one whose count
    equals it.
    """
    failures = getattr(request, "axes_failures_since_start", None)
    return failures is None or failures > get_failure_limit(request, None)


def sign_in_lockout_record(*, email: str, reason: str) -> None:
    """Audit a lockout (called from axes' ``user_locked_out`` signal)."""
    audit_record(actor=_user_by_email(email), action="auth.locked_out", details={"reason": reason})


@dataclass(frozen=True)
class PreAuth:
    user: User
    next_url: str


def preauth_begin(request: HttpRequest, *, user: User, next_url: str) -> None:
    """Remember that ``user`` passed the password step, in a fresh session key."""
    if request.user.is_authenticated:
        # A different sign-in in a signed-in browser starts from a clean session.
        logout(request)
    request.session.cycle_key()
    request.session[PREAUTH_SESSION_KEY] = {
        "uid": user.pk,
        "at": int(time.time()),
        "next": next_url,
        # A password change during the step invalidates it.
        "hash": user.get_session_auth_hash(),
    }


def preauth_get(request: HttpRequest) -> PreAuth:
    """The user who passed the password step in this session. Raises ``SignInStepExpired``."""
    marker = request.session.get(PREAUTH_SESSION_KEY)
    if not isinstance(marker, dict):
        raise SignInStepExpired(
            "Please sign in with your email and password first.", code="missing"
        )
    uid = marker.get("uid")
    user = User.objects.filter(pk=uid, is_active=True).first() if isinstance(uid, int) else None
    fresh = int(time.time()) - int(marker.get("at", 0)) <= PREAUTH_SECONDS
    if user is None or not fresh or marker.get("hash") != user.get_session_auth_hash():
        request.session.pop(PREAUTH_SESSION_KEY, None)
        audit_record(actor=user, action="auth.otp_failed", details={"reason": "step_expired"})
        raise SignInStepExpired(
            "Your sign-in took too long, so we stopped it for your security. "
            "Enter your email and password again.",
            code="expired",
        )
    return PreAuth(user=user, next_url=str(marker.get("next") or ""))


def preauth_clear(request: HttpRequest) -> None:
    request.session.pop(PREAUTH_SESSION_KEY, None)


# ---------------------------------------------------------------- step 2: codes


def _throttle_message(device: Device) -> str | None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    until = (info or {}).get("locked_until")
    seconds = max(1, int((until - timezone.now()).total_seconds()) + 1) if until else 1
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many wrong codes. Wait {seconds} {unit}, then try again."


def _totp_was_used(device: TOTPDevice, token: str) -> bool:
    """Would ``token`` have matched a time step at or before the last accepted one?

    django-otp refuses such a token without saying why; people deserve to know that the
    code was right but spent, so they wait for the next one instead of retyping.
    """
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    now_t = totp.t()
    value = int(token)
    return any(
        t <= device.last_t and hotp(device.bin_key, t, digits=device.digits) == value
        for t in range(now_t - device.tolerance, now_t + device.tolerance + 1)
    )


def _totp_check(device: TOTPDevice, token: str) -> tuple[str | None, str]:
    """(None, "") when accepted; else (reason code, message). Saves device state."""
    throttled = _throttle_message(device)
    if throttled:
        return "throttled", throttled
    if _totp_was_used(device, token):
        return "reused_code", _CODE_MESSAGES["reused_code"]
    if device.verify_token(token):
        return None, ""
    return "bad_code", _CODE_MESSAGES["bad_code"]


def _refuse(*, actor: User, reason: str, message: str, method: str) -> CodeRefused:
    audit_record(
        actor=actor, action="auth.otp_failed", details={"reason": reason, "method": method}
    )
    return CodeRefused(message, code=reason)


def totp_device_pending(*, actor: User) -> TOTPDevice:
    """The not-yet-confirmed authenticator ``actor`` is enrolling (created on first call).

    Refuses when a confirmed one exists: the password alone must never be enough to
    replace an enrolled authenticator.
    """
    with transaction.atomic():
        if TOTPDevice.objects.filter(user=actor, confirmed=True).exists():
            raise ApplicationError("An authenticator is already set up.", code="already_enrolled")
        device = TOTPDevice.objects.filter(user=actor, confirmed=False).order_by("pk").first()
        if device is None:
            device = TOTPDevice.objects.create(user=actor, name=TOTP_DEVICE_NAME, confirmed=False)
        return device


def totp_enrol_confirm(*, actor: User, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending authenticator with a code from it and issue backup codes."""
    with transaction.atomic():
        if TOTPDevice.objects.filter(user=actor, confirmed=True).exists():
            raise ApplicationError("An authenticator is already set up.", code="already_enrolled")
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=actor, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None:
            refusal = _refuse(
                actor=actor, reason="no_device", message=_CODE_MESSAGES["no_device"], method="totp"
            )
        else:
            reason, message = _totp_check(device, code)
            if reason is None:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                TOTPDevice.objects.filter(user=actor, confirmed=False).delete()
                audit_record(actor=actor, action="auth.totp_enrolled", details={"device": "totp"})
                return device, backup_codes_generate(actor=actor)
            refusal = _refuse(actor=actor, reason=reason, message=message, method="totp")
    raise refusal


def otp_verify(*, actor: User, code: str) -> Device:
    """Check a six-digit TOTP code or a backup code; return the device that accepted it.

    Devices are locked for the check, so the same code sent twice at once passes once.
    """
    method = "totp" if code.isdigit() else "backup_code"
    reason: str | None
    with transaction.atomic():
        if method == "totp":
            totp = (
                TOTPDevice.objects.select_for_update()
                .filter(user=actor, confirmed=True)
                .order_by("pk")
                .first()
            )
            if totp is None:
                reason, message = "no_device", _CODE_MESSAGES["no_device"]
            else:
                reason, message = _totp_check(totp, code)
                if reason is None:
                    return totp
        else:
            backup = (
                StaticDevice.objects.select_for_update()
                .filter(user=actor, confirmed=True, name=BACKUP_DEVICE_NAME)
                .first()
            )
            throttled = _throttle_message(backup) if backup is not None else None
            if throttled:
                reason, message = "throttled", throttled
            elif backup is not None and backup.verify_token(code):
                audit_record(
                    actor=actor,
                    action="auth.backup_code_used",
                    details={"remaining": backup.token_set.count()},
                )
                return backup
            else:
                reason, message = "bad_backup_code", _CODE_MESSAGES["bad_backup_code"]
        refusal = _refuse(actor=actor, reason=reason, message=message, method=method)
    raise refusal


def backup_codes_generate(*, actor: User) -> list[str]:
    """Replace ``actor``'s backup codes with ten new single-use ones and return them.

    They are shown once; django-otp keeps them to compare and deletes each when used.
    """
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=actor, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes: set[str] = set()
        while len(codes) < BACKUP_CODE_COUNT:
            codes.add(StaticToken.random_token())
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
        audit_record(
            actor=actor, action="auth.backup_codes_generated", details={"count": len(codes)}
        )
        return sorted(codes)


def backup_codes_regenerate(*, actor: User, code: str) -> list[str]:
    """New backup codes, for someone who proves they still hold the authenticator."""
    reason: str | None
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=actor, confirmed=True)
            .order_by("pk")
            .first()
        )
        if device is None:
            reason, message = "no_device", _CODE_MESSAGES["no_device"]
        else:
            reason, message = _totp_check(device, code)
            if reason is None:
                return backup_codes_generate(actor=actor)
        refusal = _refuse(actor=actor, reason=reason, message=message, method="totp")
    raise refusal


def backup_codes_remaining(*, user: User) -> int:
    return StaticToken.objects.filter(
        device__user=user, device__name=BACKUP_DEVICE_NAME, device__confirmed=True
    ).count()


def format_backup_code(code: str) -> str:
    """``abcdefgh`` -> ``abcd-efgh``: easier to copy by hand. Input ignores the dash."""
    return f"{code[:4]}-{code[4:]}"


# ---------------------------------------------------------------- finishing, leaving


def sign_in_finish(request: HttpRequest, *, user: User, device: Device, method: str) -> None:
    """Turn the pre-auth session into a signed-in, OTP-verified one."""
    preauth_clear(request)
    login(request, user, backend=_PASSWORD_BACKEND)
    otp_login(request, device)
    now = int(time.time())
    request.session[SESSION_AUTH_AT] = now
    request.session[SESSION_LAST_SEEN] = now
    audit_record(actor=user, action="auth.login", details={"method": method})


def sign_out(request: HttpRequest) -> None:
    """End this session; its sockets close when they re-check it."""
    user = request.user
    if not user.is_authenticated:
        logout(request)
        return
    audit_record(actor=user, action="auth.logout")
    logout(request)
    # After the session is gone, so a socket that re-checks right away finds it ended.
    sessions_revalidate(user=user)


# ---------------------------------------------------------------- password


def password_change(*, actor: User, current_password: str, new_password: str) -> None:
    """Change ``actor``'s password. Their other sessions and sockets end.

    The caller keeps its own session with ``update_session_auth_hash``.
    """
    refusal: PasswordRejected | None = None
    limit, subject = current_password_limit(), f"user:{actor.pk}"
    with transaction.atomic():
        # Locked through the check: parallel guesses are counted one by one.
        wait = throttle_wait(limit=limit, subject=subject)
        if wait:
            # Not checked during the wait: a stolen session cannot keep guessing.
            message = f"Too many wrong passwords; try again in {wait_phrase(wait)}."
            audit_record(
                actor=actor,
                action="auth.password_change_failed",
                details={"reason": "throttled", "wait": wait},
            )
            refusal = PasswordRejected(
                message,
                code="throttled",
                extra={"field": "current_password", "messages": [message], "retry_after": wait},
            )
        elif not actor.check_password(current_password):
            audit_record(
                actor=actor,
                action="auth.password_change_failed",
                details={"reason": "bad_current_password"},
            )
            throttle_fail(limit=limit, subject=subject)
            refusal = PasswordRejected(
                "Your current password is not correct.",
                extra={
                    "field": "current_password",
                    "messages": ["Your current password is not correct."],
                },
            )
        else:
            # The right current password: the count of wrong ones starts again.
            throttle_clear(limit=limit, subject=subject)
            try:
                validate_password(new_password, user=actor)
            except ValidationError as exc:
                audit_record(
                    actor=actor,
                    action="auth.password_change_failed",
                    details={"reason": "policy", "rules": [e.code or "" for e in exc.error_list]},
                )
                refusal = PasswordRejected(
                    "Choose a stronger password.",
                    extra={"field": "new_password1", "messages": list(exc.messages)},
                )
            else:
                actor.set_password(new_password)
                actor.save(update_fields=["password"])
                audit_record(actor=actor, action="auth.password_changed")
                sessions_revalidate(user=actor)
    if refusal is not None:
        raise refusal
