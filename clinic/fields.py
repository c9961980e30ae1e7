"""Model fields shared by every app.

``EncryptedTextField`` keeps a value encrypted in the database (``clinic.crypto``) and plain on
the model instance. A ciphertext is different every time the same value is saved, so the database
cannot compare, sort or index it: the field refuses every lookup except ``isnull`` (and ``=None``).
Exact search goes through a companion hash column the service fills::

    member_id = EncryptedTextField(blank=True)
    member_id_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)

    # in the service that writes it
    policy.member_id = member_id
    policy.member_id_hash = lookup_hash(member_id)
    # and to find it
    InsurancePolicy.objects.filter(member_id_hash=lookup_hash(typed_member_id))

The field takes no key material and no extra arguments, so migrations never change when keys do.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact

from clinic.crypto import decrypt_text, encrypt_text

__all__ = ["EncryptedLookupError", "EncryptedTextField"]


class EncryptedLookupError(FieldError):
    """A query tried to compare an encrypted column; say what to do instead."""


def _refusal(field: models.Field, lookup_name: str) -> EncryptedLookupError:
    model = getattr(field, "model", None)
    where = f"{model.__name__}.{field.name}" if model is not None else field.name
    return EncryptedLookupError(
        f"{where} is encrypted: the database cannot compare it, so '{lookup_name}' is not "
        "allowed (only isnull). For an exact match filter on its companion hash column with "
        "clinic.crypto.lookup_hash(value)."
    )


class _NoneOnlyExact(Exact):
    """``filter(field=None)`` is Django's spelling of ``isnull``; any other value is refused."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs is not None:
            raise _refusal(lhs.output_field, "exact")
        super().__init__(lhs, rhs)


class EncryptedTextField(models.TextField):
    """Text encrypted at rest with the newest FIELD_ENCRYPTION_KEYS key; "" and NULL are stored
    as they are (they say only that there is no value, which NULL would say anyway)."""

    description = "Text encrypted at rest"

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.unique or getattr(self, "db_index", False) or self.primary_key:
            errors.append(
                checks.Error(
                    "EncryptedTextField cannot be unique, indexed or a primary key: every "
                    "encryption of a value differs. Index the companion lookup-hash column.",
                    obj=self,
                    id="clinic.E101",
                )
            )
        return errors

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return decrypt_text(value)

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(str(value))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name == "exact":
            return _NoneOnlyExact
        raise _refusal(self, lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        raise _refusal(self, lookup_name)
