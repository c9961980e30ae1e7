"""The steps of a guided session, their fields and upload slots, checks and masking.

Field names are fixed here (they map onto the patient and insurance services); an organization's
``FormDefinition`` may relabel a field, make an optional one required or hide it
(docs/guided-session-protocol.md, "Steps and their fields").
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from clinic.errors import ApplicationError
from clinic.phones import phone_normalize
from patients.models import ContactChannel, DocumentCategory, Sex, SubscriberRelationship

STEPS: tuple[str, ...] = (
    "identity",
    "demographics",
    "id_document",
    "insurance",
    "consents",
    "signatures",
    "review",
    "done",
)
NAVIGABLE = STEPS[:-1]
STEP_TITLES = {
    "identity": "About you",
    "demographics": "Contact and address",
    "id_document": "Identity document",
    "insurance": "Insurance",
    "consents": "Consent forms",
    "signatures": "Signatures",
    "review": "Review",
    "done": "Done",
}
MAX_VALUE = 500  # no answer is longer; longer messages are refused outright


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    step: str
    type: str = "text"  # text | date | email | tel | select
    required: bool = False
    max_length: int = 100
    choices: tuple[tuple[str, str], ...] = ()
    sensitive: bool = False
    only_if: tuple[str, str] | None = None  # (field, value): asked only when that answer is given


@dataclass(frozen=True)
class SlotSpec:
    name: str
    label: str
    step: str
    category: str
    required: bool = False
    only_if: tuple[str, str] | None = None


def _choices(enum: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(v), str(label)) for v, label in enum.choices)


_INSURED = ("has_insurance", "yes")

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("first_name", "First name", "identity", required=True),
    FieldSpec("middle_name", "Middle name", "identity"),
    FieldSpec("last_name", "Last name", "identity", required=True),
    FieldSpec("preferred_name", "Preferred name", "identity"),
    FieldSpec("date_of_birth", "Date of birth", "identity", type="date", required=True),
    FieldSpec("sex", "Sex", "identity", type="select", choices=_choices(Sex)),
    FieldSpec("phone_mobile", "Mobile phone", "demographics", type="tel", max_length=30),
    FieldSpec("phone_home", "Home phone", "demographics", type="tel", max_length=30),
    FieldSpec("email", "Email", "demographics", type="email", max_length=254),
    FieldSpec("address_line1", "Address", "demographics", max_length=200),
    FieldSpec("address_line2", "Address line 2", "demographics", max_length=200),
    FieldSpec("city", "City", "demographics"),
    FieldSpec("state", "State", "demographics", max_length=50),
    FieldSpec("postal_code", "ZIP code", "demographics", max_length=20),
    FieldSpec(
        "preferred_contact",
        "How should we contact you?",
        "demographics",
        type="select",
        choices=_choices(ContactChannel),
    ),
    FieldSpec("language", "Preferred language", "demographics", max_length=50),
    FieldSpec("emergency_contact_name", "Emergency contact", "demographics", max_length=150),
    FieldSpec(
        "emergency_contact_phone",
        "Emergency contact phone",
        "demographics",
        type="tel",
        max_length=30,
    ),
    FieldSpec("emergency_contact_relationship", "Relationship", "demographics", max_length=50),
    FieldSpec(
        "has_insurance",
        "Do you have health insurance?",
        "insurance",
        type="select",
        required=True,
        choices=(("yes", "Yes"), ("no", "No")),
    ),
    FieldSpec(
        "payer",
        "Insurance company",
        "insurance",
        type="select",
        required=True,
        max_length=36,
        only_if=_INSURED,
    ),
    FieldSpec(
        "member_id",
        "Member id",
        "insurance",
        required=True,
        max_length=64,
        sensitive=True,
        only_if=_INSURED,
    ),
    FieldSpec("plan_name", "Plan", "insurance", max_length=200, only_if=_INSURED),
    FieldSpec(
        "group_number",
        "Group number",
        "insurance",
        max_length=50,
        sensitive=True,
        only_if=_INSURED,
    ),
    FieldSpec(
        "subscriber_relationship",
        "The policy holder is",
        "insurance",
        type="select",
        choices=_choices(SubscriberRelationship),
        only_if=_INSURED,
    ),
    FieldSpec(
        "subscriber_name", "Policy holder's name", "insurance", max_length=200, only_if=_INSURED
    ),
    FieldSpec(
        "subscriber_date_of_birth",
        "Policy holder's date of birth",
        "insurance",
        type="date",
        only_if=_INSURED,
    ),
)

SLOTS: tuple[SlotSpec, ...] = (
    SlotSpec(
        "id_front",
        "Identity document, front",
        "id_document",
        DocumentCategory.IDENTITY_DOCUMENT,
        required=True,
    ),
    SlotSpec(
        "id_back", "Identity document, back", "id_document", DocumentCategory.IDENTITY_DOCUMENT
    ),
    SlotSpec(
        "card_front",
        "Insurance card, front",
        "insurance",
        DocumentCategory.INSURANCE_CARD_FRONT,
        only_if=_INSURED,
    ),
    SlotSpec(
        "card_back",
        "Insurance card, back",
        "insurance",
        DocumentCategory.INSURANCE_CARD_BACK,
        only_if=_INSURED,
    ),
)
SLOT_BY_NAME = {s.name: s for s in SLOTS}


@dataclass(frozen=True)
class Form:
    """The built-in form with one organization's overrides applied."""

    version: int
    fields: dict[str, FieldSpec]
    slots: dict[str, SlotSpec]
    titles: dict[str, str] = field(default_factory=lambda: dict(STEP_TITLES))

    def step_fields(self, step: str) -> list[FieldSpec]:
        return [f for f in self.fields.values() if f.step == step]

    def step_slots(self, step: str) -> list[SlotSpec]:
        return [s for s in self.slots.values() if s.step == step]


def form_build(definition: dict[str, Any] | None, *, version: int = 0) -> Form:
    """Apply ``{"steps": {step: {"title", "fields": {name: {label, required, hidden}}}}}``."""
    fields = {f.name: f for f in FIELDS}
    slots = dict(SLOT_BY_NAME)
    titles = dict(STEP_TITLES)
    steps = (definition or {}).get("steps") or {}
    for step, conf in steps.items() if isinstance(steps, dict) else []:
        if step not in titles or not isinstance(conf, dict):
            continue
        if isinstance(conf.get("title"), str) and conf["title"].strip():
            titles[step] = conf["title"].strip()[:100]
        for name, over in (conf.get("fields") or {}).items():
            if not isinstance(over, dict):
                continue
            spec = fields.get(name)
            slot = slots.get(name)
            target: Any = spec or slot
            if target is None or target.step != step:
                continue
            if over.get("hidden") and not target.required:
                (fields if spec else slots).pop(name)
                continue
            label = over.get("label")
            changes: dict[str, Any] = {}
            if isinstance(label, str) and label.strip():
                changes["label"] = label.strip()[:100]
            if over.get("required") is True:
                changes["required"] = True
            if changes:
                (fields if spec else slots)[name] = replace(target, **changes)
    return Form(version=version, fields=fields, slots=slots, titles=titles)


def definition_check(definition: Any) -> list[str]:
    """Problems with an admin-entered definition, in words (empty when it is usable)."""
    if not isinstance(definition, dict):
        return ["The definition must be a JSON object."]
    steps = definition.get("steps", {})
    if not isinstance(steps, dict):
        return ['"steps" must be an object of step names.']
    problems = []
    known = {f.name: f.step for f in FIELDS} | {s.name: s.step for s in SLOTS}
    for step, conf in steps.items():
        if step not in STEP_TITLES:
            problems.append(f"Unknown step {step!r}; steps are {', '.join(NAVIGABLE)}.")
            continue
        if not isinstance(conf, dict):
            problems.append(f"Step {step!r} must be an object.")
            continue
        for name in conf.get("fields") or {}:
            if known.get(name) != step:
                problems.append(f"{name!r} is not a field of the {step} step.")
    return problems


# ---------------------------------------------------------------- checking answers


def is_asked(spec: FieldSpec | SlotSpec, values: dict[str, str]) -> bool:
    if spec.only_if is None:
        return True
    name, expected = spec.only_if
    return values.get(name) == expected


def value_error(spec: FieldSpec, value: str, *, payers: set[str] | None = None) -> str | None:
    """Why ``value`` cannot be accepted for ``spec`` (None when it can, or when it is empty)."""
    value = value.strip()
    if not value:
        return None
    if len(value) > spec.max_length:
        return f"At most {spec.max_length} characters."
    if spec.type == "date":
        try:
            day = datetime.date.fromisoformat(value)
        except ValueError:
            return "Enter a date such as 1970-04-30."
        if day > datetime.date.today():
            return "This date cannot be in the future."
        if day.year < 1900:
            return "Check the year."
    elif spec.type == "email":
        try:
            validate_email(value)
        except ValidationError:
            return "Enter an email address such as name@example.com."
    elif spec.type == "tel":
        try:
            phone_normalize(value, field=spec.name)
        except ApplicationError as exc:
            return exc.message
    elif spec.type == "select":
        allowed = payers if spec.name == "payer" else {v for v, _ in spec.choices}
        if allowed is not None and value not in allowed:
            return "Choose one of the options."
    return None


def step_status(
    form: Form,
    step: str,
    *,
    values: dict[str, str],
    uploads: dict[str, Any],
    consents: dict[str, dict[str, Any]],
    consent_keys: list[tuple[str, bool]],
    payers: set[str],
) -> dict[str, Any]:
    """``{"complete", "errors", "missing"}`` of one step as the answers stand."""
    errors: dict[str, str] = {}
    missing: list[str] = []
    if step == "consents":
        missing = [k for k, _ in consent_keys if not consents.get(k, {}).get("acknowledged")]
    elif step == "signatures":
        missing = [
            k for k, signed in consent_keys if signed and not consents.get(k, {}).get("signed")
        ]
    elif step in ("review", "done"):
        pass
    else:
        for spec in form.step_fields(step):
            if not is_asked(spec, values):
                continue
            value = values.get(spec.name, "")
            problem = value_error(spec, value, payers=payers)
            if problem:
                errors[spec.name] = problem
            elif spec.required and not value.strip():
                missing.append(spec.name)
        for slot in form.step_slots(step):
            if is_asked(slot, values) and slot.required and slot.name not in uploads:
                missing.append(slot.name)
    return {"complete": not errors and not missing, "errors": errors, "missing": missing}


def mask(value: str) -> str:
    """A sensitive value as the staff mirror shows it: the last 4 kept from 6 characters up."""
    if not value:
        return ""
    if len(value) >= 6:
        return "\u2022" * (len(value) - 4) + value[-4:]
    return "\u2022" * len(value)


def missing_message(form: Form, name: str) -> str:
    spec = form.fields.get(name)
    if spec is not None:
        return f"{spec.label} is needed."
    slot = form.slots.get(name)
    if slot is not None:
        return f"A photo of the {slot.label.lower()} is needed."
    return "This is needed."
