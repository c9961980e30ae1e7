"""Comms in the Django admin, scoped by ``TenantAdmin``. Messages and receipts are ledgers
(read-only); settings, senders and templates are configuration an organization ADMIN edits."""

from __future__ import annotations

from django.contrib import admin

from clinic.admin import OrgReadOnlyTenantAdmin, ReadOnlyTenantAdmin
from comms.gmail import admin as gmail_admin  # noqa: F401 - the Gmail models' admin
from comms.models import (
    CommsSettings,
    ContactPreference,
    Conversation,
    LocationSender,
    Message,
    MessageTemplate,
    WebhookReceipt,
)


@admin.register(CommsSettings)
class CommsSettingsAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["organization", "sms_gateway", "twilio_from_number"]
    # The auth token is never shown back; set it through the portal settings page.
    exclude = ["twilio_auth_token"]


@admin.register(LocationSender)
class LocationSenderAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["location", "from_number"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["name", "key", "channel", "is_active"]


@admin.register(ContactPreference)
class ContactPreferenceAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["channel", "consent", "opted_out", "opted_out_at"]


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "location", "unread_count", "last_message_at", "archived_at"]


@admin.register(Message)
class MessageAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "channel", "direction", "purpose", "status", "created_at"]
    list_filter = ["channel", "direction", "status"]
    exclude = ["body"]


@admin.register(WebhookReceipt)
class WebhookReceiptAdmin(ReadOnlyTenantAdmin):
    list_display = ["key", "received_at"]
