"""EncryptedTextField and ``manage.py rotate_encryption`` against a real table.

No production model uses the field yet, so each test creates a small model for the duration of
the test: the class is registered with the app registry (the command finds models there), its
table is created inside the test transaction (rolled back with it) and the registration is
removed afterwards so nothing else ever sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.test.utils import isolate_apps

from clinic.crypto import decrypt_text, encrypt_text, is_current
from clinic.fields import EncryptedLookupError, EncryptedTextField

TABLE = "clinic_test_crypto_vault"


@pytest.fixture
def vault(db) -> Iterator[type[models.Model]]:
    class Vault(models.Model):  # noqa: DJ008
        label = models.CharField(max_length=20, default="")
        secret = EncryptedTextField(blank=True, null=True)
        note = EncryptedTextField(blank=True, default="")

        class Meta:
            app_label = "clinic"
            db_table = TABLE

    with connection.schema_editor() as editor:
        editor.create_model(Vault)
    try:
        yield Vault
    finally:
        del apps.all_models["clinic"]["vault"]
        apps.clear_cache()


def _raw(pk: int, column: str = "secret") -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {TABLE} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def _key() -> str:
    return Fernet.generate_key().decode()


def _rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption", *args, stdout=out)
    return out.getvalue()


# ---------------------------------------------------------------- the field


def test_saved_values_read_back_as_plain_text(vault):
    row = vault.objects.create(secret="XGH 123 456", note="SSN 078-05-1120")
    fresh = vault.objects.get(pk=row.pk)
    assert fresh.secret == "XGH 123 456"
    assert fresh.note == "SSN 078-05-1120"
    assert list(vault.objects.values_list("secret", flat=True)) == ["XGH 123 456"]


def test_the_database_holds_ciphertext_not_the_value(vault):
    row = vault.objects.create(secret="XGH123456789", note="078-05-1120")
    stored = _raw(row.pk)
    assert stored is not None
    assert "XGH123456789" not in stored
    assert decrypt_text(stored) == "XGH123456789"
    assert "078-05-1120" not in (_raw(row.pk, "note") or "")


def test_updates_and_bulk_updates_store_ciphertext_too(vault):
    row = vault.objects.create(secret="first")
    row.secret = "second"
    row.save(update_fields=["secret"])
    assert decrypt_text(_raw(row.pk) or "") == "second"
    row.secret = "third"
    vault.objects.bulk_update([row], ["secret"])
    stored = _raw(row.pk) or ""
    assert "third" not in stored
    assert vault.objects.get(pk=row.pk).secret == "third"


def test_null_and_blank_stay_as_they_are(vault):
    empty = vault.objects.create(secret=None, note="")
    assert _raw(empty.pk) is None
    assert _raw(empty.pk, "note") == ""
    fresh = vault.objects.get(pk=empty.pk)
    assert fresh.secret is None
    assert fresh.note == ""


def test_isnull_and_equals_none_filters_work(vault):
    with_value = vault.objects.create(secret="A1")
    without = vault.objects.create(secret=None)
    assert list(vault.objects.filter(secret__isnull=True)) == [without]
    assert list(vault.objects.filter(secret=None)) == [without]
    assert list(vault.objects.exclude(secret=None)) == [with_value]


@pytest.mark.parametrize(
    "lookup", ["secret", "secret__exact", "secret__iexact", "secret__contains", "secret__in"]
)
def test_comparing_an_encrypted_column_is_refused_with_a_clear_error(vault, lookup):
    vault.objects.create(secret="A1")
    value: object = ["A1"] if lookup.endswith("__in") else "A1"
    with pytest.raises(EncryptedLookupError) as caught:
        vault.objects.filter(**{lookup: value}).count()
    message = str(caught.value)
    assert "Vault.secret is encrypted" in message
    assert "lookup_hash" in message
    assert "A1" not in message


def test_transforms_on_an_encrypted_column_are_refused(vault):
    with pytest.raises(EncryptedLookupError, match="is encrypted"):
        vault.objects.filter(secret__lower="a1").count()


def test_the_field_deconstructs_without_key_material():
    field = EncryptedTextField(blank=True, null=True)
    field.set_attributes_from_name("member_id")
    _name, path, args, kwargs = field.deconstruct()
    assert path == "clinic.fields.EncryptedTextField"
    assert args == []
    assert kwargs == {"blank": True, "null": True}


@isolate_apps("clinic")
def test_an_indexed_or_unique_encrypted_field_fails_the_system_check():
    class Bad(models.Model):  # noqa: DJ008
        member_id = EncryptedTextField(unique=True)
        plain = EncryptedTextField()

        class Meta:
            app_label = "clinic"

    assert [e.id for e in Bad._meta.get_field("member_id").check()] == ["clinic.E101"]
    assert Bad._meta.get_field("plain").check() == []


# ---------------------------------------------------------------- rotation


def test_rotation_lets_the_old_key_be_removed(vault, settings):
    old, new = _key(), _key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    rows = [vault.objects.create(secret=f"M-{i}", note=f"N-{i}") for i in range(5)]
    vault.objects.create(secret=None, note="")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    out = _rotate()

    assert "clinic.Vault.secret: 5 values, 5 re-encrypted" in out
    assert "clinic.Vault.note: 5 values, 5 re-encrypted" in out
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert [vault.objects.get(pk=r.pk).secret for r in rows] == [f"M-{i}" for i in range(5)]
    assert [vault.objects.get(pk=r.pk).note for r in rows] == [f"N-{i}" for i in range(5)]


def test_check_counts_values_under_older_keys_and_changes_nothing(vault, settings):
    old, new = _key(), _key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    stale = [vault.objects.create(secret=f"M-{i}") for i in range(3)]
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    vault.objects.create(secret="written-after-the-new-key")
    before = {r.pk: _raw(r.pk) for r in stale}

    out = StringIO()
    with pytest.raises(CommandError, match="3 values are still under an older key"):
        call_command("rotate_encryption", "--check", stdout=out)

    assert "clinic.Vault.secret: 4 values, 3 not under the newest key" in out.getvalue()
    assert {r.pk: _raw(r.pk) for r in stale} == before

    _rotate()
    out_after = _rotate("--check")
    assert "clinic.Vault.secret: 4 values, 0 not under the newest key" in out_after
    assert "Every encrypted value is under the newest key." in out_after


def test_rotation_is_idempotent(vault, settings):
    old, new = _key(), _key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    row = vault.objects.create(secret="M-1")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    _rotate()
    first = _raw(row.pk)

    out = _rotate()

    assert "clinic.Vault.secret: 1 values, 0 re-encrypted" in out
    assert _raw(row.pk) == first
    assert is_current(first or "")


def test_rotation_walks_every_batch(vault, settings):
    old, new = _key(), _key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    rows = [vault.objects.create(secret=f"M-{i}") for i in range(7)]
    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    out = _rotate("--batch-size", "2")

    assert "clinic.Vault.secret: 7 values, 7 re-encrypted" in out
    assert all(is_current(_raw(r.pk) or "") for r in rows)


def test_values_no_key_opens_are_reported_and_the_rest_still_rotate(vault, settings):
    lost, old, new = _key(), _key(), _key()
    settings.FIELD_ENCRYPTION_KEYS = [lost]
    orphan = vault.objects.create(secret="sealed-with-a-lost-key")
    settings.FIELD_ENCRYPTION_KEYS = [old]
    kept = vault.objects.create(secret="M-1")
    orphan_before = _raw(orphan.pk)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    out = StringIO()
    with pytest.raises(CommandError, match="1 values cannot be opened"):
        call_command("rotate_encryption", stdout=out)

    assert "1 re-encrypted, 1 unreadable" in out.getvalue()
    assert "sealed-with-a-lost-key" not in out.getvalue()
    assert is_current(_raw(kept.pk) or "")
    assert _raw(orphan.pk) == orphan_before


def test_a_batch_size_below_one_is_refused(vault):
    with pytest.raises(CommandError, match="at least 1"):
        _rotate("--batch-size", "0")


def test_ciphertext_written_by_hand_reads_back(vault):
    # What another process (or a restore) writes must read the same as what the ORM writes.
    row = vault.objects.create(secret=None)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET secret = %s WHERE id = %s",  # noqa: S608
            [encrypt_text("by-hand"), row.pk],
        )
    assert vault.objects.get(pk=row.pk).secret == "by-hand"
