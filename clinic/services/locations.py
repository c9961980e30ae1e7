"""Locations (healthcare units) of an organization: create, edit, deactivate, reactivate.

Locations are never deleted: rows of every later app point at them. A deactivated location
drops out of everyone's visible locations and its memberships stop granting anything.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

from django.db import IntegrityError, transaction

from clinic.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from clinic.models import Location, Membership, Role, User
from clinic.services.audit import audit_record

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
_EDITABLE = ("name", "kind", "timezone", "address", "phone")


@lru_cache(maxsize=1)
def timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def phone_normalize(value: str) -> str:
    """E.164 (``+15555550142``) or empty; separators people type are dropped."""
    value = _PHONE_SEPARATORS.sub("", (value or "").strip())
    if value and not _E164.match(value):
        raise ApplicationError(
            "Enter the phone number in international format, for example +1 617 555 0142.",
            code="phone_invalid",
            extra={"field": "phone"},
        )
    return value


def _require_admin(actor: User) -> None:
    if not (actor.is_active and actor.is_org_admin):
        raise PermissionDenied("Only an administrator of the organization can do that.")


def _require_own(actor: User, location: Location) -> None:
    if location.organization_id != actor.organization_id:
        raise NotFound("That location does not exist or is not part of your organization.")


def _clean(*, name: str, kind: str, timezone: str, address: str, phone: str) -> dict[str, str]:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Enter the location's name.", extra={"field": "name"})
    if kind not in Location.Kind.values:
        raise ApplicationError("Choose what kind of location this is.", extra={"field": "kind"})
    if timezone not in timezone_names():
        raise ApplicationError("Choose a time zone from the list.", extra={"field": "timezone"})
    return {
        "name": name,
        "kind": kind,
        "timezone": timezone,
        "address": (address or "").strip(),
        "phone": phone_normalize(phone),
    }


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"Your organization already has a location called {name}.",
        code="location_name_taken",
        extra={"field": "name"},
    )


def _save_unique(location: Location, **kwargs: object) -> None:
    try:
        with transaction.atomic():
            location.save(**kwargs)  # type: ignore[arg-type]
    except IntegrityError as exc:  # the per-organization unique name
        raise _name_taken(location.name) from exc


@transaction.atomic
def location_create(
    *,
    actor: User,
    name: str,
    kind: str = Location.Kind.CLINIC,
    timezone: str,
    address: str = "",
    phone: str = "",
) -> Location:
    _require_admin(actor)
    values = _clean(name=name, kind=kind, timezone=timezone, address=address, phone=phone)
    assert actor.organization_id is not None  # an organization ADMIN always has one
    location = Location(organization_id=actor.organization_id, **values)
    _save_unique(location)
    audit_record(actor=actor, action="location.created", obj=location)
    return location


@transaction.atomic
def location_update(
    *,
    actor: User,
    location: Location,
    name: str,
    kind: str,
    timezone: str,
    address: str = "",
    phone: str = "",
) -> Location:
    _require_admin(actor)
    _require_own(actor, location)
    values = _clean(name=name, kind=kind, timezone=timezone, address=address, phone=phone)
    changed = [field for field in _EDITABLE if getattr(location, field) != values[field]]
    if not changed:
        return location
    for field in changed:
        setattr(location, field, values[field])
    _save_unique(location, update_fields=[*changed, "updated_at"])
    audit_record(actor=actor, action="location.updated", obj=location, details={"fields": changed})
    return location


@transaction.atomic
def location_deactivate(*, actor: User, location: Location) -> Location:
    """Hide the location everywhere; memberships there stop granting access."""
    _require_admin(actor)
    _require_own(actor, location)
    location = Location.objects.select_for_update().get(pk=location.pk)
    if not location.is_active:
        return location
    still_admin = (
        Membership.objects.filter(user=actor, role=Role.ADMIN, location__is_active=True)
        .exclude(location=location)
        .exists()
    )
    if not still_admin:
        raise ApplicationError(
            "Your administrator role is held only at this location, so deactivating it would "
            "lock you out. Give yourself the administrator role at another location first.",
            code="last_admin_role",
        )
    location.is_active = False
    location.save(update_fields=["is_active", "updated_at"])
    audit_record(actor=actor, action="location.deactivated", obj=location)
    return location


@transaction.atomic
def location_reactivate(*, actor: User, location: Location) -> Location:
    _require_admin(actor)
    _require_own(actor, location)
    location = Location.objects.select_for_update().get(pk=location.pk)
    if location.is_active:
        return location
    location.is_active = True
    location.save(update_fields=["is_active", "updated_at"])
    audit_record(actor=actor, action="location.reactivated", obj=location)
    return location
