"""Writes of the catalogue: add and change items. ADMINs only; every write is audited."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, PermissionDenied

from .models import HCPCS_PATTERN, Item, ItemKind
from .permissions import can_manage_catalog

if TYPE_CHECKING:
    from clinic.models import User

_HCPCS = re.compile(HCPCS_PATTERN)


class ItemInvalid(ApplicationError):
    code = "item_invalid"


def _clean(*, hcpcs: str, name: str, kind: str) -> tuple[str, str]:
    hcpcs = (hcpcs or "").strip().upper()
    if not _HCPCS.match(hcpcs):
        raise ItemInvalid(
            "An HCPCS code is a letter and 4 digits, like A7030.", extra={"field": "hcpcs"}
        )
    name = (name or "").strip()
    if not name:
        raise ItemInvalid("Give the item a name.", extra={"field": "name"})
    if kind not in ItemKind.values:
        raise ItemInvalid("Choose what kind of item this is.", extra={"field": "kind"})
    return hcpcs, name


def _save(item: Item) -> None:
    try:
        with transaction.atomic():
            item.save()
    except IntegrityError as exc:
        raise ItemInvalid(
            "The catalogue already has an item with this name and size.", extra={"field": "name"}
        ) from exc


@transaction.atomic
def item_create(
    *,
    actor: User,
    hcpcs: str,
    name: str,
    kind: str,
    manufacturer: str = "",
    model_number: str = "",
    size: str = "",
    serialized: bool = False,
) -> Item:
    if not can_manage_catalog(actor):
        raise PermissionDenied("Only an administrator can change the catalogue.")
    hcpcs, name = _clean(hcpcs=hcpcs, name=name, kind=kind)
    item = Item(
        organization=actor.organization,
        hcpcs=hcpcs,
        name=name,
        kind=kind,
        manufacturer=manufacturer.strip(),
        model_number=model_number.strip(),
        size=size.strip(),
        serialized=serialized,
    )
    _save(item)
    audit_record(actor=actor, action="equipment.item_created", obj=item)
    return item


@transaction.atomic
def item_update(
    *,
    actor: User,
    item: Item,
    hcpcs: str,
    name: str,
    kind: str,
    manufacturer: str = "",
    model_number: str = "",
    size: str = "",
    serialized: bool = False,
    is_active: bool = True,
) -> Item:
    """Change an item. Whether it is serialized is fixed once any stock of it was received:
    its units would otherwise be half counted by serial and half not."""
    if not can_manage_catalog(actor) or item.organization_id != actor.organization_id:
        raise PermissionDenied("Only an administrator can change the catalogue.")
    hcpcs, name = _clean(hcpcs=hcpcs, name=name, kind=kind)
    item = Item.objects.select_for_update().get(pk=item.pk)
    if serialized != item.serialized and item.balances.exists():
        raise ItemInvalid(
            "Stock of this item was already received, so whether it is serialized cannot change.",
            extra={"field": "serialized"},
        )
    changed = []
    for field, value in (
        ("hcpcs", hcpcs),
        ("name", name),
        ("kind", kind),
        ("manufacturer", manufacturer.strip()),
        ("model_number", model_number.strip()),
        ("size", size.strip()),
        ("serialized", serialized),
        ("is_active", is_active),
    ):
        if getattr(item, field) != value:
            setattr(item, field, value)
            changed.append(field)
    if changed:
        _save(item)
        audit_record(
            actor=actor, action="equipment.item_changed", obj=item, details={"fields": changed}
        )
    return item
