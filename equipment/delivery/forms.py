"""Forms of the technician's delivery pages. They parse; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms


class DeliverForm(forms.Form):
    signer = forms.ChoiceField(
        choices=[("patient", "The patient"), ("representative", "A representative")],
        widget=forms.RadioSelect,
        initial="patient",
        label="Who signs",
    )
    representative_name = forms.CharField(max_length=200, required=False, label="Printed name")
    relationship = forms.CharField(max_length=60, required=False, label="Relationship to patient")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("signer") == "representative":
            if not (data.get("representative_name") or "").strip():
                self.add_error("representative_name", "Enter the representative's printed name.")
            rel = (data.get("relationship") or "").strip()
            if not rel:
                self.add_error("relationship", "Enter the representative's relationship.")
            elif rel.casefold() == "self":
                self.add_error("relationship", "A representative is not the patient.")
        return data


class FailForm(forms.Form):
    reason = forms.CharField(max_length=200, label="Why did the delivery fail?")
