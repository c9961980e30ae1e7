"""Forms of the organization screens (users, memberships, locations).

They check the shape of input and offer only the caller's own locations; the rules (unique
email, strong password, last-admin guard) live in ``clinic.organization.services`` and
``clinic.organization.services``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from clinic.models import Location, Role
from clinic.organization.services import timezone_names

# Most of our clinics are in the US; these come first in the time-zone list.
COMMON_TIMEZONES = [
    ("America/New_York", "Eastern (New York)"),
    ("America/Chicago", "Central (Chicago)"),
    ("America/Denver", "Mountain (Denver)"),
    ("America/Phoenix", "Mountain, no DST (Phoenix)"),
    ("America/Los_Angeles", "Pacific (Los Angeles)"),
    ("America/Anchorage", "Alaska (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii (Honolulu)"),
]


def timezone_choices() -> list[tuple[str, Any]]:
    common = {name for name, _ in COMMON_TIMEZONES}
    others = sorted(name for name in timezone_names() if name not in common)
    return [
        ("Common", COMMON_TIMEZONES),
        ("All time zones", [(name, name.replace("_", " ")) for name in others]),
    ]


class LocationChoiceField(forms.ModelChoiceField):
    """Locations addressed by public id (never the database key) in forms and URLs."""

    def __init__(self, queryset: QuerySet[Location], **kwargs: Any) -> None:
        kwargs.setdefault("to_field_name", "public_id")
        kwargs.setdefault("empty_label", "Choose a location")
        super().__init__(queryset=queryset, **kwargs)


role_field_kwargs: dict[str, Any] = {
    # No preselected role: a slip of the mouse must not make someone an administrator.
    "choices": [("", "Choose a role"), *Role.choices],
    "label": "Role",
    "error_messages": {
        "required": "Choose a role.",
        "invalid_choice": "Choose a role from the list.",
    },
}


class UserFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name or email", "autocomplete": "off"}
        ),
    )
    role = forms.ChoiceField(
        label="Role", required=False, choices=[("", "Any role"), *Role.choices]
    )
    location = LocationChoiceField(Location.objects.none(), label="Location", required=False)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), ("active", "Active"), ("inactive", "Deactivated")],
    )

    def __init__(self, *args: Any, locations: QuerySet[Location], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["location"]
        assert isinstance(field, LocationChoiceField)
        field.queryset = locations
        field.empty_label = "Any location"


class UserCreateForm(forms.Form):
    full_name = forms.CharField(
        label="Full name",
        max_length=150,
        error_messages={"required": "Enter the person's full name."},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    email = forms.EmailField(
        label="Email",
        max_length=254,
        help_text="They sign in with this address.",
        error_messages={
            "required": "Enter an email address.",
            "invalid": "Enter an email address like name@example.com.",
        },
        widget=forms.EmailInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    password = forms.CharField(
        label="Initial password",
        strip=False,
        max_length=1024,
        error_messages={"required": "Enter an initial password."},
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    location = LocationChoiceField(
        Location.objects.none(),
        label="Location",
        error_messages={"required": "Choose the location they work at."},
    )
    role = forms.ChoiceField(**role_field_kwargs)

    def __init__(self, *args: Any, locations: QuerySet[Location], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["location"]
        assert isinstance(field, LocationChoiceField)
        field.queryset = locations
        self.fields["password"].help_text = (
            "At least 12 characters; not a common password, not only digits, and not like "
            "their name or email. Tell it to them in person. At their first sign-in they "
            "set up an authenticator app."
        )

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


class UserEditForm(forms.Form):
    full_name = forms.CharField(
        label="Full name",
        max_length=150,
        error_messages={"required": "Enter the person's full name."},
    )


class MembershipAddForm(forms.Form):
    location = LocationChoiceField(
        Location.objects.none(),
        label="Location",
        error_messages={"required": "Choose a location."},
    )
    role = forms.ChoiceField(**role_field_kwargs)

    def __init__(self, *args: Any, locations: QuerySet[Location], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["location"]
        assert isinstance(field, LocationChoiceField)
        field.queryset = locations


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(**{**role_field_kwargs, "choices": Role.choices})


class LocationForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=200, error_messages={"required": "Enter the location's name."}
    )
    kind = forms.ChoiceField(label="Kind", choices=Location.Kind.choices)
    timezone = forms.ChoiceField(
        label="Time zone",
        help_text="Appointments and the day's schedule at this location use its local time.",
    )
    address = forms.CharField(
        label="Address", max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    phone = forms.CharField(
        label="Phone",
        max_length=24,
        required=False,
        help_text="International format, for example +1 617 555 0142.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timezone = self.fields["timezone"]
        assert isinstance(timezone, forms.ChoiceField)
        timezone.choices = timezone_choices()
