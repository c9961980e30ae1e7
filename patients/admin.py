"""The patients app in the Django admin, scoped to the organization by ``TenantAdmin``.

Status and notes are read-only here: a status moves only through its own action with a reason,
and notes are never edited.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest

from clinic.admin import OrgReadOnlyTenantAdmin, ReadOnlyTenantAdmin, TenantAdmin, TenantInline
from patients.models import (
    Authorization,
    AuthorizationWarning,
    Diagnosis,
    DiagnosticStudy,
    Document,
    DocumentVersion,
    InsurancePolicy,
    MedicalHistory,
    Patient,
    PatientAssignment,
    PatientExport,
    PatientNote,
    PatientStatusChange,
    Payer,
    Physician,
    Referral,
    ReferralStatusChange,
)


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


# -- documents, insurance and medical history ---------------------------------------------
# Read-only here: these change through the portal's services, which validate, audit and
# keep versions. Stored file names, extracted text and member ids are never shown.


@admin.register(Payer)
class PayerAdmin(TenantAdmin):
    list_display = ["name", "payer_code", "kind"]
    list_filter = ["kind"]
    search_fields = ["name", "=payer_code"]
    exclude = ["organization"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not obj.organization_id:
            obj.organization_id = request.user.organization_id  # type: ignore[union-attr]
        super().save_model(request, obj, form, change)


class DocumentVersionInline(TenantInline):
    model = DocumentVersion
    fk_name = "document"
    fields = ("number", "kind", "size", "uploaded_by", "created_at", "extraction_status")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "patient", "category", "created_at", "entered_in_error"]
    list_filter = ["category", "entered_in_error"]
    search_fields = ["=public_id"]
    list_select_related = ["patient"]
    exclude = ["current_version"]
    inlines = [DocumentVersionInline]


@admin.register(DocumentVersion)
class DocumentVersionAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "document", "number", "kind", "size", "extraction_status"]
    list_filter = ["kind", "extraction_status"]
    search_fields = ["=public_id"]
    list_select_related = ["document"]
    exclude = ["storage_name", "text", "search_vector"]


@admin.register(PatientExport)
class PatientExportAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "requested_by", "state", "rows_done", "rows_total", "created_at"]
    list_filter = ["state"]
    search_fields = ["=public_id"]
    list_select_related = ["requested_by"]
    # The query may hold what was typed in the search box; the file is reached only by link.
    exclude = ["query", "storage_name"]


@admin.register(InsurancePolicy)
class InsurancePolicyAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "patient", "rank", "payer", "verification_status", "is_active"]
    list_filter = ["rank", "verification_status", "is_active", "payer"]
    search_fields = ["=public_id"]
    list_select_related = ["patient", "payer"]
    exclude = ["member_id", "member_id_hash"]


@admin.register(Diagnosis)
class DiagnosisAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "patient", "code", "entered_in_error"]
    search_fields = ["=code", "=public_id"]
    list_select_related = ["patient"]


@admin.register(DiagnosticStudy)
class DiagnosticStudyAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "patient", "study_type", "study_date"]
    list_filter = ["study_type"]
    search_fields = ["=public_id"]
    list_select_related = ["patient"]


@admin.register(MedicalHistory)
class MedicalHistoryAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "patient", "updated_at"]
    search_fields = ["=public_id"]
    list_select_related = ["patient"]


@admin.register(Referral)
class ReferralAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "patient", "physician", "received_on", "status", "assigned_to"]
    list_filter = ["status"]
    search_fields = ["=public_id"]
    list_select_related = ["patient", "physician", "assigned_to"]


@admin.register(ReferralStatusChange)
class ReferralStatusChangeAdmin(ReadOnlyTenantAdmin):
    list_display = ["changed_at", "referral", "from_status", "to_status", "changed_by"]
    list_filter = ["to_status"]
    list_select_related = ["referral", "changed_by"]
    exclude = ["note"]


@admin.register(Authorization)
class AuthorizationAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "patient", "payer", "valid_to", "units_used", "status"]
    list_filter = ["status", "payer"]
    search_fields = ["=public_id", "=number"]
    list_select_related = ["patient", "payer"]


@admin.register(AuthorizationWarning)
class AuthorizationWarningAdmin(ReadOnlyTenantAdmin):
    list_display = ["sent_at", "authorization", "days_before"]
    list_select_related = ["authorization"]


class HistoryEventAdmin(ReadOnlyTenantAdmin):
    """Change history rows (django-pghistory), scoped through the tracked row."""

    tenant_lookup = "pgh_obj__organization"
    list_display = ["pgh_created_at", "pgh_label", "pgh_obj"]
    list_filter = ["pgh_label"]


for _name in [
    "InsurancePolicyEvent",
    "DiagnosisEvent",
    "DiagnosticStudyEvent",
    "MedicalHistoryEvent",
    "ReferralEvent",
    "AuthorizationEvent",
]:
    admin.site.register(apps.get_model("patients", _name), HistoryEventAdmin)
