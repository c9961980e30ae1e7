"""The filters of the charges list (a GET form; bad values are a 400 with the message)."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import ChargeKind, ChargeStatus


class ChargeFilterForm(forms.Form):
    location = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *ChargeStatus.choices],
        error_messages={"invalid_choice": "Choose a status from the list."},
    )
    kind = forms.ChoiceField(
        required=False,
        choices=[("", "Charges and reversals"), *ChargeKind.choices],
        error_messages={"invalid_choice": "Choose a kind from the list."},
    )
    date_from = forms.DateField(
        label="Service from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date like 2026-12-04."},
    )
    date_to = forms.DateField(
        label="Service until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date like 2026-12-04."},
    )

    def __init__(self, *args: Any, locations: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locations = {str(loc.public_id): loc for loc in locations}
        choices = [("", "All my locations")] + [(k, loc.name) for k, loc in self.locations.items()]
        self.fields["location"].choices = choices  # type: ignore[attr-defined]
        self.fields["location"].error_messages["invalid_choice"] = "Choose one of your locations."

    def clean_location(self) -> Any:
        return self.locations.get(self.cleaned_data.get("location") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data
