"""Sign-in, second-factor and password forms. They check the shape of input; the rules
(is the password right, is the code valid, is the new password strong) live in
``clinic.auth.services`` so every entry point applies them the same way."""

from __future__ import annotations

import re
from typing import Any

from django import forms

_TOTP_RE = re.compile(r"^\d{6}$")
# django-otp's static tokens are 8 characters of lower-case base32.
_BACKUP_RE = re.compile(r"^[a-z2-7]{8}$")


def normalize_code(raw: str) -> str:
    """People paste codes with spaces or dashes ("123 456", "abcd-efgh"); ignore them."""
    return re.sub(r"[\s-]", "", raw or "").lower()


class _Form(forms.Form):
    """Django marks invalid fields with aria-invalid and points aria-describedby at
    ``<auto_id>_error``; our field template gives the message that id."""


class LoginForm(_Form):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        error_messages={
            "required": "Enter your email address.",
            "invalid": "Enter an email address like name@example.com.",
        },
        widget=forms.EmailInput(
            attrs={
                "autocomplete": "username",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )
    password = forms.CharField(
        label="Password",
        max_length=1024,
        strip=False,
        error_messages={"required": "Enter your password."},
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    next = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class TotpCodeForm(_Form):
    """A six-digit code from the authenticator app (enrolment, backup-code renewal)."""

    code = forms.CharField(
        label="6-digit code",
        max_length=20,
        error_messages={"required": "Enter the 6-digit code from your authenticator app."},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": r"[0-9 ]*",
                "autocapitalize": "none",
            }
        ),
    )

    def clean_code(self) -> str:
        code = normalize_code(self.cleaned_data["code"])
        if not _TOTP_RE.match(code):
            raise forms.ValidationError("Enter the 6 digits shown in your authenticator app.")
        return code


class VerifyForm(_Form):
    """The second step of sign-in: a code from the app, or one of the backup codes."""

    code = forms.CharField(
        label="Code from your authenticator app, or a backup code",
        max_length=40,
        error_messages={"required": "Enter the 6-digit code from your authenticator app."},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )

    def clean_code(self) -> str:
        code = normalize_code(self.cleaned_data["code"])
        if not (_TOTP_RE.match(code) or _BACKUP_RE.match(code)):
            raise forms.ValidationError(
                "Enter the 6 digits from your authenticator app, or an 8-character backup code."
            )
        return code


class PasswordChangeForm(_Form):
    current_password = forms.CharField(
        label="Current password",
        max_length=1024,
        strip=False,
        error_messages={"required": "Enter your current password."},
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password1 = forms.CharField(
        label="New password",
        max_length=1024,
        strip=False,
        help_text="At least 12 characters. Not a common password, not like your name or email.",
        error_messages={"required": "Enter a new password."},
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label="New password again",
        max_length=1024,
        strip=False,
        error_messages={"required": "Enter the new password a second time."},
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        one, two = data.get("new_password1"), data.get("new_password2")
        if one and two and one != two:
            self.add_error("new_password2", "The two new passwords do not match.")
        return data
