"""The record tabs of a patient (patients.record.tabs), rendered by the record header."""

from __future__ import annotations

from django import template

from patients.record.tabs import record_tabs

register = template.Library()


@register.inclusion_tag("patients/_record_tabs.html", takes_context=True)
def patient_record_tabs(context, patient, current: str) -> dict:
    tabs = record_tabs(context["request"].user)
    return {
        "tabs": [(t.key, t.label, t.url_for(patient.public_id)) for t in tabs],
        "current": current,
    }
