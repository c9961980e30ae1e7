"""The Django admin, scoped: an organization ADMIN sees and edits only their organization.

Every project model is registered through ``TenantAdmin`` (or ``ReadOnlyTenantAdmin``), which

- scopes ``get_queryset`` with the one tenancy rule (``scope_queryset(..., all_locations=True)``),
  or with ``tenant_lookup`` for models that do not declare their organization themselves;
- limits foreign-key and many-to-many choices to the organization's rows (a related model
  that belongs to nobody must say so with ``tenant_shared = True``, e.g. a code catalogue);
- turns related-field list filters into "only values in my rows" filters, so a filter never
  lists another organization's locations or people;
- grants organization ADMINs the admin permissions directly (Django's per-model permissions
  are not used) and answers 404, not the usual redirect, for another organization's object;
- records an audit row for every add, change and delete made through the admin.

Later apps register their models the same way::

    @admin.register(Patient)
    class PatientAdmin(TenantAdmin):
        list_display = ["public_id", "home_location", "status"]
        search_fields = ["public_id"]
        list_filter = ["status", "home_location"]

Platform superusers see everything. Users, memberships and locations are read-only for
organization ADMINs here: their changes go through the portal's organization screens, whose
services keep the last-admin guard, end sessions on deactivation and audit role changes.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, cast

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from pghistory.models import Context as HistoryContext

from clinic import admin_site  # noqa: F401  (installs the OTP-only permission on admin.site)
from clinic.audit.services import audit_record
from clinic.models import (
    AuditEvent,
    AuthThrottle,
    EventHandled,
    Location,
    Membership,
    Notification,
    Organization,
    OutboxEvent,
    RealtimeStream,
    User,
)
from clinic.tenancy import scope_queryset


def is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_authenticated and user.is_superuser)


def is_org_admin(request: HttpRequest) -> bool:
    user = request.user
    return bool(
        isinstance(user, User)
        and user.is_active
        and user.organization_id
        and user.is_org_admin
        and getattr(user, "is_verified", lambda: False)()  # set by django-otp's middleware
    )


def scoped_choices(request: HttpRequest, qs: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """Rows of ``qs`` an organization ADMIN may pick in a form."""
    if is_superuser(request):
        return qs
    model = qs.model
    if getattr(model, "tenant_organization_field", None):
        return scope_queryset(qs, request.user, all_locations=True)  # type: ignore[arg-type]
    if getattr(model, "tenant_shared", False):
        return qs
    return qs.none()


class TenantScopedMixin:
    """The scoping and permission rules of ``TenantAdmin``, also for inlines and re-registered
    third-party admins (mix it in first)."""

    tenant_lookup: str | None = None  # e.g. "user__organization" when the model declares none
    org_admin_can_add = True
    org_admin_can_change = True
    org_admin_can_delete = True

    def tenant_scope(self, request: HttpRequest, qs: models.QuerySet[Any]) -> models.QuerySet[Any]:
        if is_superuser(request):
            return qs
        if not is_org_admin(request):
            return qs.none()
        if self.tenant_lookup:
            return qs.filter(**{self.tenant_lookup: request.user.organization_id})  # type: ignore[union-attr]
        return scope_queryset(qs, request.user, all_locations=True)  # type: ignore[arg-type]

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        return self.tenant_scope(request, super().get_queryset(request))  # type: ignore[misc]

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        # Another organization's object and a missing one look the same: 404, before any
        # permission check could answer 403 for one and not the other.
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404
        return obj

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request) or is_org_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request) or is_org_admin(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_superuser(request) or (self.org_admin_can_add and is_org_admin(request))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request) or (self.org_admin_can_change and is_org_admin(request))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request) or (self.org_admin_can_delete and is_org_admin(request))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "queryset" not in kwargs:
            qs = self.get_field_queryset(None, db_field, request)  # type: ignore[attr-defined]
            if qs is None:
                qs = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scoped_choices(request, qs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "queryset" not in kwargs:
            qs = self.get_field_queryset(None, db_field, request)  # type: ignore[attr-defined]
            if qs is None:
                qs = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scoped_choices(request, qs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]


class TenantAdmin(TenantScopedMixin, admin.ModelAdmin):
    """Base admin of every project model. See the module docstring."""

    list_per_page = 50
    # No COUNT(*) over the whole table on every changelist (audit rows run to millions).
    show_full_result_count = False

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = list(super().get_list_filter(request))
        if is_superuser(request):
            return filters
        return [
            (f, admin.RelatedOnlyFieldListFilter)
            if isinstance(f, str) and _is_relation(self.model, f)
            else f
            for f in filters
        ]

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponse:
        # Another organization's object and a missing one look the same: 404.
        raise Http404

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,  # type: ignore[arg-type]
            action="admin.changed" if change else "admin.added",
            obj=obj,
            details={"fields": list(form.changed_data)},
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_record(actor=request.user, action="admin.deleted", obj=obj)  # type: ignore[arg-type]
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        for obj in queryset:
            audit_record(actor=request.user, action="admin.deleted", obj=obj)  # type: ignore[arg-type]
        super().delete_queryset(request, queryset)


class BoundedCountPaginator(Paginator):
    """Counts at most ``LIMIT`` rows, so a changelist over millions of log rows stays fast;
    the last pages of a huge table are reached by filtering, not by paging."""

    LIMIT = 10_000

    @cached_property
    def count(self) -> int:
        rows = cast("models.QuerySet[Any]", self.object_list)
        return int(rows[: self.LIMIT].count())


class ReadOnlyTenantAdmin(TenantAdmin):
    """Scoped, and nobody (superusers included) adds, changes or deletes: logs and ledgers.

    Log tables grow to millions of rows: counts are bounded and the full-table count is off.
    """

    paginator = BoundedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrgReadOnlyTenantAdmin(TenantAdmin):
    """Organization ADMINs may look; changes go through the portal's services."""

    org_admin_can_add = False
    org_admin_can_change = False
    org_admin_can_delete = False


class TenantInline(TenantScopedMixin, admin.TabularInline):
    extra = 0


class SuperuserOnlyMixin:
    """For platform-level data (lockouts, history contexts): invisible to organization ADMINs."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_superuser(request) and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request) and super().has_delete_permission(request, obj)  # type: ignore[misc]


def _is_relation(model: type[models.Model], path: str) -> bool:
    try:
        return bool(get_fields_from_path(model, path)[-1].is_relation)
    except (FieldDoesNotExist, AttributeError, IndexError):
        return False


# -- organizations, locations, users, memberships --------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(TenantAdmin):
    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["timezone"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    org_admin_can_add = False
    org_admin_can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if is_superuser(request) else [*fields, "slug"]


@admin.register(Location)
class LocationAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["name", "kind", "timezone", "phone", "is_active", "organization"]
    search_fields = ["name", "address", "phone"]
    list_filter = ["is_active", "kind", "timezone"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    list_select_related = ["organization"]

    def view_on_site(self, obj: Location) -> str:
        return reverse("clinic:organization_location", kwargs={"public_id": obj.public_id})


class MembershipInline(TenantInline):
    model = Membership
    fields = ["location", "role", "created_at"]
    readonly_fields = ["created_at"]
    org_admin_can_add = False
    org_admin_can_change = False
    org_admin_can_delete = False


@admin.register(User)
class UserAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["full_name", "email", "roles_display", "is_active", "last_login"]
    search_fields = ["full_name", "email"]
    list_filter = ["is_active", "memberships__role", "memberships__location"]
    inlines = [MembershipInline]

    def view_on_site(self, obj: User) -> str:
        return reverse("clinic:organization_user", kwargs={"public_id": obj.public_id})

    ordering = ["full_name"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["email", "full_name", "organization", "is_active"]
        if is_superuser(request):
            fields.append("is_superuser")
        return [*fields, "public_id", "date_joined", "last_login"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["public_id", "date_joined", "last_login"]

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("memberships__location")

    @admin.display(description="Roles")
    def roles_display(self, obj: User) -> str:
        return ", ".join(
            f"{m.get_role_display()} @ {m.location.name}" for m in obj.memberships.all()
        )


@admin.register(Membership)
class MembershipAdmin(OrgReadOnlyTenantAdmin):
    list_display = ["user", "location", "role", "created_at"]
    search_fields = ["user__full_name", "user__email", "location__name"]
    list_filter = ["role", "location"]
    list_select_related = ["user", "location"]
    readonly_fields = ["public_id", "created_at", "updated_at"]


# -- audit, events, notifications ------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyTenantAdmin):
    list_display = ["occurred_at", "action", "actor", "object_type", "object_id", "location", "ip"]
    # No distinct-value filters or date hierarchy: each would scan millions of rows. The
    # activity log page (/activity) is the fast way to filter; here search is by exact ids.
    list_filter = ["location"]
    search_fields = ["=action", "=object_id", "=request_id", "=actor__email"]
    list_select_related = ["actor", "location"]


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "created_at",
        "name",
        "aggregate_type",
        "aggregate_id",
        "dispatched_at",
        "attempts",
    ]
    list_filter = ["name", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "aggregate_type", "aggregate_id"]


@admin.register(EventHandled)
class EventHandledAdmin(ReadOnlyTenantAdmin):
    tenant_lookup = "event__organization"
    list_display = ["event", "handler", "handled_at"]
    list_filter = ["handler"]
    search_fields = ["handler", "event__name"]
    list_select_related = ["event"]


@admin.register(RealtimeStream)
class RealtimeStreamAdmin(SuperuserOnlyMixin, ReadOnlyTenantAdmin):
    # Stream keys carry ids of several kinds; no organization to scope them by.
    list_display = ["key", "version"]
    search_fields = ["key"]


@admin.register(AuthThrottle)
class AuthThrottleAdmin(SuperuserOnlyMixin, ReadOnlyTenantAdmin):
    # Keyed by a hash of the email or user, never the address itself; no organization.
    list_display = ["scope", "key", "failures", "last_failure_at", "blocked_until"]
    list_filter = ["scope"]


@admin.register(Notification)
class NotificationAdmin(TenantAdmin):
    list_display = ["title", "recipient", "kind", "created_at", "read_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "kind", "recipient__full_name", "recipient__email"]
    list_select_related = ["recipient"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    # Notifications are made by services (they also go out live); the admin only tidies up.
    org_admin_can_add = False
    org_admin_can_change = False


# -- change history (django-pghistory event tables) ------------------------------------------

MembershipEvent = apps.get_model("clinic", "MembershipEvent")
UserAccessEvent = apps.get_model("clinic", "UserAccessEvent")


@admin.register(MembershipEvent)
class MembershipEventAdmin(ReadOnlyTenantAdmin):
    tenant_lookup = "location__organization"
    list_display = ["pgh_created_at", "pgh_label", "user", "location", "role"]
    list_filter = ["pgh_label", "role", "location"]
    search_fields = ["user__full_name", "user__email"]
    list_select_related = ["user", "location"]


@admin.register(UserAccessEvent)
class UserAccessEventAdmin(ReadOnlyTenantAdmin):
    tenant_lookup = "organization"
    list_display = ["pgh_created_at", "pgh_label", "pgh_obj", "email", "is_active"]
    list_filter = ["pgh_label", "is_active"]
    search_fields = ["email"]
    list_select_related = ["pgh_obj"]


@admin.register(HistoryContext)
class HistoryContextAdmin(SuperuserOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "updated_at"]
    search_fields = ["id"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# -- third-party admins, re-registered scoped or for superusers only -------------------------


class ScopedTOTPDeviceAdmin(TenantScopedMixin, TOTPDeviceAdmin):
    """Organization ADMINs see their people's authenticators and may delete one (a lost
    phone: the person enrols again at next sign-in). Secrets and QR codes: superusers only."""

    tenant_lookup = "user__organization"
    org_admin_can_add = False
    org_admin_can_change = False
    show_full_result_count = False

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        return shown if is_superuser(request) else [f for f in shown if f != "qrcode_link"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if is_superuser(request):
            return fieldsets
        hidden = {"key", "qrcode_link"}
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]})
            for name, opts in fieldsets
            if [f for f in opts["fields"] if f not in hidden]
        ]

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponse:
        raise Http404

    def config_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not is_superuser(request):
            raise Http404
        return super().config_view(request, pk)

    def qrcode_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not is_superuser(request):
            raise Http404
        return super().qrcode_view(request, pk)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_record(
            actor=request.user,  # type: ignore[arg-type]
            action="admin.authenticator_deleted",
            object_type="clinic.user",
            object_id=str(obj.user.public_id),
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        for obj in queryset.select_related("user"):
            audit_record(
                actor=request.user,  # type: ignore[arg-type]
                action="admin.authenticator_deleted",
                object_type="clinic.user",
                object_id=str(obj.user.public_id),
            )
        super().delete_queryset(request, queryset)


class ScopedStaticDeviceAdmin(TenantScopedMixin, StaticDeviceAdmin):
    """Backup-code devices: same rules; the codes themselves are never shown to ADMINs."""

    tenant_lookup = "user__organization"
    org_admin_can_add = False
    org_admin_can_change = False
    show_full_result_count = False

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> Any:
        if not is_superuser(request):
            return []
        return super().get_inline_instances(request, obj)

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponse:
        raise Http404


def _reregister(model: type[models.Model], admin_class: type[admin.ModelAdmin]) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, admin_class)


def _superuser_only(base: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    return type(f"SuperuserOnly{base.__name__}", (SuperuserOnlyMixin, base), {})


_reregister(TOTPDevice, ScopedTOTPDeviceAdmin)
_reregister(StaticDevice, ScopedStaticDeviceAdmin)
_reregister(AccessAttempt, _superuser_only(AccessAttemptAdmin))
_reregister(AccessLog, _superuser_only(AccessLogAdmin))
_reregister(AccessFailureLog, _superuser_only(AccessFailureLogAdmin))
_reregister(Group, _superuser_only(GroupAdmin))
