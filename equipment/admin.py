"""The equipment app in the Django admin, scoped to the organization by ``TenantAdmin``.

Items are edited here too (adds and changes are audited by ``TenantAdmin``). Balances, the
ledger, reservations, serial units, patients' equipment, rental months and delivery tickets are
read-only: they change only through the services, which keep the ledger, the counts, the
rental rule and the ticket's states in step.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from clinic.admin import ReadOnlyTenantAdmin, TenantAdmin

from .models import (
    DeliveryLine,
    DeliveryTicket,
    Item,
    PatientEquipment,
    ProofOfDelivery,
    RentalMonth,
    Reservation,
    SerialEvent,
    SerialUnit,
    StockBalance,
    StockMovement,
)


@admin.register(Item)
class ItemAdmin(TenantAdmin):
    list_display = ["hcpcs", "name", "manufacturer", "model_number", "kind", "size", "serialized"]
    list_filter = ["kind", "serialized", "is_active"]
    search_fields = ["=hcpcs", "name", "manufacturer", "model_number"]
    exclude = ["organization"]
    readonly_fields = ["public_id"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not obj.organization_id:
            obj.organization_id = request.user.organization_id  # type: ignore[union-attr]
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # items stay for the ledger; mark them inactive


@admin.register(StockBalance)
class StockBalanceAdmin(ReadOnlyTenantAdmin):
    list_display = ["location", "item", "on_hand", "reserved", "reorder_point"]
    list_filter = ["location"]
    list_select_related = ["location", "item"]


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyTenantAdmin):
    list_display = ["occurred_at", "location", "item", "kind", "on_hand_delta", "reserved_delta"]
    list_filter = ["kind", "location"]
    list_select_related = ["location", "item"]


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "location", "item", "quantity", "status", "needed_on"]
    list_filter = ["status", "location"]
    list_select_related = ["location", "item"]


@admin.register(SerialUnit)
class SerialUnitAdmin(ReadOnlyTenantAdmin):
    list_display = ["serial_number", "item", "location", "status"]
    list_filter = ["status", "location"]
    search_fields = ["=serial_number"]
    list_select_related = ["location", "item"]


@admin.register(SerialEvent)
class SerialEventAdmin(ReadOnlyTenantAdmin):
    list_display = ["occurred_at", "serial", "kind", "location"]
    list_filter = ["kind"]
    list_select_related = ["location", "serial"]


@admin.register(PatientEquipment)
class PatientEquipmentAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "item", "acquisition", "setup_on", "removed_on"]
    list_filter = ["acquisition"]
    list_select_related = ["item"]


@admin.register(RentalMonth)
class RentalMonthAdmin(ReadOnlyTenantAdmin):
    list_display = ["equipment", "period", "month", "starts_on"]


@admin.register(DeliveryTicket)
class DeliveryTicketAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "date_of_service", "location", "method", "state"]
    list_filter = ["state", "method", "location"]
    list_select_related = ["location"]


@admin.register(DeliveryLine)
class DeliveryLineAdmin(ReadOnlyTenantAdmin):
    list_display = ["ticket", "item", "hcpcs", "quantity", "acquisition"]
    list_select_related = ["ticket", "item"]


@admin.register(ProofOfDelivery)
class ProofOfDeliveryAdmin(ReadOnlyTenantAdmin):
    list_display = ["ticket", "relationship", "signed_at"]
    list_select_related = ["ticket"]
