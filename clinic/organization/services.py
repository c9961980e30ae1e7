"""Organization administration: users, their memberships (location x role), and locations.

Every write is made by an organization ADMIN on their own organization, records an audit
row in the same transaction, and refuses with a domain error a person can read. Two guards
keep an organization manageable: an administrator cannot take away their own last ADMIN
role, nor deactivate themselves.

Locations (healthcare units) are never deleted: rows of every later app point at them. A
deactivated location drops out of everyone's visible locations and its memberships stop
granting anything.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinic.audit.services import audit_record
from clinic.auth.services import sessions_revalidate
from clinic.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from clinic.models import Location, Membership, Role, User


def _require_admin(actor: User) -> None:
    if not (actor.is_active and actor.is_org_admin):
        raise PermissionDenied("Only an administrator of the organization can do that.")


def _require_same_org_user(actor: User, user: User) -> None:
    if user.organization_id != actor.organization_id:
        raise NotFound("That user does not exist or is not part of your organization.")


def _require_org_location(actor: User, location: Location) -> None:
    if location.organization_id != actor.organization_id:
        raise NotFound(
            "That location is not part of your organization.", extra={"field": "location"}
        )


def _require_role(role: str) -> str:
    if role not in Role.values:
        raise ApplicationError("Choose one of the listed roles.", extra={"field": "role"})
    return role


def _normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254:
        raise ApplicationError("Enter a valid email address.", extra={"field": "email"})
    return email


def _email_taken() -> Conflict:
    # Email is the sign-in name across all organizations, so it is unique platform-wide.
    return Conflict(
        "This email address is already in use. Each person signs in with their own address.",
        code="email_taken",
        extra={"field": "email"},
    )


def _check_password(password: str, *, email: str, full_name: str) -> None:
    try:
        validate_password(password, user=User(email=email, full_name=full_name))
    except ValidationError as exc:
        raise ApplicationError(
            " ".join(exc.messages), code="password_invalid", extra={"field": "password"}
        ) from exc


def _holds_other_admin_role(user: User, *, excluding: Membership) -> bool:
    return (
        Membership.objects.filter(user=user, role=Role.ADMIN, location__is_active=True)
        .exclude(pk=excluding.pk)
        .exists()
    )


def _refuse_losing_own_admin(actor: User, membership: Membership, new_role: str | None) -> None:
    """``new_role`` None means the membership is being removed."""
    if membership.user_id != actor.pk or membership.role != Role.ADMIN or new_role == Role.ADMIN:
        return
    # Lock the actor's memberships so two concurrent demotions cannot both pass the check.
    list(Membership.objects.select_for_update().filter(user=actor))
    if not _holds_other_admin_role(actor, excluding=membership):
        raise ApplicationError(
            "You cannot remove your own last administrator role. "
            "Ask another administrator to do it, so the organization always keeps one.",
            code="last_admin_role",
        )


def _lock_membership(membership: Membership) -> Membership:
    try:
        return (
            Membership.objects.select_for_update(of=("self",))
            .select_related("location", "user")
            .get(pk=membership.pk)
        )
    except Membership.DoesNotExist as exc:  # removed meanwhile
        raise NotFound("That role no longer exists.") from exc


def _end_sessions(user: User) -> None:
    """Sign the user out everywhere, open sockets included."""
    sessions_revalidate(user=user)


# -- users -----------------------------------------------------------------------------------


@transaction.atomic
def user_create(
    *,
    actor: User,
    email: str,
    full_name: str,
    password: str,
    location: Location,
    role: str,
) -> User:
    """Create a staff user with a first membership. They enrol TOTP at their first sign-in."""
    _require_admin(actor)
    _require_org_location(actor, location)
    _require_role(role)
    email = _normalize_email(email)
    full_name = (full_name or "").strip()
    if not full_name:
        raise ApplicationError("Enter the person's full name.", extra={"field": "full_name"})
    if not location.is_active:
        raise ApplicationError(
            f"{location.name} is deactivated; choose an active location.",
            extra={"field": "location"},
        )
    if User.objects.filter(email__iexact=email).exists():
        raise _email_taken()
    _check_password(password, email=email, full_name=full_name)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password, full_name=full_name, organization_id=actor.organization_id
            )
    except IntegrityError as exc:  # a concurrent create with the same address
        raise _email_taken() from exc
    membership = Membership.objects.create(user=user, location=location, role=role)
    audit_record(actor=actor, action="user.created", obj=user)
    audit_record(
        actor=actor,
        action="membership.added",
        obj=membership,
        details={"user": str(user.public_id), "role": role},
    )
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, full_name: str) -> User:
    _require_admin(actor)
    _require_same_org_user(actor, user)
    full_name = (full_name or "").strip()
    if not full_name:
        raise ApplicationError("Enter the person's full name.", extra={"field": "full_name"})
    if full_name == user.full_name:
        return user
    user.full_name = full_name
    user.save(update_fields=["full_name"])
    audit_record(actor=actor, action="user.updated", obj=user, details={"fields": ["full_name"]})
    return user


@transaction.atomic
def user_deactivate(*, actor: User, user: User) -> User:
    """Block sign-in and end every session and socket the user has open."""
    _require_admin(actor)
    _require_same_org_user(actor, user)
    if user.pk == actor.pk:
        raise ApplicationError(
            "You cannot deactivate your own account. Ask another administrator.",
            code="self_deactivation",
        )
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        return user
    user.is_active = False
    user.save(update_fields=["is_active"])
    audit_record(actor=actor, action="user.deactivated", obj=user)
    _end_sessions(user)
    return user


@transaction.atomic
def user_reactivate(*, actor: User, user: User) -> User:
    _require_admin(actor)
    _require_same_org_user(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active:
        return user
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(actor=actor, action="user.reactivated", obj=user)
    return user


# -- memberships -----------------------------------------------------------------------------


@transaction.atomic
def membership_add(*, actor: User, user: User, location: Location, role: str) -> Membership:
    _require_admin(actor)
    _require_same_org_user(actor, user)
    _require_org_location(actor, location)
    _require_role(role)
    if not location.is_active:
        raise ApplicationError(
            f"{location.name} is deactivated; reactivate it first.", extra={"field": "location"}
        )
    taken = Conflict(
        f"{user} already has a role at {location.name}. Change that role instead.",
        code="membership_exists",
        extra={"field": "location"},
    )
    if Membership.objects.filter(user=user, location=location).exists():
        raise taken
    try:
        with transaction.atomic():
            membership = Membership.objects.create(user=user, location=location, role=role)
    except IntegrityError as exc:  # the unique constraint caught a concurrent add
        raise taken from exc
    audit_record(
        actor=actor,
        action="membership.added",
        obj=membership,
        details={"user": str(user.public_id), "role": role},
    )
    return membership


@transaction.atomic
def membership_role_change(*, actor: User, membership: Membership, role: str) -> Membership:
    _require_admin(actor)
    _require_role(role)
    membership = _lock_membership(membership)
    _require_org_location(actor, membership.location)
    old = membership.role
    if old == role:
        return membership
    _refuse_losing_own_admin(actor, membership, role)
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        actor=actor,
        action="membership.role_changed",
        obj=membership,
        details={"from": old, "to": role, "user": str(membership.user.public_id)},
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: User, membership: Membership) -> None:
    _require_admin(actor)
    membership = _lock_membership(membership)
    _require_org_location(actor, membership.location)
    _refuse_losing_own_admin(actor, membership, None)
    audit_record(
        actor=actor,
        action="membership.removed",
        obj=membership,
        details={"user": str(membership.user.public_id), "role": membership.role},
    )
    membership.delete()


# -- locations --------------------------------------------------------------------------------

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
