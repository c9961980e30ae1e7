"""Portal forms of stock actions. Choices are limited to what the user may act on; the services
check everything again (the forms only give early, field-level messages)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.db.models import QuerySet

from clinic.models import Location
from equipment.catalog.models import Item
from equipment.catalog.selectors import items_visible_to
from patients.models import Patient
from patients.record.selectors import patients_visible_to

from .models import AdjustReason
from .selectors import stock_dispense_locations, stock_manage_locations, transfer_target_locations
from .services import MAX_QUANTITY, serial_numbers_parse

if TYPE_CHECKING:
    from clinic.models import User

DATE = forms.DateInput(attrs={"type": "date"})


class PublicIdChoiceField(forms.ModelChoiceField):
    def __init__(self, queryset: QuerySet[Any], **kwargs: Any) -> None:
        kwargs.setdefault("to_field_name", "public_id")
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": "Choose one from the list.", "required": "Choose one."},
        )
        super().__init__(queryset=queryset, **kwargs)

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:  # a malformed id reads like any unknown choice
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            ) from exc


def _quantity(label: str = "Quantity") -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=1,
        max_value=MAX_QUANTITY,
        error_messages={
            "required": "Enter a quantity.",
            "invalid": "Enter a whole number.",
            "min_value": "Enter a quantity of at least 1.",
            "max_value": "That quantity is too large.",
        },
    )


def _serials() -> forms.CharField:
    return forms.CharField(
        label="Serial numbers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="For serialized items: one per line, typed or scanned.",
    )


class StockForm(forms.Form):
    """A form whose location and item choices depend on who is acting."""

    location_source = "manage"

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        locations = (
            stock_dispense_locations(user)
            if self.location_source == "dispense"
            else stock_manage_locations(user)
        )
        if "location" in self.fields:
            self.fields["location"].queryset = locations  # type: ignore[attr-defined]
        if "item" in self.fields:
            self.fields["item"].queryset = items_visible_to(user).filter(is_active=True)  # type: ignore[attr-defined]

    def clean_serial_numbers(self) -> list[str]:
        return serial_numbers_parse(self.cleaned_data.get("serial_numbers") or "")


class ReceiveForm(StockForm):
    location = PublicIdChoiceField(Location.objects.none())
    item = PublicIdChoiceField(Item.objects.none())
    quantity = _quantity()
    serial_numbers = _serials()
    lot = forms.CharField(label="Lot", max_length=60, required=False)
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=DATE,
        error_messages={"invalid": "Enter a date like 2027-03-01."},
    )


class TransferForm(StockForm):
    location = PublicIdChoiceField(Location.objects.none(), label="From")
    to_location = PublicIdChoiceField(Location.objects.none(), label="To")
    item = PublicIdChoiceField(Item.objects.none())
    quantity = _quantity()
    serial_numbers = _serials()

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.fields["to_location"].queryset = transfer_target_locations(user)  # type: ignore[attr-defined]


class AdjustForm(StockForm):
    location = PublicIdChoiceField(Location.objects.none())
    item = PublicIdChoiceField(Item.objects.none())
    delta = forms.IntegerField(
        label="Change",
        help_text="Negative to take units off, positive to add.",
        min_value=-MAX_QUANTITY,
        max_value=MAX_QUANTITY,
        error_messages={"required": "Enter the change.", "invalid": "Enter a whole number."},
    )
    reason = forms.ChoiceField(
        choices=AdjustReason.choices, error_messages={"invalid_choice": "Choose a reason."}
    )
    note = forms.CharField(max_length=200, required=False)


class ReserveForm(StockForm):
    location = PublicIdChoiceField(Location.objects.none())
    item = PublicIdChoiceField(Item.objects.none())
    quantity = _quantity()
    reference = forms.CharField(
        label="Delivery reference", max_length=64, required=False, help_text="E.g. a ticket number."
    )
    needed_on = forms.DateField(
        label="Needed on",
        required=False,
        widget=DATE,
        error_messages={"invalid": "Enter a date like 2027-03-01."},
    )


def patient_by_mrn(user: User, mrn: str) -> Patient | None:
    mrn = (mrn or "").strip()
    if not mrn:
        return None
    return patients_visible_to(user).filter(mrn=mrn).first()


class PatientMixin:
    user: User
    cleaned_data: dict[str, Any]

    def clean_patient(self) -> Patient | None:
        mrn = self.cleaned_data.get("patient") or ""
        if not mrn.strip():
            return None
        patient = patient_by_mrn(self.user, mrn)
        if patient is None:
            raise forms.ValidationError("No patient with that MRN is available to you.")
        return patient


class DispenseForm(PatientMixin, StockForm):
    location_source = "dispense"
    location = PublicIdChoiceField(Location.objects.none())
    item = PublicIdChoiceField(Item.objects.none())
    quantity = _quantity()
    serial_numbers = _serials()
    patient = forms.CharField(
        label="Patient MRN",
        max_length=32,
        required=False,
        help_text="Required for serialized items.",
    )


class ReservationDispenseForm(PatientMixin, StockForm):
    location_source = "dispense"
    serial_numbers = _serials()
    patient = forms.CharField(
        label="Patient MRN",
        max_length=32,
        required=False,
        help_text="Required for serialized items.",
    )


class ReorderPointForm(StockForm):
    location = PublicIdChoiceField(Location.objects.none())
    item = PublicIdChoiceField(Item.objects.none())
    reorder_point = forms.IntegerField(
        label="Reorder point",
        required=False,
        min_value=0,
        max_value=MAX_QUANTITY,
        help_text="Leave empty to stop watching this item here.",
        error_messages={
            "invalid": "Enter a whole number.",
            "min_value": "Enter 0 or more.",
            "max_value": "That number is too large.",
        },
    )


class SerialReturnForm(StockForm):
    location_source = "dispense"
    location = PublicIdChoiceField(Location.objects.none(), label="Back into stock at")


class SerialNoteForm(forms.Form):
    note = forms.CharField(max_length=200, required=False)
