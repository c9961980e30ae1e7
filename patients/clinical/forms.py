"""Forms of the insurance and medical-history pages. They check the shape of input; the rules
(one active policy per rank, date order, ICD-10 codes) live in ``patients.clinical.services``
and come back through ``form_apply_error``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from patients.models import (
    ICD10_PATTERN,
    Payer,
    PayerKind,
    PolicyRank,
    StudyType,
    SubscriberRelationship,
    VerificationStatus,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PayerChoiceField(forms.ModelChoiceField):
    def __init__(self, queryset: QuerySet[Payer], **kwargs: Any) -> None:
        kwargs.setdefault("to_field_name", "public_id")
        kwargs.setdefault("empty_label", "Choose a payer")
        kwargs.setdefault(
            "error_messages",
            {"required": "Choose a payer.", "invalid_choice": "Choose a payer from the list."},
        )
        super().__init__(queryset=queryset, **kwargs)


class PolicyForm(forms.Form):
    rank = forms.ChoiceField(
        choices=PolicyRank.choices, error_messages={"required": "Choose a rank."}
    )
    payer = PayerChoiceField(Payer.objects.none())
    plan_name = forms.CharField(label="Plan", max_length=200, required=False)
    member_id = forms.CharField(
        label="Member id",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    group_number = forms.CharField(label="Group number", max_length=50, required=False)
    subscriber_name = forms.CharField(label="Subscriber", max_length=200, required=False)
    subscriber_relationship = forms.ChoiceField(
        label="Subscriber is the patient's", choices=SubscriberRelationship.choices
    )
    subscriber_date_of_birth = forms.DateField(
        label="Subscriber's date of birth", required=False, widget=DATE
    )
    effective_from = forms.DateField(label="Effective from", required=False, widget=DATE)
    effective_to = forms.DateField(label="Effective to", required=False, widget=DATE)

    def __init__(self, *args: Any, payers: QuerySet[Payer], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["payer"].queryset = payers  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("effective_from"), data.get("effective_to")
        if start and end and start > end:
            self.add_error(
                "effective_to", "The coverage cannot end before it starts: check the dates."
            )
        return data


class VerifyForm(forms.Form):
    status = forms.ChoiceField(
        label="Outcome",
        choices=[
            (VerificationStatus.VERIFIED, "Verified"),
            (VerificationStatus.FAILED, "Failed"),
        ],
        error_messages={"required": "Choose verified or failed."},
    )


class PayerForm(forms.Form):
    name = forms.CharField(label="Payer name", max_length=200)
    payer_code = forms.CharField(label="Payer id", max_length=40, required=False)
    kind = forms.ChoiceField(label="Kind", choices=PayerKind.choices, initial=PayerKind.COMMERCIAL)

    prefix = "payer"


class DiagnosisForm(forms.Form):
    code = forms.CharField(
        label="ICD-10 code",
        max_length=8,
        help_text="For example G47.33",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "Enter an ICD-10 code."},
    )
    description = forms.CharField(
        max_length=300, error_messages={"required": "Describe the diagnosis."}
    )
    onset_date = forms.DateField(label="Onset", required=False, widget=DATE)

    prefix = "dx"

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip().upper()
        if not ICD10_PATTERN.match(code):
            raise forms.ValidationError(
                "Enter an ICD-10 code such as G47.33 (a letter, two characters, then "
                "optionally a dot and up to four more)."
            )
        return code


class StudyForm(forms.Form):
    study_date = forms.DateField(
        label="Date", widget=DATE, error_messages={"required": "Enter the study date."}
    )
    study_type = forms.ChoiceField(label="Type", choices=StudyType.choices)
    ahi = forms.DecimalField(
        label="AHI", required=False, min_value=0, max_digits=5, decimal_places=1
    )
    rdi = forms.DecimalField(
        label="RDI", required=False, min_value=0, max_digits=5, decimal_places=1
    )
    odi = forms.DecimalField(
        label="ODI", required=False, min_value=0, max_digits=5, decimal_places=1
    )
    lowest_spo2 = forms.IntegerField(
        label="Lowest SpO2 (%)", required=False, min_value=0, max_value=100
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    prefix = "study"


class MedicalHistoryForm(forms.Form):
    allergies = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    medications = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    prefix = "mh"
