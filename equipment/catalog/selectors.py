"""Scoped reads of the catalogue: an organization's items, never another's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from clinic.tenancy import scope_queryset

from .models import Item
from .permissions import can_view_catalog

if TYPE_CHECKING:
    from clinic.models import User


def items_visible_to(user: User) -> QuerySet[Item]:
    """The catalogue of the user's organization (it is organization-wide, not per location)."""
    if not user.is_authenticated or not can_view_catalog(user):
        return Item.objects.none()
    return scope_queryset(Item.objects.all(), user, all_locations=True)
