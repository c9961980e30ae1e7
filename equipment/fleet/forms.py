"""Forms of the Equipment tab. They parse; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from equipment.catalog.models import Item
from equipment.stock.models import SerialUnit

from .models import Acquisition, MaskType
from .services import EquipmentInvalid, device_settings_parse


class EquipmentForm(forms.Form):
    item = forms.ModelChoiceField(queryset=Item.objects.none(), empty_label="Choose an item")
    setup_on = forms.DateField(label="Setup date", widget=forms.DateInput(attrs={"type": "date"}))
    acquisition = forms.ChoiceField(choices=Acquisition.choices)
    serial_number = forms.CharField(max_length=60, required=False, label="Serial number")
    mask_type = forms.ChoiceField(
        choices=[("", "—"), *MaskType.choices], required=False, label="Mask type"
    )
    size = forms.CharField(max_length=40, required=False)
    settings = forms.CharField(
        required=False,
        label="Device settings (JSON)",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": '{"mode": "APAP", "min_pressure": 6}'}
        ),
    )

    def __init__(self, *args: Any, organization_id: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.organization_id = organization_id
        self.fields["item"].queryset = Item.objects.filter(  # type: ignore[attr-defined]
            organization_id=organization_id, is_active=True
        ).order_by("kind", "name")

    def clean_settings(self) -> dict[str, Any]:
        try:
            return device_settings_parse(self.cleaned_data.get("settings", ""))
        except EquipmentInvalid as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        number = (data.pop("serial_number", "") or "").strip()
        data["serial"] = None
        item = data.get("item")
        if number and item is not None:
            data["serial"] = SerialUnit.objects.filter(
                organization_id=self.organization_id, item=item, serial_number=number
            ).first()
            if data["serial"] is None:
                self.add_error("serial_number", "No unit of that item has this serial number.")
        return data


class RentalMonthForm(forms.Form):
    starts_on = forms.DateField(
        label="Month starts on", widget=forms.DateInput(attrs={"type": "date"})
    )
