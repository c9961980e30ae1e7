"""Forms of the Gmail pages. They parse and bound input; the services decide."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from comms.gmail.models import GmailMailbox
from comms.models import Channel


class ConnectForm(forms.Form):
    kind = forms.ChoiceField(
        label="Which mailbox",
        choices=[
            (
                GmailMailbox.Kind.SHARED,
                "The clinic's shared mailbox (mail about a patient shows on their record)",
            ),
            (
                GmailMailbox.Kind.PERSONAL,
                "My own mailbox (mail not about a patient stays private to me)",
            ),
        ],
        initial=GmailMailbox.Kind.SHARED,
        widget=forms.RadioSelect,
    )


class _MailboxChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        suffix = " (shared)" if obj.kind == GmailMailbox.Kind.SHARED else " (yours)"
        return f"{obj.email_address}{suffix}"


class _DocumentChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        version = obj.current_version
        text = obj.get_category_display()
        if obj.description:
            text += f" · {obj.description[:60]}"
        if version is not None:
            text += f" ({version.kind.upper()}, {max(1, version.size // 1024)} KB)"
        return text


class ComposeForm(forms.Form):
    mailbox = _MailboxChoice(
        label="From",
        queryset=GmailMailbox.objects.none(),
        to_field_name="public_id",
        empty_label=None,
    )
    subject = forms.CharField(label="Subject", max_length=200)
    body = forms.CharField(
        label="Message", widget=forms.Textarea(attrs={"rows": 10}), max_length=50_000
    )
    documents = _DocumentChoice(
        label="Attach documents",
        queryset=None,
        to_field_name="public_id",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="From this patient's documents; at most 10, 18 MB together.",
    )
    # One value per opened form: a second submission of the same form sends nothing more.
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def __init__(self, *args: Any, mailboxes: list[GmailMailbox], documents: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        mailbox_field = self.fields["mailbox"]
        document_field = self.fields["documents"]
        assert isinstance(mailbox_field, forms.ModelChoiceField)
        assert isinstance(document_field, forms.ModelMultipleChoiceField)
        mailbox_field.queryset = GmailMailbox.objects.filter(
            pk__in=[m.pk for m in mailboxes]
        ).order_by("kind", "email_address")
        document_field.queryset = documents


class SearchForm(forms.Form):
    q = forms.CharField(label="Search messages", max_length=200, required=False)
    channel = forms.ChoiceField(
        label="In",
        required=False,
        choices=[
            ("", "Email and text messages"),
            (Channel.EMAIL, "Email"),
            (Channel.SMS, "Text messages"),
        ],
    )


class FlagsForm(forms.Form):
    read = forms.NullBooleanField(required=False)
    starred = forms.NullBooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("read") is None and data.get("starred") is None:
            raise forms.ValidationError("Nothing to change.")
        return data


class LinkForm(forms.Form):
    patient = forms.UUIDField(label="Patient")


class InboxFilterForm(forms.Form):
    show = forms.ChoiceField(
        required=False,
        choices=[("", "All"), ("unread", "Unread"), ("unassigned", "Not linked to a patient")],
    )
