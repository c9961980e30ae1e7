"""Forms of the patient pages. They check the shape of input and offer only the user's own
locations and physicians; the rules (phones, MRN uniqueness, lifecycle) live in
``patients.record.services`` and come back through ``form_apply_error``."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.db.models import Model, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.urls import reverse

from clinic.models import Location, User
from patients.models import ContactChannel, PatientFlag, PatientStatus, Payer, Physician, Sex
from patients.record.permissions import can_register_patient
from patients.record.selectors import (
    filter_locations_for,
    payers_for,
    physicians_for,
    technicians_for,
)

# Ten digits standing alone: an NPI inside whatever is in the picker's box.
_NPI_IN_TEXT = re.compile(r"(?<!\d)(\d{10})(?!\d)")
_DOCTOR = re.compile(r"^dr\.?\s+", re.IGNORECASE)
_EMAIL_IN_TEXT = re.compile(r"[^\s·]+@[^\s·]+")
PICKER_TEXT_MAX = 200
# A filter with at most this many choices is a plain <select>; with more, a picker.
SELECT_MAX = 30


def physician_label(physician: Physician) -> str:
    """What the physician picker shows for a physician and puts in its box once chosen. The
    NPI in it is what the server goes by when the form comes back."""
    return f"{physician} · NPI {physician.npi}"


def location_label(location: Location) -> str:
    return location.name  # unique in an organization


def technician_label(user: User) -> str:
    """A technician's name and email (two technicians may share a name; the email tells them
    apart and is what the server goes by)."""
    return f"{user.full_name} · {user.email}" if user.full_name else user.email


class LookupInput(forms.Widget):
    """A choice among an organization's rows, which may be many (locations, technicians,
    referring physicians). With at most ``select_max`` rows it is a plain <select>; with more,
    a text box that ``static/src/picker.js`` turns into search-as-you-type suggestions from
    ``lookup_url_name`` (a JSON endpoint). Without the script the box still takes a name (or
    an NPI, an email) and the server resolves it (``LookupField``). Rendering reads at most
    ``select_max + 1`` rows, however many the organization has (none when ``select_max`` is 0)."""

    template_name = "patients/widgets/lookup.html"

    def __init__(
        self,
        *,
        lookup_url_name: str,
        label: Callable[[Any], str],
        noun: str,
        select_max: int = 0,
        empty_label: str = "",
        attrs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(attrs)
        self.lookup_url_name = lookup_url_name
        self.label = label
        self.noun = noun
        self.select_max = select_max
        self.empty_label = empty_label
        self.placeholder = empty_label
        self.queryset: QuerySet[Any] | None = None

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, Model):
            return self.label(value)
        return super().format_value(value)

    def _options(self, value: Any) -> list[dict[str, Any]] | None:
        """The <select>'s options, or None when there are too many (the picker)."""
        if not self.select_max or self.queryset is None:
            return None
        rows = list(self.queryset[: self.select_max + 1])
        if len(rows) > self.select_max:
            return None
        current = str(getattr(value, "public_id", value or ""))
        return [
            {
                "value": str(row.public_id),
                "label": self.label(row),
                "selected": str(row.public_id) == current,
            }
            for row in rows
        ]

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        options = self._options(value)
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        widget["options"] = options
        widget["empty_label"] = self.empty_label
        widget["placeholder"] = self.placeholder
        widget["noun"] = self.noun
        if options is None:
            widget["lookup_url"] = reverse(self.lookup_url_name)
        return context


class LookupField(forms.Field):
    """One row of ``queryset``, given as a public id (the <select>, links, older pages) or as
    text: what the picker put in its box (the row's label) or what was typed by hand, which
    ``match_text`` resolves and must then match exactly one row."""

    noun = "item"
    lookup_url_name = ""
    row_label: Callable[[Any], str] = staticmethod(str)
    default_error_messages = {
        "too_long": "That is too long.",
        "none": "Nothing matches “%(text)s”. Type part of the name and choose from the "
        "suggestions.",
        "several": "Several match “%(text)s”. Choose one from the suggestions.",
    }

    def __init__(
        self,
        queryset: QuerySet[Any],
        *,
        select_max: int = 0,
        empty_label: str = "",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault(
            "widget",
            LookupInput(
                lookup_url_name=self.lookup_url_name,
                label=type(self).row_label,
                noun=self.noun,
                select_max=select_max,
                empty_label=empty_label,
            ),
        )
        super().__init__(**kwargs)
        self.queryset = queryset

    @property
    def queryset(self) -> QuerySet[Any]:
        return self._queryset

    @queryset.setter
    def queryset(self, queryset: QuerySet[Any]) -> None:
        self._queryset = queryset
        if isinstance(self.widget, LookupInput):
            self.widget.queryset = queryset

    def __deepcopy__(self, memo: dict[int, Any]) -> LookupField:
        result = super().__deepcopy__(memo)
        result.queryset = self._queryset  # the copied widget gets it too
        return result

    def clean(self, value: Any) -> Any:
        text = " ".join(str(value or "").split())
        if not text:
            super().clean("")  # "This field is required." when it is
            return None
        if len(text) > PICKER_TEXT_MAX:
            raise forms.ValidationError(self.error_messages["too_long"], code="too_long")
        found = list(self._matching(text)[:2])
        if len(found) == 1:
            return found[0]
        shown = text if len(text) <= 60 else text[:59] + "…"
        code = "several" if found else "none"
        raise forms.ValidationError(self.error_messages[code], code=code, params={"text": shown})

    def _matching(self, text: str) -> QuerySet[Any]:
        try:
            return self.queryset.filter(public_id=uuid.UUID(text))
        except ValueError:
            return self.match_text(self.queryset, text)

    def match_text(self, queryset: QuerySet[Any], text: str) -> QuerySet[Any]:
        raise NotImplementedError


class PhysicianPickerField(LookupField):
    """A referring physician: the picker's label (with the NPI), an NPI, a public id or a name
    typed by hand ("Dr Ana Ruiz", "Ruiz"). Always the picker: rendering reads no physicians."""

    noun = "physician"
    lookup_url_name = "patients:physician_lookup"
    row_label = staticmethod(physician_label)
    default_error_messages = {
        "too_long": "That is too long for a physician's name or NPI.",
        "none": "No referring physician matches “%(text)s”. Type part of the name or the NPI "
        "and choose from the suggestions.",
        "several": "Several referring physicians match “%(text)s”. Choose one from the "
        "suggestions or type their NPI.",
    }

    def __init__(self, queryset: QuerySet[Physician], **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Start typing a name or an NPI, then choose.")
        super().__init__(queryset, **kwargs)
        self.widget.attrs.setdefault("placeholder", "Name or NPI")

    def match_text(self, queryset: QuerySet[Any], text: str) -> QuerySet[Any]:
        npi = _NPI_IN_TEXT.search(text)
        if npi:
            return queryset.filter(npi=npi.group(1))
        name = _DOCTOR.sub("", text.split(" (")[0]).strip()
        full_name = Concat("first_name", Value(" "), "last_name")
        return queryset.alias(full_name=full_name).filter(
            Q(full_name__iexact=name) | Q(last_name__iexact=name)
        )


class LocationLookupField(LookupField):
    """A location: a <select> for a few, the picker (by name) for many."""

    noun = "location"
    lookup_url_name = "patients:location_lookup"
    row_label = staticmethod(location_label)
    default_error_messages = {
        "too_long": "That is too long for a location's name.",
        "none": "No location matches “%(text)s”. Type part of its name and choose from the "
        "suggestions.",
        "several": "Several locations match “%(text)s”. Choose one from the suggestions.",
    }

    def match_text(self, queryset: QuerySet[Any], text: str) -> QuerySet[Any]:
        return queryset.filter(name__iexact=text)


class TechnicianLookupField(LookupField):
    """A field technician: a <select> for a few, the picker (by name or email) for many."""

    noun = "technician"
    lookup_url_name = "patients:technician_lookup"
    row_label = staticmethod(technician_label)
    default_error_messages = {
        "too_long": "That is too long for a technician's name or email.",
        "none": "No technician matches “%(text)s”. Type part of the name and choose from the "
        "suggestions.",
        "several": "Several technicians match “%(text)s”. Choose one from the suggestions or "
        "type their email.",
    }

    def match_text(self, queryset: QuerySet[Any], text: str) -> QuerySet[Any]:
        email = _EMAIL_IN_TEXT.search(text)
        if email:
            return queryset.filter(email__iexact=email.group(0))
        return queryset.filter(full_name__iexact=text)


class PayerChoiceField(forms.ModelChoiceField):
    def __init__(self, queryset: QuerySet[Payer], **kwargs: Any) -> None:
        kwargs.setdefault("to_field_name", "public_id")
        super().__init__(queryset=queryset, **kwargs)


class PatientFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Name, MRN, phone, birth date, member id",
                "autocomplete": "off",
            }
        ),
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *PatientStatus.choices]
    )
    location = LocationLookupField(
        Location.objects.none(),
        label="Location",
        required=False,
        select_max=SELECT_MAX,
        empty_label="Any location",
    )
    flag = forms.ChoiceField(
        label="Flag", required=False, choices=[("", "Any flag"), *PatientFlag.choices]
    )
    physician = PhysicianPickerField(
        Physician.objects.none(), label="Referred by", required=False, help_text=""
    )
    payer = PayerChoiceField(
        Payer.objects.none(), label="Insurance", required=False, empty_label="Any payer"
    )
    technician = TechnicianLookupField(
        User.objects.none(),
        label="Technician",
        required=False,
        select_max=SELECT_MAX,
        empty_label="Any technician",
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[("name", "Name"), ("created", "Newest first")],
    )

    def __init__(
        self,
        *args: Any,
        locations: QuerySet[Location],
        physicians: QuerySet[Physician],
        payers: QuerySet[Payer] | None = None,
        technicians: QuerySet[User] | None = None,
        **kwargs: Any,
    ) -> None:
        """``payers`` / ``technicians`` None: the filter is not offered (and not applied)."""
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations  # type: ignore[attr-defined]
        self.fields["physician"].queryset = physicians  # type: ignore[attr-defined]
        self.fields["physician"].widget.attrs["placeholder"] = "Any physician"
        for name, choices in (("payer", payers), ("technician", technicians)):
            if choices is None:
                del self.fields[name]
            else:
                self.fields[name].queryset = choices  # type: ignore[attr-defined]


class PatientForm(forms.Form):
    home_location = LocationLookupField(
        Location.objects.none(),
        label="Home location",
        select_max=SELECT_MAX,
        empty_label="Choose a location",
    )
    mrn = forms.CharField(
        label="MRN",
        max_length=32,
        required=False,
        help_text="Leave empty to have one assigned.",
    )
    first_name = forms.CharField(
        label="First name",
        max_length=100,
        error_messages={"required": "Enter the first name."},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    middle_name = forms.CharField(label="Middle name", max_length=100, required=False)
    last_name = forms.CharField(
        label="Last name",
        max_length=100,
        error_messages={"required": "Enter the last name."},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    preferred_name = forms.CharField(label="Preferred name", max_length=100, required=False)
    date_of_birth = forms.DateField(
        label="Date of birth",
        error_messages={
            "required": "Enter the date of birth.",
            "invalid": "Enter the date of birth as a date, for example 1961-04-12.",
        },
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    sex = forms.ChoiceField(label="Sex", choices=Sex.choices, initial=Sex.UNKNOWN)
    phone_mobile = forms.CharField(
        label="Mobile phone",
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    phone_home = forms.CharField(
        label="Home phone",
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    email = forms.EmailField(
        label="Email",
        required=False,
        error_messages={"invalid": "Enter an email address like name@example.com."},
    )
    address_line1 = forms.CharField(label="Address", max_length=200, required=False)
    address_line2 = forms.CharField(label="Address line 2", max_length=200, required=False)
    city = forms.CharField(label="City", max_length=100, required=False)
    state = forms.CharField(label="State", max_length=50, required=False)
    postal_code = forms.CharField(label="ZIP code", max_length=20, required=False)
    preferred_contact = forms.ChoiceField(
        label="Preferred contact", choices=ContactChannel.choices, initial=ContactChannel.SMS
    )
    language = forms.CharField(label="Language", max_length=50, initial="English")
    emergency_contact_name = forms.CharField(
        label="Emergency contact", max_length=150, required=False
    )
    emergency_contact_phone = forms.CharField(
        label="Emergency contact phone",
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    emergency_contact_relationship = forms.CharField(
        label="Relationship", max_length=50, required=False
    )
    flags = forms.MultipleChoiceField(
        label="Flags",
        choices=PatientFlag.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    referring_physician = PhysicianPickerField(
        Physician.objects.none(), label="Referring physician", required=False
    )

    def __init__(
        self,
        *args: Any,
        locations: QuerySet[Location],
        physicians: QuerySet[Physician],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["home_location"].queryset = locations  # type: ignore[attr-defined]
        self.fields["referring_physician"].queryset = physicians  # type: ignore[attr-defined]

    def clean_date_of_birth(self) -> datetime.date:
        value: datetime.date = self.cleaned_data["date_of_birth"]
        if value > datetime.date.today():
            raise forms.ValidationError("The date of birth cannot be in the future.")
        if value.year < 1900:
            raise forms.ValidationError("Check the year of birth.")
        return value


class StatusChangeForm(forms.Form):
    to = forms.ChoiceField(
        label="New status", error_messages={"required": "Choose the new status."}
    )
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        error_messages={"required": "Give a reason for the change."},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, allowed: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(PatientStatus.choices)
        self.fields["to"].choices = [  # type: ignore[attr-defined]
            ("", "Choose a status"),
            *[(s, labels[s]) for s in allowed],
        ]


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Add a note",
        max_length=5000,
        error_messages={"required": "Write the note first."},
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PhysicianForm(forms.Form):
    first_name = forms.CharField(
        label="First name", max_length=100, error_messages={"required": "Enter the first name."}
    )
    last_name = forms.CharField(
        label="Last name", max_length=100, error_messages={"required": "Enter the last name."}
    )
    practice = forms.CharField(label="Practice", max_length=200, required=False)
    npi = forms.CharField(
        label="NPI",
        max_length=10,
        help_text="10 digits, from the NPI registry.",
        error_messages={"required": "Enter the NPI."},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    phone = forms.CharField(
        label="Phone", max_length=30, required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )
    fax = forms.CharField(
        label="Fax", max_length=30, required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )
    address = forms.CharField(label="Address", max_length=300, required=False)


# The list's filters (besides the order), shared by the list, its CSV export and the
# background export.
FILTERS = ("q", "status", "location", "flag", "physician", "payer", "technician")


def patient_filter_form(user: User, data: Any) -> tuple[PatientFilterForm, dict[str, Any]]:
    """The list's filter form for ``user`` and its valid filters (those with an error are
    shown and left out), shared by the list and the CSV exports. Payer and technician filters
    are office work: offered only to users who see whole records."""
    locations = filter_locations_for(user)
    office = can_register_patient(user)
    form = PatientFilterForm(
        data or None,
        locations=locations,
        physicians=physicians_for(user),
        payers=payers_for(user) if office else None,
        technicians=technicians_for(user, locations) if office else None,
    )
    cleaned: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # shows errors; the filters that are valid still apply
        cleaned = form.cleaned_data
        chosen = {
            name: cleaned[name]
            for name in ("location", "physician", "technician")
            if cleaned.get(name) is not None
        }
        if chosen:
            # Show a choice as its field does (the picker's label, the <select>'s option),
            # whatever form the link gave.
            form.data = {**dict(form.data.items()), **chosen}
    return form, cleaned
