"""Fee schedule forms. The services check everything again; these give field-level help."""

from __future__ import annotations

from typing import Any

from django import forms


class FeeScheduleForm(forms.Form):
    payer = forms.ChoiceField(
        label="Payer",
        required=False,
        help_text="Leave empty for the organization's self-pay schedule.",
    )
    name = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, payers: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.payers = {str(p.public_id): p for p in payers}
        choices = [("", "Self-pay")] + [(key, p.name) for key, p in self.payers.items()]
        self.fields["payer"].choices = choices  # type: ignore[attr-defined]

    def clean_payer(self) -> Any:
        return self.payers.get(self.cleaned_data.get("payer") or "")


class FeeLineForm(forms.Form):
    code = forms.CharField(
        max_length=5,
        help_text="CPT (e.g. 95810) or HCPCS (e.g. E0601).",
        error_messages={"required": "Enter the code."},
    )
    modifiers = forms.CharField(max_length=20, required=False, help_text="e.g. RR KH")
    purchase_price = forms.DecimalField(
        label="Price (purchase or service)",
        max_digits=10,
        decimal_places=2,
        min_value=0,
        required=False,
    )
    rental_price = forms.DecimalField(
        label="Monthly rental price", max_digits=10, decimal_places=2, min_value=0, required=False
    )
    allowed_amount = forms.DecimalField(
        label="Allowed amount", max_digits=10, decimal_places=2, min_value=0, required=False
    )
    units = forms.IntegerField(min_value=1, max_value=999, initial=1)
    effective_from = forms.DateField(
        label="In effect from",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Enter the date the price takes effect."},
    )
    effective_to = forms.DateField(
        label="In effect until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class BillableCodeForm(forms.Form):
    appointment_type = forms.ChoiceField(label="Appointment type")
    code = forms.CharField(max_length=5, help_text="CPT (e.g. 95810) or HCPCS.")
    modifiers = forms.CharField(max_length=20, required=False)
    units = forms.IntegerField(min_value=1, max_value=999, initial=1)

    def __init__(self, *args: Any, types: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.types = {str(t.public_id): t for t in types}
        self.fields["appointment_type"].choices = [  # type: ignore[attr-defined]
            (k, t.name) for k, t in self.types.items()
        ]

    def clean_appointment_type(self) -> Any:
        return self.types[self.cleaned_data["appointment_type"]]
