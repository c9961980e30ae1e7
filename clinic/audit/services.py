"""The one helper that writes audit rows, and its thin wrapper for access events."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from clinic import context
from clinic.models import AuditEvent, Location

if TYPE_CHECKING:
    from django.db.models import Model

    from clinic.models import Organization, User

# Detail values must be plain codes, numbers or field names; free text could smuggle PHI.
_ALLOWED_DETAIL_TYPES = (str, int, float, bool, type(None))
_MAX_DETAIL_STR = 100


def _clean_details(details: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, list | tuple):
            value = [v for v in value if isinstance(v, _ALLOWED_DETAIL_TYPES)]
        elif isinstance(value, uuid.UUID):
            value = str(value)
        elif not isinstance(value, _ALLOWED_DETAIL_TYPES):
            raise TypeError(
                f"audit detail {key!r} must be a plain value, got {type(value).__name__}"
            )
        if isinstance(value, str) and len(value) > _MAX_DETAIL_STR:
            raise ValueError(f"audit detail {key!r} is too long to be a code")
        if isinstance(value, list) and any(
            isinstance(v, str) and len(v) > _MAX_DETAIL_STR for v in value
        ):
            raise ValueError(f"audit detail {key!r} holds a value too long to be a code")
        clean[key] = value
    return clean


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    organization: Organization | None = None,
    location: Location | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record one audit row, in the caller's transaction.

    ``obj`` supplies the object type and its *public* id; organization defaults to the
    actor's, location to the object's when it has one.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(getattr(obj, "public_id", "") or "")
        if location is None:
            location = _location_of(obj)
        if organization is None:
            organization = getattr(obj, "organization", None)
    if organization is None and actor is not None and getattr(actor, "organization_id", None):
        organization = actor.organization
    ctx = context.current()
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        organization=organization,
        location=location,
        request_id=ctx.request_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent[:256],
        details=_clean_details(details or {}),
    )


def _location_of(obj: Model) -> Location | None:
    if isinstance(obj, Location):
        return obj
    field = getattr(type(obj), "tenant_location_field", None)
    if field and "__" not in field and field != "pk":
        value = getattr(obj, field, None)
        return value if isinstance(value, Location) else None
    return None


# "<thing>.<past-tense verb>", e.g. "patient.viewed", "document.downloaded", "export.created".
_ACCESS_ACTION = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def audit_access(
    *,
    actor: User,
    obj: Model,
    action: str,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that ``actor`` saw or took out ``obj`` (viewing a patient, downloading a file,
    creating an export). Call it from the view that shows the data, after the permission
    check passed, so every disclosure of patient data leaves a row.

    ``obj`` must have a public id: the row names it by that, never by content.
    """
    if not _ACCESS_ACTION.match(action):
        raise ValueError(f"access action {action!r} must look like 'patient.viewed'")
    if not getattr(obj, "public_id", None):
        raise ValueError(f"{obj._meta.label} has no public id to name it by")
    return audit_record(actor=actor, action=action, obj=obj, details=details)
