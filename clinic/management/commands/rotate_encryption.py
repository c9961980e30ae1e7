"""``manage.py rotate_encryption``: re-seal every encrypted column under the newest key.

Rotating a key: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it) and
deploy; run this command; ``--check`` then reports 0 values left under older keys, and only then
the old keys can leave the list. The command finds every ``EncryptedTextField`` of every
installed model, walks each table in primary-key order, locks one batch at a time
(``SELECT ... FOR UPDATE``) so a concurrent save is never overwritten, and rewrites only values
not already under the newest key: running it twice does nothing the second time.

Values move from ciphertext to ciphertext (``MultiFernet.rotate``); plain text is never printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.db.models.functions import Cast

from clinic.crypto import DecryptionError, is_current, rotate_token
from clinic.fields import EncryptedTextField


@dataclass
class ColumnReport:
    label: str
    values: int = 0
    stale: int = 0
    unreadable: int = 0
    rotated: int = 0


def encrypted_columns() -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every installed model with its own encrypted columns (a parent owns inherited ones)."""
    found = []
    for model in apps.get_models():
        fields = [f for f in model._meta.local_concrete_fields if isinstance(f, EncryptedTextField)]
        if fields and not model._meta.proxy:
            found.append((model, fields))
    return found


def model_rotate(
    model: type[models.Model],
    fields: list[EncryptedTextField],
    *,
    batch_size: int,
    check_only: bool,
) -> list[ColumnReport]:
    reports = [ColumnReport(f"{model._meta.label}.{f.name}") for f in fields]
    manager = model._base_manager
    # Cast to plain text so the ORM hands back the stored ciphertext, not the decrypted value.
    raw_columns = [Cast(f.attname, models.TextField()) for f in fields]
    last_pk: Any = None
    while True:
        with transaction.atomic():
            queryset = manager.order_by("pk")
            if last_pk is not None:
                queryset = queryset.filter(pk__gt=last_pk)
            if not check_only:
                queryset = queryset.select_for_update()
            rows = list(queryset.values_list("pk", *raw_columns)[:batch_size])
            updates: list[dict[Any, str]] = [{} for _ in fields]
            for pk, *tokens in rows:
                for index, token in enumerate(tokens):
                    if not token:
                        continue
                    report = reports[index]
                    report.values += 1
                    if is_current(token):
                        continue
                    try:
                        fresh = rotate_token(token)
                    except DecryptionError:
                        report.unreadable += 1
                        continue
                    report.stale += 1
                    updates[index][pk] = fresh
            if not check_only:
                for field, report, changed in zip(fields, reports, updates, strict=True):
                    if changed:
                        _write_tokens(manager, field, changed)
                        report.rotated += len(changed)
        if len(rows) < batch_size:
            return reports
        last_pk = rows[-1][0]


def _write_tokens(manager: Any, field: EncryptedTextField, tokens: dict[Any, str]) -> None:
    """One UPDATE per batch and column. The new ciphertext goes in as plain text: saving it
    through the field would encrypt it a second time."""
    whens = [
        models.When(pk=pk, then=models.Value(token, output_field=models.TextField()))
        for pk, token in tokens.items()
    ]
    manager.filter(pk__in=list(tokens)).update(
        **{field.attname: models.Case(*whens, output_field=models.TextField())}
    )


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column with the newest FIELD_ENCRYPTION_KEYS key. "
        "With --check, only count the values still under older keys (exit status 1 while any "
        "are left, so a deploy script can wait before removing an old key)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="count values not under the newest key; change nothing",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="rows locked and rewritten per transaction (default 500)",
        )

    def handle(self, *args: Any, check: bool, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        reports: list[ColumnReport] = []
        for model, fields in encrypted_columns():
            reports.extend(model_rotate(model, fields, batch_size=batch_size, check_only=check))
        if not reports:
            self.stdout.write("No encrypted columns are installed.")
            return
        for r in reports:
            if check:
                line = f"{r.label}: {r.values} values, {r.stale} not under the newest key"
            else:
                line = f"{r.label}: {r.values} values, {r.rotated} re-encrypted"
            if r.unreadable:
                line += f", {r.unreadable} unreadable with the configured keys"
            self.stdout.write(line)
        stale = sum(r.stale for r in reports)
        unreadable = sum(r.unreadable for r in reports)
        if unreadable:
            raise CommandError(
                f"{unreadable} values cannot be opened with any key in FIELD_ENCRYPTION_KEYS: "
                "put back the key that sealed them before removing it."
            )
        if check and stale:
            raise CommandError(
                f"{stale} values are still under an older key: run manage.py rotate_encryption."
            )
        self.stdout.write(self.style.SUCCESS("Every encrypted value is under the newest key."))
