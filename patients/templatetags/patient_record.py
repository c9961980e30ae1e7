"""The record tabs of a patient (patients.record.tabs), rendered by the record header."""

from __future__ import annotations

from django import template

from patients.record.tabs import record_tabs

register = template.Library()


@register.inclusion_tag("patients/_record_tabs.html")
def patient_record_tabs(patient, current: str) -> dict:
    return {
        "tabs": [(t.key, t.label, t.url_for(patient.public_id)) for t in record_tabs()],
        "current": current,
    }
