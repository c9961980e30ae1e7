"""Form helpers shared by scheduling's pages."""

from __future__ import annotations

from django import forms


def choices_set(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    """Give the choice field ``name`` of ``form`` its choices (computed per request)."""
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices
