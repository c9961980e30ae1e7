"""Scheduling in the Django admin, scoped to the organization by ``TenantAdmin``.

Configuration (appointment types, rooms, technician profiles, hours, exceptions) is editable
here. Appointments, series, waitlist and reminders are read-only: they change only through the
services, which check conflicts, bump versions, audit and publish events.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest

from clinic.admin import OrgReadOnlyTenantAdmin, ReadOnlyTenantAdmin, TenantAdmin, TenantInline
from scheduling.models import (
    Appointment,
    AppointmentType,
    AvailabilityException,
    RecurringSeries,
    Reminder,
    Room,
    TechnicianProfile,
    WaitlistEntry,
    WaitlistOffer,
    WorkingHours,
)


class _OwnOrganizationOnAdd:
    """New rows belong to the admin's organization (the field is not shown)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not obj.organization_id:
            location = getattr(obj, "location", None) or getattr(obj, "home_location", None)
            obj.organization_id = (
                location.organization_id if location else request.user.organization_id  # type: ignore[union-attr]
            )
        super().save_model(request, obj, form, change)  # type: ignore[misc]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(_OwnOrganizationOnAdd, TenantAdmin):
    list_display = ["name", "code", "duration_minutes", "skill", "needs_technician", "is_active"]
    list_filter = ["code", "is_active"]
    search_fields = ["name"]
    exclude = ["organization"]


@admin.register(Room)
class RoomAdmin(_OwnOrganizationOnAdd, TenantAdmin):
    list_display = ["name", "location", "is_active"]
    list_filter = ["location", "is_active"]
    search_fields = ["name"]
    list_select_related = ["location"]
    exclude = ["organization"]


class WorkingHoursInline(TenantInline):
    model = WorkingHours
    fields = ["weekday", "starts", "ends"]


@admin.register(TechnicianProfile)
class TechnicianProfileAdmin(_OwnOrganizationOnAdd, TenantAdmin):
    list_display = ["user", "home_location", "capacity_per_day", "is_active"]
    list_filter = ["home_location", "is_active"]
    search_fields = ["user__full_name"]
    list_select_related = ["user", "home_location"]
    raw_id_fields = ["user"]
    exclude = ["organization", "feed_token_hash", "feed_token_created_at"]
    inlines = [WorkingHoursInline]


@admin.register(WorkingHours)
class WorkingHoursAdmin(TenantAdmin):
    list_display = ["technician", "weekday", "starts", "ends"]
    list_filter = ["weekday"]
    list_select_related = ["technician__user"]
    raw_id_fields = ["technician"]


@admin.register(AvailabilityException)
class AvailabilityExceptionAdmin(TenantAdmin):
    list_display = ["technician", "date", "kind", "starts", "ends", "reason"]
    list_filter = ["kind"]
    list_select_related = ["technician__user"]
    raw_id_fields = ["technician"]
    date_hierarchy = "date"


@admin.register(Appointment)
class AppointmentAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "starts_at", "type", "location", "technician", "state"]
    list_filter = ["state", "location", "type"]
    search_fields = ["=public_id"]
    list_select_related = ["type", "location", "technician"]
    exclude = ["notes"]
    raw_id_fields = ["patient", "series", "created_by"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # clinical rows are marked (cancelled, entered in error), never deleted


@admin.register(RecurringSeries)
class RecurringSeriesAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "rrule", "dtstart", "location", "generated_until", "ended_at"]
    list_filter = ["location"]
    search_fields = ["=public_id"]
    list_select_related = ["location"]
    exclude = ["notes"]
    raw_id_fields = ["patient"]


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["public_id", "location", "type", "earliest_date", "latest_date", "state"]
    list_filter = ["state", "location"]
    search_fields = ["=public_id"]
    list_select_related = ["location", "type"]
    raw_id_fields = ["patient", "booked_appointment"]


@admin.register(WaitlistOffer)
class WaitlistOfferAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "starts_at", "location", "state", "rank", "expires_at"]
    list_filter = ["state"]
    search_fields = ["=public_id"]
    list_select_related = ["location"]


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "send_at", "channel", "offset_minutes", "state", "outcome"]
    list_filter = ["state", "channel"]
    search_fields = ["=public_id"]


AppointmentEvent = apps.get_model("scheduling", "AppointmentEvent")


@admin.register(AppointmentEvent)
class AppointmentEventAdmin(ReadOnlyTenantAdmin):
    tenant_lookup = "organization"
    list_display = ["pgh_created_at", "pgh_label", "pgh_obj", "state"]
    list_filter = ["pgh_label", "state"]
    list_select_related = ["pgh_obj"]
