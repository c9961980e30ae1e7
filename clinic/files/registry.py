"""Which app decides who may download a stored file: one access check per object type.

Apps register theirs from ``AppConfig.ready()`` with ``file_access_register``; the download
view looks the check up with ``file_access_for`` on every download.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clinic.models import User

AccessCheck = Callable[["User", str], Any]


@dataclass(frozen=True)
class FileAccess:
    object_type: str
    check: AccessCheck
    action: str


_ACCESS: dict[str, FileAccess] = {}


def file_access_register(object_type: str, *, check: AccessCheck, action: str = "") -> None:
    """Let the app that owns ``object_type`` ("patients.document") decide who may download.

    ``check(user, public_id)`` runs on every download; it returns the object (preferred: the
    audit row then carries its organization and location), ``True``, or something falsy, or
    raises ``clinic.errors.NotFound``. ``action`` is the audit action, by default
    "<model>.downloaded" ("document.downloaded").
    """
    app_label, _, model = object_type.partition(".")
    if not app_label or not model or object_type != object_type.lower():
        raise ValueError(f"object type {object_type!r} must look like 'patients.document'")
    _ACCESS[object_type] = FileAccess(
        object_type=object_type, check=check, action=action or f"{model}.downloaded"
    )


def file_access_unregister(object_type: str) -> None:
    _ACCESS.pop(object_type, None)


def file_access_for(object_type: str) -> FileAccess | None:
    return _ACCESS.get(object_type)
