"""Forms of the technician's delivery pages. They parse; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from clinic.models import Location, User
from equipment.catalog.models import Item
from equipment.fleet.models import Acquisition
from patients.models import Physician

from .models import DeliveryMethod
from .services import LineIn


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


LINE_SLOTS = 4


class TicketForm(forms.Form):
    """A staff order: where from, who ordered it, when and how, and up to four items."""

    location = forms.ModelChoiceField(queryset=Location.objects.none(), label="Stock from")
    physician = forms.ModelChoiceField(
        queryset=Physician.objects.none(), label="Ordering physician"
    )
    date_of_service = forms.DateField(
        label="Date of service", widget=forms.DateInput(attrs={"type": "date"})
    )
    method = forms.ChoiceField(choices=DeliveryMethod.choices)
    technician = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="No technician yet"
    )
    address = forms.CharField(max_length=400, required=False, label="Delivery address")
    tracking_number = forms.CharField(max_length=60, required=False)

    def __init__(
        self,
        *args: Any,
        locations: QuerySet[Location],
        physicians: QuerySet[Physician],
        technicians: QuerySet[User],
        items: QuerySet[Item],
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations  # type: ignore[attr-defined]
        self.fields["physician"].queryset = physicians  # type: ignore[attr-defined]
        self.fields["technician"].queryset = technicians  # type: ignore[attr-defined]
        for n in range(1, LINE_SLOTS + 1):
            self.fields[f"item_{n}"] = forms.ModelChoiceField(
                queryset=items, required=n == 1, label=f"Item {n}", empty_label="—"
            )
            self.fields[f"quantity_{n}"] = forms.IntegerField(
                min_value=1, max_value=100, required=False, initial=1, label="Quantity"
            )
            self.fields[f"acquisition_{n}"] = forms.ChoiceField(
                choices=Acquisition.choices,
                initial=Acquisition.PURCHASE,
                label="Purchase or rental",
            )

    def line_rows(self) -> list[tuple[Any, Any, Any]]:
        return [
            (self[f"item_{n}"], self[f"quantity_{n}"], self[f"acquisition_{n}"])
            for n in range(1, LINE_SLOTS + 1)
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        lines = []
        for n in range(1, LINE_SLOTS + 1):
            item = data.pop(f"item_{n}", None)
            quantity = data.pop(f"quantity_{n}", None)
            acquisition = data.pop(f"acquisition_{n}", Acquisition.PURCHASE)
            if item is not None:
                lines.append(LineIn(item=item, quantity=quantity or 1, acquisition=acquisition))
        data["lines"] = lines
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False)
