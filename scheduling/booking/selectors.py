"""Read-side queries shared by the booking, calendar and waitlist pages."""

from __future__ import annotations

from django.db.models import QuerySet

from clinic.models import Location, Membership, Role, User
from clinic.tenancy import scope_queryset
from scheduling.models import AppointmentType


def location_technicians(location: Location) -> QuerySet[User]:
    """Field technicians working at ``location`` (their membership there), by name."""
    ids = Membership.objects.filter(location=location, role=Role.FIELD_TECHNICIAN).values("user_id")
    return User.objects.filter(pk__in=ids, is_active=True).order_by("full_name", "pk")


def organization_types(user: User) -> QuerySet[AppointmentType]:
    """The active appointment types of ``user``'s organization."""
    return scope_queryset(AppointmentType.objects.filter(is_active=True), user)
