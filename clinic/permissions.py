"""Who may do what in the clinic core. Plain functions, used by views, API, consumers and admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import permissions

if TYPE_CHECKING:
    from clinic.models import User


def is_verified_staff(user: Any) -> bool:
    """Signed in with password and OTP, active, and a member of an organization."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and getattr(user, "organization_id", None)
        and user.is_verified()
    )


def can_manage_organization(user: User) -> bool:
    """Users, memberships, locations, configuration and the activity log."""
    return is_verified_staff(user) and user.is_org_admin


def can_view_activity_log(user: User) -> bool:
    return can_manage_organization(user)


class IsVerifiedStaff(permissions.BasePermission):
    """The permission every API endpoint starts from."""

    message = "Sign in with your password and authenticator code first."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_verified_staff(request.user)
