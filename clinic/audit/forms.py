"""The activity log's filter form: checks the shape of the query string and turns it into
``clinic.audit.selectors.ActivityFilters``. Every bad value gets a message, never a 500."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django import forms
from django.apps import apps

from clinic.audit.selectors import ActivityFilters, activity_users
from clinic.models import User

_ACTION_RE = re.compile(r"^[a-z0-9_.:-]*$")
# Outside this range a date is a typo, and far-off years overflow time-zone arithmetic.
_EARLIEST = date(1970, 1, 1)
_LATEST = date(2999, 12, 31)
_MAX_ID = 2**63 - 1
_CURSOR_RE = re.compile(r"^[0-9]{1,19}$")


def known_object_types() -> list[str]:
    """Suggestions for the object-type filter: every model addressed by a public id."""
    return sorted(
        m._meta.label_lower
        for m in apps.get_models()
        if any(f.name == "public_id" for f in m._meta.concrete_fields)
    )


class _ActorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.full_name} ({obj.email})" if obj.full_name else obj.email


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date like 2025-03-31."},
    )


class ActivityFilterForm(forms.Form):
    actor = _ActorChoiceField(
        label="User",
        queryset=User.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label="Anyone",
        error_messages={"invalid_choice": "Choose a person from the list."},
    )
    action = forms.CharField(
        label="Action starts with",
        required=False,
        max_length=64,
        help_text="For example auth. or patient.viewed",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"max_length": "Actions are at most 64 characters."},
    )
    object_type = forms.CharField(
        label="Object type",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "object-types", "autocomplete": "off"}),
        error_messages={"max_length": "Object types are at most 64 characters."},
    )
    object_id = forms.CharField(
        label="Object id",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"max_length": "Object ids are at most 64 characters."},
    )
    date_from = _date_field("From")
    date_to = _date_field("To")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["actor"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = activity_users(user)

    def clean_action(self) -> str:
        value = self.cleaned_data["action"].strip().lower()
        if not _ACTION_RE.match(value):
            raise forms.ValidationError(
                "Actions are codes such as auth. or patient.viewed: "
                "letters, digits, dots and underscores only."
            )
        return value

    def clean_object_type(self) -> str:
        return self.cleaned_data["object_type"].strip().lower()

    def clean_object_id(self) -> str:
        return self.cleaned_data["object_id"].strip()

    def _clean_date(self, name: str) -> date | None:
        value: date | None = self.cleaned_data.get(name)
        if value is not None and not _EARLIEST <= value <= _LATEST:
            raise forms.ValidationError(
                f"Enter a date between {_EARLIEST:%Y} and {_LATEST:%Y}.", code="out_of_range"
            )
        return value

    def clean_date_from(self) -> date | None:
        return self._clean_date("date_from")

    def clean_date_to(self) -> date | None:
        return self._clean_date("date_to")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The “to” date must be on or after the “from” date.")
        # The paging cursors come from our own links, so a bad one is one general message.
        before, after = self._cursor("before"), self._cursor("after")
        if before is False or after is False or (before is not None and after is not None):
            raise forms.ValidationError(
                "That page link is not valid. Start again from the newest entries.",
                code="bad_cursor",
            )
        data["before"], data["after"] = before, after
        return data

    def _cursor(self, name: str) -> int | bool | None:
        """The cursor's id, None when absent, False when malformed."""
        raw = self.data.get(name)
        if raw in (None, ""):
            return None
        if not _CURSOR_RE.match(str(raw)) or int(raw) > _MAX_ID:
            return False
        return int(raw)

    def filters(self, tz: tzinfo) -> ActivityFilters:
        """The validated filters; dates are whole days in ``tz`` (the organization's zone)."""
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        return ActivityFilters(
            actor=data.get("actor"),
            action=data.get("action", ""),
            object_type=data.get("object_type", ""),
            object_id=data.get("object_id", ""),
            since=datetime.combine(start, time.min, tzinfo=tz) if start else None,
            until=datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz) if end else None,
        )
