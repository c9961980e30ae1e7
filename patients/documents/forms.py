"""Forms of the documents pages: upload several files, add a version, search."""

from __future__ import annotations

from typing import Any

from django import forms

from patients.documents.services import DESCRIPTION_MAX_LENGTH, MAX_FILES_PER_UPLOAD
from patients.models import MAX_TAGS, DocumentCategory

# What a phone offers for this input: its files, or the camera (the ``capture`` attribute is
# left off so people can choose; a phone still lists "Take photo").
ACCEPT = "application/pdf,image/jpeg,image/png,image/heic,image/tiff,image/*"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one ``<input type=file multiple>`` (Django's documented recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple) and data:
            return [single(d, initial) for d in data]
        if data and not isinstance(data, list | tuple):
            return [single(data, initial)]
        return single(None, initial)  # "required" when nothing was chosen


class DocumentUploadForm(forms.Form):
    documents = MultipleFileField(
        label="Files",
        help_text=f"PDF, JPEG, PNG, HEIC or TIFF; up to {MAX_FILES_PER_UPLOAD} at a time. "
        "Each file becomes its own document.",
        error_messages={"required": "Choose at least one file to upload."},
    )
    category = forms.ChoiceField(
        choices=[("", "Choose a category"), *DocumentCategory.choices],
        error_messages={
            "required": "Choose a category.",
            "invalid_choice": "Choose a category from the list.",
        },
    )
    tags = forms.CharField(
        required=False,
        max_length=500,
        help_text=f"Separate tags with commas; at most {MAX_TAGS}.",
    )
    description = forms.CharField(
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_tags(self) -> list[str]:
        return [t for t in self.cleaned_data["tags"].split(",") if t.strip()]


class DocumentVersionForm(forms.Form):
    file = forms.FileField(
        label="New version",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
        error_messages={"required": "Choose a file for the new version."},
    )


class DocumentSearchForm(forms.Form):
    q = forms.CharField(label="Search inside documents", required=False, max_length=200)


class InsuranceCardForm(forms.Form):
    """A photo (or scan) of either side of an insurance card, or both. Phones offer the
    camera for an image input (no ``capture``: a saved photo or a scan can be chosen too)."""

    front = forms.FileField(
        label="Front of the card",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )
    back = forms.FileField(
        label="Back of the card",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("front") and not data.get("back"):
            raise forms.ValidationError("Choose a photo of the front or the back of the card.")
        return data
