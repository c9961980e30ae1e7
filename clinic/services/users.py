"""Users of an organization and their memberships (location x role).

Every write is made by an organization ADMIN on their own organization, records an audit
row in the same transaction, and refuses with a domain error a person can read. Two guards
keep an organization manageable: an administrator cannot take away their own last ADMIN
role, nor deactivate themselves.
"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinic.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from clinic.models import Location, Membership, Role, User
from clinic.services.audit import audit_record

# -- checks shared by every write ------------------------------------------------------------


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
    """Sign the user out everywhere, open sockets included (provided by the sign-in work)."""
    from clinic.services import auth

    revalidate = getattr(auth, "sessions_revalidate", None)
    if revalidate is not None:
        revalidate(user=user)


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
