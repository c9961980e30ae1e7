"""The billing app in the Django admin: read-only and scoped to the organization by
``ReadOnlyTenantAdmin``. Fee schedules change only through the portal's services (which refuse
overlapping lines and audit every change); charges are an append-only ledger."""

from __future__ import annotations

from django.contrib import admin

from clinic.admin import ReadOnlyTenantAdmin

from .models import BillableCode, Charge, FeeLine, FeeSchedule


@admin.register(FeeSchedule)
class FeeScheduleAdmin(ReadOnlyTenantAdmin):
    list_display = ["name", "payer"]
    list_select_related = ["payer"]
    search_fields = ["name"]


@admin.register(FeeLine)
class FeeLineAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "schedule",
        "code",
        "modifiers",
        "allowed_amount",
        "effective_from",
        "effective_to",
    ]
    list_select_related = ["schedule"]
    search_fields = ["=code"]


@admin.register(BillableCode)
class BillableCodeAdmin(ReadOnlyTenantAdmin):
    list_display = ["appointment_type", "code", "modifiers", "units"]
    list_select_related = ["appointment_type"]


@admin.register(Charge)
class ChargeAdmin(ReadOnlyTenantAdmin):
    list_display = ["date_of_service", "location", "code", "modifiers", "kind", "status", "amount"]
    list_filter = ["status", "kind", "location"]
    list_select_related = ["location"]
    search_fields = ["=code"]
