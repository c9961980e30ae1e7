"""Forms of the referral and authorization pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from clinic.models import User
from clinic.times import local_today
from patients.documents.selectors import documents_visible_to
from patients.models import Document, Patient, Payer, Physician, ReferralStatus
from patients.referrals.selectors import referral_assignees
from patients.referrals.services import AuthorizationData


class PublicIdChoiceField(forms.ModelChoiceField):
    def __init__(self, queryset: QuerySet[Any], **kwargs: Any) -> None:
        kwargs.setdefault("to_field_name", "public_id")
        super().__init__(queryset=queryset, **kwargs)


class ReferralForm(forms.Form):
    physician = PublicIdChoiceField(
        Physician.objects.none(),
        label="Referring physician",
        empty_label="Choose a physician",
        error_messages={
            "required": "Choose a physician.",
            "invalid_choice": "Choose a physician from the list.",
        },
    )
    received_on = forms.DateField(
        label="Received on",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={
            "required": "Enter the date the referral arrived.",
            "invalid": "Enter a date like 2026-03-01.",
        },
    )
    reason = forms.CharField(
        label="Reason for referral",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        error_messages={"required": "Give the reason for the referral."},
    )

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["physician"].queryset = Physician.objects.filter(  # type: ignore[attr-defined]
            organization_id=patient.organization_id
        ).order_by("last_name", "first_name", "pk")
        if not self.is_bound:
            # Today where the patient is seen, not the UTC date (docs/architecture.md, "Time").
            self.initial.setdefault("received_on", local_today(patient.home_location))
            if patient.referring_physician is not None:
                self.initial.setdefault("physician", patient.referring_physician.public_id)


class DocumentChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        label = obj.get_category_display()
        if obj.description:
            label += f": {obj.description}"
        return f"{label} ({obj.created_at:%Y-%m-%d})"


class DocumentsForm(forms.Form):
    documents = DocumentChoiceField(
        Document.objects.none(),
        to_field_name="public_id",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Linked documents",
        error_messages={"invalid_choice": "Choose documents of this patient."},
    )

    def __init__(self, *args: Any, user: User, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["documents"].queryset = (  # type: ignore[attr-defined]
            documents_visible_to(user).filter(patient=patient).order_by("-created_at", "-id")
        )


class AdvanceForm(forms.Form):
    to = forms.ChoiceField(choices=ReferralStatus.choices)
    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AssignForm(forms.Form):
    assignee = PublicIdChoiceField(
        User.objects.none(), label="Assigned to", required=False, empty_label="Nobody"
    )

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = referral_assignees(patient)  # type: ignore[attr-defined]


class AuthorizationForm(forms.Form):
    payer = PublicIdChoiceField(
        Payer.objects.none(),
        empty_label="Choose a payer",
        error_messages={
            "required": "Choose a payer.",
            "invalid_choice": "Choose a payer from the list.",
        },
    )
    number = forms.CharField(
        label="Authorization number",
        max_length=60,
        error_messages={"required": "Enter the authorization number."},
    )
    codes = forms.CharField(
        label="Codes",
        max_length=300,
        help_text="HCPCS or CPT codes separated by commas, e.g. E0601, A7030",
        error_messages={"required": "Enter at least one code."},
    )
    units_approved = forms.IntegerField(
        label="Units approved",
        min_value=0,
        max_value=1_000_000,
        error_messages={"required": "Enter the approved units."},
    )
    valid_from = forms.DateField(
        label="Valid from",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date like 2026-03-01."},
    )
    valid_to = forms.DateField(
        label="Valid to",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date like 2026-03-01."},
    )

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["payer"].queryset = Payer.objects.filter(  # type: ignore[attr-defined]
            organization_id=patient.organization_id
        )

    def data_object(self) -> AuthorizationData:
        c = self.cleaned_data
        return AuthorizationData(
            payer=c["payer"],
            number=c["number"],
            codes=c["codes"],
            units_approved=c["units_approved"],
            valid_from=c["valid_from"],
            valid_to=c["valid_to"],
        )


class UnitsForm(forms.Form):
    units = forms.IntegerField(
        label="Units to use",
        min_value=1,
        max_value=100_000,
        error_messages={"required": "Enter how many units.", "min_value": "Use at least one unit."},
    )
