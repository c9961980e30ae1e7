"""Portal forms of comms. They parse input; the services decide."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django import forms

from clinic.phones import phone_or_none
from comms.messaging.services import SMS_MAX_CHARS
from comms.models import CommsSettings, Gateway


class SmsSendForm(forms.Form):
    template = forms.ChoiceField(label="Template", required=False)
    body = forms.CharField(
        label="Message",
        required=False,
        max_length=SMS_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": SMS_MAX_CHARS}),
    )
    # One per rendered form: a double submit is the same message (the dedupe key).
    nonce = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def __init__(
        self, *args: Any, templates: Sequence[tuple[str, str]] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["template"]
        field.choices = [("", "Free text"), *templates]
        if not self.is_bound:
            self.initial["nonce"] = uuid.uuid4()

    def clean(self) -> dict:
        data = super().clean() or {}
        if not data.get("template") and not (data.get("body") or "").strip():
            raise forms.ValidationError("Write a message or choose a template.")
        return data


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=120)
    key = forms.SlugField(
        max_length=60, help_text="Short code used by reminders, e.g. appointment_reminder"
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=SMS_MAX_CHARS)


class CommsSettingsForm(forms.Form):
    sms_gateway = forms.ChoiceField(
        label="Text messages go through",
        choices=[
            (Gateway.DEVELOPMENT, "Development gateway (recorded, not really sent)"),
            (Gateway.TWILIO, "Twilio"),
        ],
    )
    twilio_credentials_from_environment = forms.BooleanField(
        label="Read the Twilio account from the server environment", required=False
    )
    twilio_account_sid = forms.RegexField(
        label="Account SID",
        regex=r"^(AC[0-9a-fA-F]{32})?$",
        required=False,
        error_messages={"invalid": "An Account SID is AC followed by 32 hexadecimal characters."},
    )
    twilio_auth_token = forms.CharField(
        label="Auth token",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the saved token.",
        max_length=128,
    )
    twilio_from_number = forms.CharField(label="Sender number", required=False, max_length=40)
    twilio_messaging_service_sid = forms.RegexField(
        label="Messaging service SID (instead of a number)",
        regex=r"^(MG[0-9a-fA-F]{32})?$",
        required=False,
        error_messages={"invalid": "A Messaging Service SID is MG followed by 32 hex characters."},
    )
    help_reply = forms.CharField(label="Answer to HELP", required=False, max_length=320)

    def __init__(self, *args: Any, instance: CommsSettings | None = None, **kwargs: Any) -> None:
        self.instance = instance
        super().__init__(*args, **kwargs)

    def clean_twilio_from_number(self) -> str:
        raw = self.cleaned_data.get("twilio_from_number", "")
        if not raw:
            return ""
        number = phone_or_none(raw)
        if number is None:
            raise forms.ValidationError("Enter a valid phone number, e.g. +1 201 555 0100.")
        return number

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("sms_gateway") == Gateway.TWILIO and not data.get(
            "twilio_credentials_from_environment"
        ):
            has_token = bool(data.get("twilio_auth_token")) or bool(
                self.instance and self.instance.twilio_auth_token
            )
            if not data.get("twilio_account_sid") or not has_token:
                raise forms.ValidationError("Twilio needs an Account SID and an auth token.")
        if data.get("sms_gateway") == Gateway.TWILIO and not (
            data.get("twilio_from_number") or data.get("twilio_messaging_service_sid")
        ):
            raise forms.ValidationError("Twilio needs a sender number or a messaging service.")
        return data
