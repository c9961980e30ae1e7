"""Gmail models in the Django admin (imported by the last line of comms/admin.py). Everything
is written by the services and the sync, so the admin only reads; tokens are never shown."""

from __future__ import annotations

from django.contrib import admin

from clinic.admin import ReadOnlyTenantAdmin
from comms.gmail.models import GmailAttachment, GmailLabel, GmailMailbox, GmailMessage, GmailThread


@admin.register(GmailMailbox)
class GmailMailboxAdmin(ReadOnlyTenantAdmin):
    list_display = ["email_address", "kind", "status", "last_synced_at", "full_sync_count"]
    list_filter = ["kind", "status"]
    exclude = ["access_token", "refresh_token"]


@admin.register(GmailLabel)
class GmailLabelAdmin(ReadOnlyTenantAdmin):
    list_display = ["name", "gmail_id", "is_system"]


@admin.register(GmailThread)
class GmailThreadAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "last_message_at"]


@admin.register(GmailMessage)
class GmailMessageAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "is_unread", "is_starred", "internal_at", "deleted_at"]


@admin.register(GmailAttachment)
class GmailAttachmentAdmin(ReadOnlyTenantAdmin):
    list_display = ["public_id", "mime_type", "size"]
    exclude = ["filename"]
