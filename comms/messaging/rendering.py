"""Message templates: ``{{ placeholder }}`` substitution with a fixed, registered vocabulary.

Placeholders come from the patient (names), the location and organization, and from the caller's
``context`` (an appointment's date and time...). A template naming anything else is refused when
it is saved, so a typo never reaches a patient as ``{{ apointment_date }}``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from comms.errors import TemplateInvalid

if TYPE_CHECKING:
    from patients.models import Patient

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_STRAY = re.compile(r"\{\{|\}\}")

# name -> description (shown beside the template editor)
_PLACEHOLDERS: dict[str, str] = {
    "patient_first_name": "The patient's first name (preferred name when recorded)",
    "patient_last_name": "The patient's last name",
    "location_name": "The patient's home location",
    "location_phone": "The phone number of that location",
    "organization_name": "Your organization's name",
    "appointment_date": "Date of the appointment (reminders)",
    "appointment_time": "Time of the appointment (reminders)",
    "appointment_type": "Kind of appointment (reminders)",
}

# Texts used when an organization has not written its own template under that key.
DEFAULT_TEMPLATES: dict[str, str] = {
    "appointment_reminder": (
        "Hi {{ patient_first_name }}, this is {{ location_name }}: a reminder of your "
        "appointment on {{ appointment_date }} at {{ appointment_time }}. "
        "Reply C to confirm. Reply STOP to opt out."
    ),
}


def placeholder_register(name: str, description: str) -> None:
    """Other apps add the context keys they pass to ``message_send``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name):
        raise ValueError("placeholder names are lower-case words")
    _PLACEHOLDERS[name] = description


def placeholders() -> dict[str, str]:
    return dict(_PLACEHOLDERS)


def template_check(body: str) -> list[str]:
    """The placeholders ``body`` uses; raises ``TemplateInvalid`` naming unknown ones."""
    body = body or ""
    if not body.strip():
        raise TemplateInvalid("A template needs some text.", code="template_empty")
    used = PLACEHOLDER.findall(body)
    unknown = sorted({name for name in used if name not in _PLACEHOLDERS})
    if unknown:
        raise TemplateInvalid(
            "Unknown placeholder(s): "
            + ", ".join("{{ " + n + " }}" for n in unknown)
            + ". Use only the placeholders listed.",
            code="unknown_placeholder",
            extra={"unknown": unknown},
        )
    if _STRAY.search(PLACEHOLDER.sub("", body)):
        raise TemplateInvalid(
            "A placeholder is not closed: write it as {{ name }}.", code="bad_placeholder"
        )
    return used


def patient_context(patient: Patient) -> dict[str, str]:
    location = patient.home_location
    return {
        "patient_first_name": patient.preferred_name or patient.first_name,
        "patient_last_name": patient.last_name,
        "location_name": location.name,
        "location_phone": location.phone,
        "organization_name": patient.organization.name,
    }


def template_render(body: str, values: dict[str, Any]) -> str:
    """Fill the placeholders of a checked template; one without a value is refused."""
    template_check(body)
    missing = sorted({n for n in PLACEHOLDER.findall(body) if values.get(n) in (None, "")})
    if missing:
        raise TemplateInvalid(
            "No value for: " + ", ".join(missing) + ".",
            code="missing_value",
            extra={"missing": missing},
        )
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), body).strip()


# Values for the preview beside the editor.
SAMPLE_VALUES = {
    "patient_first_name": "Alex",
    "patient_last_name": "Sample",
    "location_name": "Main Street Clinic",
    "location_phone": "(555) 010-0000",
    "organization_name": "Your organization",
    "appointment_date": "Tue, Mar 4",
    "appointment_time": "9:30 AM",
    "appointment_type": "Follow-up",
}


def template_preview(body: str) -> str:
    template_check(body)
    values = {name: SAMPLE_VALUES.get(name, f"[{name}]") for name in _PLACEHOLDERS}
    return template_render(body, values)
