"""The catalogue's portal form. The service checks again; the form gives early, field-level help."""

from __future__ import annotations

from django import forms

from .models import ItemKind


class ItemForm(forms.Form):
    hcpcs = forms.CharField(
        label="HCPCS code",
        max_length=5,
        help_text="A letter and 4 digits, e.g. A7030.",
        error_messages={"required": "Enter the HCPCS code."},
    )
    name = forms.CharField(max_length=200, error_messages={"required": "Give the item a name."})
    kind = forms.ChoiceField(
        choices=ItemKind.choices, error_messages={"invalid_choice": "Choose a kind from the list."}
    )
    manufacturer = forms.CharField(max_length=120, required=False)
    model_number = forms.CharField(label="Model", max_length=120, required=False)
    size = forms.CharField(max_length=40, required=False)
    serialized = forms.BooleanField(
        label="Serialized (each unit has its own serial number)", required=False
    )


class ItemEditForm(ItemForm):
    is_active = forms.BooleanField(label="Active (can be received and dispensed)", required=False)
