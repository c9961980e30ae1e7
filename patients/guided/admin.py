"""Guided sessions in the Django admin, scoped to the organization.

Forms and consent texts are the organization's configuration: an ADMIN edits them here, and a
change to a consent's title or text is saved as a new version (the sessions that showed the old
text keep pointing at it). Sessions and their drafts, codes, devices, ledger, uploads and
signatures are written only by the services and are read-only here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Max
from django.http import HttpRequest

from clinic.admin import ReadOnlyTenantAdmin, TenantAdmin

from .models import (
    ConsentText,
    DeviceToken,
    FormDefinition,
    GuidedSession,
    GuidedUpload,
    PairingCode,
    SessionMessage,
    Signature,
)
from .steps import definition_check


def _set_organization(request: HttpRequest, obj: Any) -> None:
    if not obj.organization_id:
        obj.organization_id = request.user.organization_id  # type: ignore[union-attr]


class FormDefinitionForm(forms.ModelForm):
    class Meta:
        model = FormDefinition
        fields = ["location", "version", "definition", "is_active"]

    def clean_definition(self) -> Any:
        value = self.cleaned_data.get("definition") or {}
        problems = definition_check(value)
        if problems:
            raise forms.ValidationError(problems)
        return value


@admin.register(FormDefinition)
class FormDefinitionAdmin(TenantAdmin):
    form = FormDefinitionForm
    list_display = ["public_id", "location", "version", "is_active"]
    list_filter = ["is_active", "location"]
    exclude = ["organization"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        _set_organization(request, obj)
        super().save_model(request, obj, form, change)


@admin.register(ConsentText)
class ConsentTextAdmin(TenantAdmin):
    list_display = ["title", "key", "location", "version", "requires_signature", "is_active"]
    list_filter = ["is_active", "requires_signature", "location"]
    search_fields = ["title", "key"]
    exclude = ["organization"]
    readonly_fields = ["version"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        _set_organization(request, obj)
        if change and {"title", "body", "key"} & set(form.changed_data):
            # The old row stays as it was (sessions signed it); the change is a new version.
            ConsentText.objects.filter(pk=obj.pk).update(is_active=False)
            newest = ConsentText.objects.filter(
                organization_id=obj.organization_id, location=obj.location, key=obj.key
            ).aggregate(v=Max("version"))["v"]
            obj.pk = None
            obj.id = None
            obj._state.adding = True
            obj.version = (newest or 0) + 1
            obj.public_id = ConsentText._meta.get_field("public_id").get_default()
            change = False
        elif not change:
            newest = ConsentText.objects.filter(
                organization_id=obj.organization_id, location=obj.location, key=obj.key
            ).aggregate(v=Max("version"))["v"]
            obj.version = (newest or 0) + 1
        super().save_model(request, obj, form, change)


@admin.register(GuidedSession)
class GuidedSessionAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "location", "status", "step", "version", "created_at"]
    list_filter = ["status", "location"]
    list_select_related = ["location"]
    exclude = ["values_encrypted"]  # drafts hold PHI; the console shows them, masked


@admin.register(PairingCode)
class PairingCodeAdmin(ReadOnlyTenantAdmin):
    list_display = ["session", "expires_at", "used_at", "is_live"]
    exclude = ["code_hash", "code_encrypted"]


@admin.register(DeviceToken)
class DeviceTokenAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "session", "created_at", "revoked_at"]
    exclude = ["token_hash"]


@admin.register(SessionMessage)
class SessionMessageAdmin(ReadOnlyTenantAdmin):
    list_display = ["session", "type", "role", "version", "created_at"]


@admin.register(GuidedUpload)
class GuidedUploadAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "session", "slot", "kind", "size", "created_at"]
    exclude = ["storage_name"]


@admin.register(Signature)
class SignatureAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "session", "consent", "signed_at"]
    exclude = ["image_name", "pdf_name"]
