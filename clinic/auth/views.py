"""Sign-in (password, then TOTP or a backup code), enrolment, sign-out, session status,
and the account page (authenticator, backup codes, password)."""

from __future__ import annotations

import base64
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.auth import services as auth_services
from clinic.auth.forms import LoginForm, PasswordChangeForm, TotpCodeForm, VerifyForm
from clinic.auth.services import (
    BACKUP_CODES_SESSION_KEY,
    CodeRefused,
    PasswordRejected,
    SignInRefused,
    SignInStepExpired,
)
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.web import actor

_GENERIC_SIGN_IN_ERROR = "Email or password is incorrect."


def _safe_next(request: HttpRequest, candidate: Any) -> str:
    """``candidate`` if it is a path on this site, else ''. Never back into sign-in itself."""
    if not isinstance(candidate, str) or not candidate:
        return ""
    if not url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    if candidate.startswith(("/login", "/logout")):
        return ""
    return candidate


def _verified(user: Any) -> bool:
    """Signed in with password and second factor (``is_verified`` comes from OTPMiddleware)."""
    return bool(user.is_authenticated and getattr(user, "is_verified", lambda: False)())


def _go_next(request: HttpRequest, next_url: str) -> HttpResponse:
    return redirect(_safe_next(request, next_url) or reverse("clinic:dashboard"))


def _restart(request: HttpRequest, exc: SignInStepExpired) -> HttpResponse:
    messages.error(request, exc.message)
    return redirect("clinic:login")


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode("ascii")


# ---------------------------------------------------------------- step 1: password


@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET" and _verified(request.user):
        return _go_next(request, next_url)
    form = LoginForm(request.POST or None, initial={"next": next_url})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                user = auth_services.sign_in_check_password(
                    request=request,
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password"],
                )
            except SignInRefused as exc:
                if exc.code == "locked_out":
                    # axes' middleware would swap this in anyway; say it here for readers.
                    return lockout_response(request)
                if exc.code == "account_throttled":
                    form.add_error(None, exc.message)
                    context = {"form": form, "expired": False}
                    page = render(request, "clinic/auth/login.html", context, status=429)
                    page["Retry-After"] = str(exc.extra["retry_after"])
                    return page
                form.add_error(None, _GENERIC_SIGN_IN_ERROR)
            else:
                auth_services.preauth_begin(request, user=user, next_url=next_url)
                if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                    return redirect("clinic:login_verify")
                return redirect("clinic:login_enrol")
    context = {"form": form, "expired": request.GET.get("expired") == "1"}
    return render(request, "clinic/auth/login.html", context, status=status)


# ---------------------------------------------------------------- step 2: code


@never_cache
@require_http_methods(["GET", "POST"])
def login_verify(request: HttpRequest) -> HttpResponse:
    try:
        pre = auth_services.preauth_get(request)
    except SignInStepExpired as exc:
        return _restart(request, exc)
    if not TOTPDevice.objects.filter(user=pre.user, confirmed=True).exists():
        return redirect("clinic:login_enrol")
    form = VerifyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                device = auth_services.otp_verify(actor=pre.user, code=form.cleaned_data["code"])
            except CodeRefused as exc:
                form.add_error("code", exc.message)
            else:
                method = "totp" if isinstance(device, TOTPDevice) else "backup_code"
                auth_services.sign_in_finish(request, user=pre.user, device=device, method=method)
                if method == "backup_code":
                    left = auth_services.backup_codes_remaining(user=pre.user)
                    messages.warning(
                        request,
                        f"You signed in with a backup code. {left} left; "
                        "you can make new ones on your account page.",
                    )
                return _go_next(request, pre.next_url)
    return render(request, "clinic/auth/verify.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def login_enrol(request: HttpRequest) -> HttpResponse:
    try:
        pre = auth_services.preauth_get(request)
    except SignInStepExpired as exc:
        return _restart(request, exc)
    form = TotpCodeForm(request.POST or None)
    status = 200
    try:
        if request.method == "POST":
            status = 400
            if form.is_valid():
                try:
                    device, codes = auth_services.totp_enrol_confirm(
                        actor=pre.user, code=form.cleaned_data["code"]
                    )
                except CodeRefused as exc:
                    form.add_error("code", exc.message)
                else:
                    auth_services.sign_in_finish(
                        request, user=pre.user, device=device, method="totp_enrolment"
                    )
                    request.session[BACKUP_CODES_SESSION_KEY] = {
                        "codes": codes,
                        "next": pre.next_url,
                    }
                    return redirect("clinic:login_backup_codes")
        device = auth_services.totp_device_pending(actor=pre.user)
    except ApplicationError as exc:
        if exc.code != "already_enrolled":
            raise
        return redirect("clinic:login_verify")
    context = {
        "form": form,
        "qr_data_uri": _qr_data_uri(device.config_url),
        "secret": base64.b32encode(device.bin_key).decode("ascii"),
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "clinic/auth/enrol.html", context, status=status)


def _show_backup_codes(request: HttpRequest, *, default_next: str) -> HttpResponse:
    """Show freshly made backup codes once. A reload finds them gone, by design."""
    stash = request.session.pop(BACKUP_CODES_SESSION_KEY, None)
    codes: list[str] = []
    next_url = default_next
    if isinstance(stash, dict):
        codes = [auth_services.format_backup_code(c) for c in stash.get("codes", [])]
        next_url = _safe_next(request, stash.get("next")) or default_next
    return render(request, "clinic/auth/backup_codes.html", {"codes": codes, "next_url": next_url})


@never_cache
@require_GET
@staff_required
def login_backup_codes(request: HttpRequest) -> HttpResponse:
    return _show_backup_codes(request, default_next=reverse("clinic:dashboard"))


# ---------------------------------------------------------------- leaving


@never_cache
@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if not request.user.is_authenticated:
            return redirect("clinic:login")
        return render(request, "clinic/auth/logout.html")
    was_signed_in = request.user.is_authenticated
    auth_services.sign_out(request)
    if was_signed_in:
        messages.info(request, "You have signed out.")
    return redirect("clinic:login")


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE. axes calls it with (request, response, credentials) or
    (request, credentials) depending on the path; we need neither."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return render(request, "clinic/auth/locked.html", {"cooloff_minutes": minutes}, status=429)


# ---------------------------------------------------------------- session status


def _session_json(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse(
            {
                "remaining": 0,
                "warning": settings.IDLE_WARNING_SECONDS,
                "error": {"code": "signed_out", "message": "You are signed out."},
            },
            status=401,
        )
    return JsonResponse(
        {
            "remaining": auth_services.session_remaining(request),
            "warning": settings.IDLE_WARNING_SECONDS,
        }
    )


@never_cache
@require_GET
def session_status(request: HttpRequest) -> JsonResponse:
    """Passive: SessionLifetimeMiddleware does not count this path as activity."""
    return _session_json(request)


@never_cache
@require_POST
def session_keepalive(request: HttpRequest) -> JsonResponse:
    """Active: reaching the view already moved the idle clock (SessionLifetimeMiddleware)."""
    return _session_json(request)


# ---------------------------------------------------------------- account


def _account_page(
    request: HttpRequest, *, codes_form: TotpCodeForm | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    context = {
        "totp_device": device,
        "backup_codes_left": auth_services.backup_codes_remaining(user=user),  # type: ignore[arg-type]
        "codes_form": codes_form or TotpCodeForm(),
    }
    return render(request, "clinic/auth/account.html", context, status=status)


@never_cache
@require_GET
@staff_required
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def account_backup_codes(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _show_backup_codes(request, default_next=reverse("clinic:account"))
    form = TotpCodeForm(request.POST)
    if form.is_valid():
        try:
            codes = auth_services.backup_codes_regenerate(
                actor=actor(request),
                code=form.cleaned_data["code"],
            )
        except CodeRefused as exc:
            form.add_error("code", exc.message)
        else:
            request.session[BACKUP_CODES_SESSION_KEY] = {
                "codes": codes,
                "next": reverse("clinic:account"),
            }
            return redirect("clinic:account_backup_codes")
    return _account_page(request, codes_form=form, status=400)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def account_password(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            auth_services.password_change(
                actor=actor(request),
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except PasswordRejected as exc:
            for message in exc.extra.get("messages", [exc.message]):
                form.add_error(exc.extra.get("field"), message)
            if exc.code == "throttled":
                page = render(request, "clinic/auth/password.html", {"form": form}, status=429)
                page["Retry-After"] = str(exc.extra["retry_after"])
                return page
        else:
            # Keeps this session; every other session's stored hash no longer matches.
            update_session_auth_hash(request, request.user)  # type: ignore[arg-type]
            messages.success(
                request, "Your password has been changed. Other devices have been signed out."
            )
            return redirect("clinic:account")
    status = 400 if request.method == "POST" else 200
    return render(request, "clinic/auth/password.html", {"form": form}, status=status)
