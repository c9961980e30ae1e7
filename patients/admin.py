"""The patients app in the Django admin, scoped to the organization by ``TenantAdmin``.

Status and notes are read-only here: a status moves only through its own action with a reason,
and notes are never edited.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest

from clinic.admin import ReadOnlyTenantAdmin, TenantAdmin

from .models import Patient, PatientAssignment, PatientNote, PatientStatusChange, Physician


@admin.register(Physician)
class PhysicianAdmin(TenantAdmin):
    list_display = ["last_name", "first_name", "practice", "npi"]
    search_fields = ["last_name", "first_name", "practice", "=npi"]
    exclude = ["organization"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not obj.organization_id:
            obj.organization_id = request.user.organization_id  # type: ignore[union-attr]
        super().save_model(request, obj, form, change)


@admin.register(Patient)
class PatientAdmin(TenantAdmin):
    list_display = ["mrn", "last_name", "first_name", "home_location", "status"]
    list_filter = ["status", "home_location"]
    search_fields = ["=mrn", "last_name", "first_name"]
    list_select_related = ["home_location"]
    readonly_fields = ["organization", "status", "created_by", "public_id"]
    raw_id_fields = ["referring_physician"]
    # New patients come in through the portal, which checks for duplicates first.
    org_admin_can_add = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # clinical records are marked inactive, never deleted


@admin.register(PatientStatusChange)
class PatientStatusChangeAdmin(ReadOnlyTenantAdmin):
    list_display = ["at", "patient", "from_status", "to_status", "actor"]
    list_filter = ["to_status"]
    list_select_related = ["patient", "actor"]


@admin.register(PatientNote)
class PatientNoteAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "patient", "author"]
    list_select_related = ["patient", "author"]


@admin.register(PatientAssignment)
class PatientAssignmentAdmin(TenantAdmin):
    list_display = ["patient", "technician", "source", "created_at"]
    list_filter = ["source"]
    list_select_related = ["patient", "technician"]
    raw_id_fields = ["patient", "technician"]


PatientEvent = apps.get_model("patients", "PatientEvent")


@admin.register(PatientEvent)
class PatientEventAdmin(ReadOnlyTenantAdmin):
    tenant_lookup = "organization"
    list_display = ["pgh_created_at", "pgh_label", "pgh_obj", "status"]
    list_filter = ["pgh_label", "status"]
    list_select_related = ["pgh_obj"]
