"""The one scoping rule, used by every view, API call, consumer, admin screen and export.

A user sees only their own organization; inside it, location-bound rows only at the
locations they hold a membership for, unless they are an organization ADMIN. Models opt in
by declaring where their organization and location live::

    class Patient(TenantModel):
        tenant_organization_field = "organization"
        tenant_location_field = "home_location"

Anything not visible raises ``NotFound``: "not yours" and "does not exist" look the same.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from .errors import NotFound
from .models import Location, User

M = TypeVar("M", bound=models.Model)


def _org_field(model: type[models.Model]) -> str:
    field = getattr(model, "tenant_organization_field", None)
    if field is None:
        raise TypeError(f"{model.__name__} does not declare tenant_organization_field")
    return str(field)


def scope_queryset(
    qs: models.QuerySet[M], user: User, *, all_locations: bool = False
) -> models.QuerySet[M]:
    """Restrict ``qs`` to what ``user`` may see. ``all_locations`` widens to the whole organization
    (for organization-wide records such as users or configuration) but never beyond it."""
    if (
        user is None
        or not user.is_authenticated
        or not user.is_active
        or user.organization_id is None
    ):
        return qs.none()
    model = qs.model
    qs = qs.filter(**{_org_field(model): user.organization_id})
    location_field = getattr(model, "tenant_location_field", None)
    if location_field and not all_locations and not user.is_org_admin:
        qs = qs.filter(**{f"{location_field}__in": user.location_ids()})
    return qs


def get_scoped(qs_or_model: models.QuerySet[M] | type[M], user: User, **lookup: Any) -> M:
    qs = (
        qs_or_model
        if isinstance(qs_or_model, models.QuerySet)
        else qs_or_model._default_manager.all()
    )
    try:
        return scope_queryset(qs, user).get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("That record does not exist or is not available to you.") from exc


def visible_locations(user: User) -> models.QuerySet[Any]:
    return scope_queryset(Location.objects.filter(is_active=True), user)
